/**
 * x-forwarded-client-cert, as Envoy's HTTP connection manager writes it
 * (ConnectionManagerUtility::mutateXfccRequestHeader):
 * forward_client_cert_details SANITIZE (default) | FORWARD_ONLY |
 * APPEND_FORWARD | SANITIZE_SET | ALWAYS_FORWARD_ONLY and
 * set_current_client_cert_details {subject, cert, chain, dns, uri}.
 *
 * One element is `By=<local URI SAN>;Hash=<hex sha256 of the peer DER>`
 * then, in this fixed order, `Cert="<url-encoded PEM>"`,
 * `Chain="<url-encoded PEMs>"`, `Subject="<RFC 2253>"`, `URI=<uri SAN>`
 * (one per SAN; `URI=` when none), `DNS=<dns SAN>` (one per SAN). Key/value
 * pairs are joined by `;`, elements by `,`. Subject, Cert and Chain are
 * always double-quoted; By, URI and DNS never are (Envoy's behaviour; its
 * docs ask for quoting of values with `,;=`, which the code does not do).
 * Double quotes inside a Subject are already backslash-escaped by RFC 2253.
 * PEM is percent-encoded as Envoy's PercentEncoding::urlEncode: everything
 * but ALPHA, DIGIT, `*`, `-`, `.`, `_` becomes %XX (upper-case hex).
 */
import { ConfigError, type ParseResult } from '../../sidecar/contracts/errors.ts';
import type { CertificateInfo } from '../../sidecar/contracts/tls.ts';
import { msg, str, type Json } from '../../xds/translate/proto-values.ts';

/** The header name. */
export const XFCC = 'x-forwarded-client-cert';

/** HttpConnectionManager.forward_client_cert_details. */
export type ForwardClientCertDetails = 'SANITIZE' | 'FORWARD_ONLY' | 'APPEND_FORWARD' | 'SANITIZE_SET' | 'ALWAYS_FORWARD_ONLY';

/** HttpConnectionManager.set_current_client_cert_details. */
export interface SetCurrentClientCertDetails {
  readonly subject: boolean;
  readonly cert: boolean;
  readonly chain: boolean;
  readonly dns: boolean;
  readonly uri: boolean;
}

/** The XFCC behaviour of one connection manager. */
export interface XfccConfig {
  readonly forward: ForwardClientCertDetails;
  readonly details: SetCurrentClientCertDetails;
}

/** The connection's TLS facts XFCC needs. */
export interface XfccConnection {
  /** The peer presented a certificate on a TLS connection. */
  readonly peer?: CertificateInfo;
  /** Our certificate's URI SANs (`By=`). */
  readonly localUriSans: readonly string[];
  /** The peer's chain in PEM, leaf first (`Chain=`). */
  readonly peerChainPem?: readonly string[];
}

/** What to do with the request's x-forwarded-client-cert. */
export type XfccAction = { readonly action: 'keep' } | { readonly action: 'remove' } | { readonly action: 'set'; readonly value: string };

const MODES: ReadonlySet<string> = new Set(['SANITIZE', 'FORWARD_ONLY', 'APPEND_FORWARD', 'SANITIZE_SET', 'ALWAYS_FORWARD_ONLY']);

/** Reads forward_client_cert_details and set_current_client_cert_details from an HttpConnectionManager. */
export function parseXfccConfig(hcm: Json, path: string): ParseResult<XfccConfig> {
  const errors: ConfigError[] = [];
  const forward = str(hcm['forward_client_cert_details']) || 'SANITIZE';
  if (!MODES.has(forward)) errors.push(new ConfigError(`${path}.forward_client_cert_details`, `unknown value '${forward}'`));
  const d = msg(hcm['set_current_client_cert_details']) ?? {};
  for (const k of Object.keys(d)) {
    if (!['subject', 'cert', 'chain', 'dns', 'uri'].includes(k)) errors.push(new ConfigError(`${path}.set_current_client_cert_details.${k}`, 'unsupported field'));
  }
  if (errors.length) return { ok: false, errors };
  return {
    ok: true,
    config: Object.freeze({
      forward: forward as ForwardClientCertDetails,
      details: Object.freeze({ subject: d['subject'] === true, cert: d['cert'] === true, chain: d['chain'] === true, dns: d['dns'] === true, uri: d['uri'] === true }),
    }),
  };
}

