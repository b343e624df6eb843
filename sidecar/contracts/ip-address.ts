/**
 * IP addresses as comparable bit patterns, for CIDR matching (filter chain
 * match, RBAC source_ip). Pure functions, no imports of ours.
 */
import { isIP } from 'node:net';

/** An IP address as a bigint (IPv4-mapped IPv6 becomes IPv4). */
export function ipBits(addr: string): bigint {
  const a = addr.startsWith('::ffff:') && addr.includes('.') ? addr.slice(7) : addr;
  if (isIP(a) === 4) return a.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n);
  let [head, tail] = a.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  let t = tail !== undefined ? (tail ? tail.split(':') : []) : [];
  if (t.length && t[t.length - 1]!.includes('.')) {
    const v4 = ipBits(t.pop()!);
    t = [...t, ((v4 >> 16n) & 0xffffn).toString(16), (v4 & 0xffffn).toString(16)];
  }
  const groups = tail !== undefined ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g || '0', 16)), 0n);
}
