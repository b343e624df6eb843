/**
 * envoy.filters.listener.http_inspector: on plaintext connections, tells
 * HTTP/1.0, HTTP/1.1 and HTTP/2 (prior knowledge) apart from the first
 * bytes and records `http/1.0`, `http/1.1` or `h2c` as the application
 * protocol for filter_chain_match, as Envoy does. Connections that already
 * negotiated TLS, or whose first line is not HTTP, are left alone.
 */
import type { ExtensionRegistry } from '../../sidecar/contracts/extension.ts';
import type { InspectedFacts, InspectVerdict, ListenerFilterExtension, ListenerInspector } from '../../sidecar/contracts/listener-filter.ts';
import { isTokenByte } from './http1-syntax.ts';

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
/** Envoy's http_inspector reads at most this much looking for the request line. */
const MAX_INSPECT = 64 * 1024;
const METHOD = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** The longest method llhttp knows (UNSUBSCRIBE, MKCALENDAR, ...): a longer token is not HTTP. */
const MAX_METHOD = 16;
const VERSION = Buffer.from('HTTP/1.');

/**
 * Whether `buf` (the first bytes of a connection) can still be the start of
 * an HTTP/1 request line `method SP target SP HTTP/1.x CRLF`.
 */
function requestLinePrefix(buf: Buffer): boolean {
  const n = buf.length;
  let i = 0;
  while (i < n && i <= MAX_METHOD && isTokenByte(buf[i]!)) i++;
  if (i === n) return i <= MAX_METHOD;
  if (i === 0 || i > MAX_METHOD || buf[i] !== 0x20) return false;
  const targetStart = ++i;
  while (i < n && buf[i]! > 0x20 && buf[i] !== 0x7f) i++;
  if (i === n) return true;
  if (i === targetStart || buf[i] !== 0x20) return false;
  i++;
  for (let k = 0; k < VERSION.length; k++, i++) {
    if (i === n) return true;
    if (buf[i] !== VERSION[k]) return false;
  }
  if (i === n) return true;
  if (buf[i]! < 0x30 || buf[i]! > 0x39) return false;
  i++;
  return i === n || buf[i] === 0x0d;
}

/** The inspector: stateless, one shared instance. */
export const HTTP_INSPECTOR: ListenerInspector = Object.freeze({
  needsData: true,
  inspect(peeked: Buffer, facts: InspectedFacts): InspectVerdict {
    if (facts.transportProtocol === 'tls') return 'done';
    const n = Math.min(peeked.length, H2_PREFACE.length);
    if (peeked.subarray(0, n).equals(H2_PREFACE.subarray(0, n))) {
      if (peeked.length < H2_PREFACE.length) return 'need-more';
      facts.applicationProtocols = ['h2c'];
      return 'done';
    }
    // Bytes that cannot begin a request line settle it at once (Envoy's inspector stops at
    // llhttp's first error): a binary client-first protocol (PostgreSQL's startup message)
    // must not wait out listener_filters_timeout for a CRLF that never comes.
    if (!requestLinePrefix(peeked)) return 'done';
    const eol = peeked.indexOf('\r\n');
    if (eol < 0) return peeked.length >= MAX_INSPECT ? 'done' : 'need-more';
    const parts = peeked.subarray(0, eol).toString('latin1').split(' ');
    if (parts.length === 3 && METHOD.test(parts[0]!)) {
      if (parts[2] === 'HTTP/1.1') facts.applicationProtocols = ['http/1.1'];
      else if (parts[2] === 'HTTP/1.0') facts.applicationProtocols = ['http/1.0'];
    }
    return 'done';
  },
});

/** Registers http_inspector. */
export function setup(registry: ExtensionRegistry): void {
  const ext: ListenerFilterExtension<null> = {
    category: 'envoy.filters.listener',
    names: ['envoy.filters.listener.http_inspector', 'envoy.listener.http_inspector'],
    typeNames: ['envoy.extensions.filters.listener.http_inspector.v3.HttpInspector'],
    parse: () => ({ ok: true, config: null }),
    createInspector: () => HTTP_INSPECTOR,
  };
  registry.register(ext);
}