const UNRESERVED = /[A-Za-z0-9*\-._]/;

/** Envoy's PercentEncoding::urlEncode (ALPHA, DIGIT and `*-._` stay). */
export function xfccUrlEncode(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const ch = String.fromCharCode(b);
    out += b < 0x80 && UNRESERVED.test(ch) ? ch : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** The element describing the current connection's client certificate. */
export function xfccElement(conn: XfccConnection, details: SetCurrentClientCertDetails): string {
  const parts: string[] = [];
  const peer = conn.peer;
  for (const uri of conn.localUriSans) parts.push(`By=${uri}`);
  if (peer?.sha256) parts.push(`Hash=${peer.sha256}`);
  if (details.cert && peer?.pem) parts.push(`Cert="${xfccUrlEncode(peer.pem)}"`);
  if (details.chain && conn.peerChainPem?.length) parts.push(`Chain="${conn.peerChainPem.map(xfccUrlEncode).join('')}"`);
  if (details.subject) parts.push(`Subject="${peer?.subject ?? ''}"`);
  if (details.uri) {
    if (peer?.uriSans.length) for (const u of peer.uriSans) parts.push(`URI=${u}`);
    else parts.push('URI=');
  }
  if (details.dns) for (const d of peer?.dnsSans ?? []) parts.push(`DNS=${d}`);
  return parts.join(';');
}

/**
 * Envoy's decision for one request: `current` is the incoming header value
 * (undefined when absent), `conn` the downstream connection (peer undefined
 * when it is not mutual TLS).
 */
export function mutateXfcc(current: string | undefined, conn: XfccConnection | undefined, config: XfccConfig): XfccAction {
  if (config.forward === 'ALWAYS_FORWARD_ONLY') return { action: 'keep' };
  if (config.forward === 'SANITIZE' || !conn?.peer) return current === undefined ? { action: 'keep' } : { action: 'remove' };
  if (config.forward === 'FORWARD_ONLY') return { action: 'keep' };
  const element = xfccElement(conn, config.details);
  if (config.forward === 'APPEND_FORWARD' && current !== undefined && current !== '') return { action: 'set', value: `${current},${element}` };
  return { action: 'set', value: element };
}

/**
 * Parses an XFCC value into elements of key/value pairs (keys as written;
 * quoted values unquoted, `\"` unescaped; Cert/Chain stay url-encoded).
 */
export function parseXfcc(value: string): Array<Array<[string, string]>> {
  const elements: Array<Array<[string, string]>> = [];
  let pairs: Array<[string, string]> = [];
  let i = 0;
  while (i < value.length) {
    const eq = value.indexOf('=', i);
    if (eq < 0) break;
    const key = value.slice(i, eq).trim();
    let j = eq + 1;
    let v = '';
    if (value[j] === '"') {
      j++;
      while (j < value.length && value[j] !== '"') {
        if (value[j] === '\\' && j + 1 < value.length) {
          v += value[j + 1] === '"' ? '"' : `\\${value[j + 1]}`;
          j += 2;
        } else v += value[j++];
      }
      j++;
    } else {
      while (j < value.length && value[j] !== ';' && value[j] !== ',') v += value[j++];
    }
    pairs.push([key, v]);
    if (value[j] === ',') {
      elements.push(pairs);
      pairs = [];
    }
    i = j + 1;
  }
  if (pairs.length) elements.push(pairs);
  return elements;
}
