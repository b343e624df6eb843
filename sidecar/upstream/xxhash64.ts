/**
 * XXH64, the 64-bit xxHash (https://github.com/Cyan4973/xxHash, spec in doc/xxhash_spec.md),
 * written with BigInt so it needs no dependency and no WebAssembly.
 *
 * Envoy hashes with xxHash64 (seed 0) everywhere a hash must be stable: RING_HASH ring points,
 * MAGLEV permutations (seeds 0 and 1), and route hash_policy values (headers, cookies, source IP).
 * `xxHash64String` is the entry point for hash_policy: it UTF-8 encodes into a reused scratch
 * buffer (ASCII without TextEncoder) so that hashing a header value allocates only BigInts.
 */

const MASK64 = 0xffff_ffff_ffff_ffffn;
const PRIME64_1 = 0x9e37_79b1_85eb_ca87n;
const PRIME64_2 = 0xc2b2_ae3d_27d4_eb4fn;
const PRIME64_3 = 0x1656_67b1_9e37_79f9n;
const PRIME64_4 = 0x85eb_ca77_c2b2_ae63n;
const PRIME64_5 = 0x27d4_eb2f_1656_67c5n;

/** Rotate a 64-bit value (already reduced to 64 bits) left by r bits. */
function rotl64(x: bigint, r: bigint): bigint {
  return ((x << r) | (x >> (64n - r))) & MASK64;
}

/** XXH64_round: mix one 8-byte lane into an accumulator. */
function round(acc: bigint, lane: bigint): bigint {
  const sum = (acc + lane * PRIME64_2) & MASK64;
  return (rotl64(sum, 31n) * PRIME64_1) & MASK64;
}

/** XXH64_mergeRound: fold one stripe accumulator into the hash. */
function mergeRound(h: bigint, acc: bigint): bigint {
  return ((h ^ round(0n, acc)) * PRIME64_1 + PRIME64_4) & MASK64;
}

/**
 * XXH64 of `data` with `seed` (reduced to 64 bits). Returns the unsigned 64-bit hash, the same
 * value as the reference `XXH64(data, len, seed)` and Envoy's `HashUtil::xxHash64(data, seed)`.
 */
export function xxHash64(data: Uint8Array, seed: bigint = 0n): bigint {
  const len = data.length;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const s = BigInt.asUintN(64, seed);
  let p = 0;
  let h: bigint;

  if (len >= 32) {
    let v1 = (s + PRIME64_1 + PRIME64_2) & MASK64;
    let v2 = (s + PRIME64_2) & MASK64;
    let v3 = s;
    let v4 = (s - PRIME64_1) & MASK64;
    const limit = len - 32;
    do {
      v1 = round(v1, view.getBigUint64(p, true));
      v2 = round(v2, view.getBigUint64(p + 8, true));
      v3 = round(v3, view.getBigUint64(p + 16, true));
      v4 = round(v4, view.getBigUint64(p + 24, true));
      p += 32;
    } while (p <= limit);
    h = (rotl64(v1, 1n) + rotl64(v2, 7n) + rotl64(v3, 12n) + rotl64(v4, 18n)) & MASK64;
    h = mergeRound(h, v1);
    h = mergeRound(h, v2);
    h = mergeRound(h, v3);
    h = mergeRound(h, v4);
  } else {
    h = (s + PRIME64_5) & MASK64;
  }

  h = (h + BigInt(len)) & MASK64;

  while (p + 8 <= len) {
    h ^= round(0n, view.getBigUint64(p, true));
    h = (rotl64(h, 27n) * PRIME64_1 + PRIME64_4) & MASK64;
    p += 8;
  }
  if (p + 4 <= len) {
    h ^= (BigInt(view.getUint32(p, true)) * PRIME64_1) & MASK64;
    h = (rotl64(h, 23n) * PRIME64_2 + PRIME64_3) & MASK64;
    p += 4;
  }
  while (p < len) {
    h ^= (BigInt(data[p]!) * PRIME64_5) & MASK64;
    h = (rotl64(h, 11n) * PRIME64_1) & MASK64;
    p += 1;
  }

  // Avalanche.
  h ^= h >> 33n;
  h = (h * PRIME64_2) & MASK64;
  h ^= h >> 29n;
  h = (h * PRIME64_3) & MASK64;
  h ^= h >> 32n;
  return h;
}

const utf8 = new TextEncoder();
/** Reused encode buffer; hashing is synchronous, so one buffer per process is enough. */
let scratch = new Uint8Array(256);

/**
 * XXH64 of the UTF-8 bytes of `text` (what Envoy hashes for a header value, cookie, ring key or
 * host key). Allocation-light: ASCII is copied into a reused buffer without a TextEncoder pass.
 */
export function xxHash64String(text: string, seed: bigint = 0n): bigint {
  const n = text.length;
  // UTF-8 needs at most 3 bytes per UTF-16 code unit.
  if (scratch.length < n * 3) scratch = new Uint8Array(Math.max(n * 3, scratch.length * 2));
  let i = 0;
  for (; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80) break;
    scratch[i] = c;
  }
  const len = i === n ? n : i + utf8.encodeInto(text.slice(i), scratch.subarray(i)).written;
  return xxHash64(scratch.subarray(0, len), seed);
}
