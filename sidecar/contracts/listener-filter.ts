/**
 * Listener filters (Envoy's listener_filters): they look at the first bytes
 * of an accepted connection, before a filter chain is chosen, and fill in
 * the facts filter_chain_match uses (SNI, transport protocol, ALPN or the
 * HTTP version). They never consume bytes: the listener gives everything it
 * peeked back to the socket.
 */
import type { Extension } from './extension.ts';

/** What the inspectors found; starts as raw_buffer with nothing known. */
export interface InspectedFacts {
  serverName?: string;
  transportProtocol: string;
  applicationProtocols: string[];
}

/** What an inspector says about the bytes peeked so far. */
export type InspectVerdict = 'done' | 'need-more' | { readonly reject: string };

/** One inspector per connection. */
export interface ListenerInspector {
  /** True when this inspector needs connection bytes at all (original_dst does not). */
  readonly needsData: boolean;
  /** Looks at every byte peeked so far (the whole buffer each time). */
  inspect(peeked: Buffer, facts: InspectedFacts): InspectVerdict;
}

/** A listener filter extension (tls_inspector, http_inspector, original_dst). */
export interface ListenerFilterExtension<C = unknown> extends Extension<C> {
  readonly category: 'envoy.filters.listener';
  createInspector(config: C): ListenerInspector;
}
