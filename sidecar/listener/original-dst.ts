/**
 * envoy.filters.listener.original_dst. Envoy reads the connection's
 * original destination (SO_ORIGINAL_DST after an iptables REDIRECT) and
 * matches filter chains on it. Node.js cannot read SO_ORIGINAL_DST, so the
 * destination is the socket's local address: exact for connections that
 * were not redirected (and under TPROXY), wrong behind iptables REDIRECT.
 * Parsing it therefore warns, so nobody deploys it behind REDIRECT
 * believing it works.
 */
import { ConfigError } from '../contracts/errors.ts';
import type { ExtensionRegistry } from '../contracts/extension.ts';
import type { ListenerFilterExtension, ListenerInspector } from '../contracts/listener-filter.ts';

const ORIGINAL_DST: ListenerInspector = Object.freeze({ needsData: false, inspect: () => 'done' as const });

/** Registers original_dst. */
export function setup(registry: ExtensionRegistry): void {
  const ext: ListenerFilterExtension<null> = {
    category: 'envoy.filters.listener',
    names: ['envoy.filters.listener.original_dst', 'envoy.listener.original_dst'],
    typeNames: ['envoy.extensions.filters.listener.original_dst.v3.OriginalDst'],
    parse: (_config, ctx) => {
      ctx.warn(new ConfigError(ctx.path, 'original_dst uses the socket\'s local address: SO_ORIGINAL_DST (iptables REDIRECT) cannot be read from Node.js'));
      return { ok: true, config: null };
    },
    createInspector: () => ORIGINAL_DST,
  };
  registry.register(ext);
}
