/** XXH64 against the reference vectors (and values cross-checked with the xxHash C library). */

import { xxHash64, xxHash64String } from '../../../sidecar/upstream/xxhash64.ts';

describe('xxHash64', () => {
  it.each([
    ['', 0n, 0xef46db3751d8e999n],
    ['a', 0n, 0xd24ec4f1a98c6e5bn],
    ['abc', 0n, 0x44bc2cf5ad770999n],
    ['xxhash', 20141025n, 0xb559b98d844e0635n],
    // >= 32 bytes: the four-lane stripe loop.
    ['Nobody inspects the spammish repetition', 0n, 0xfbcea83c8a378bf1n],
    ['0123456789abcdef0123456789abcdef', 1n, 0x048b8b580878a4a4n],
    ['12345678901234567890123456789012345678', 0n, 0x1484ab14538e38d1n],
    // Non-ASCII goes through UTF-8.
    ['héllo wörld ✓ 日本', 0n, 0x1d89d2cec973d0d6n],
  ])('XXH64(%j, %d)', (text, seed, expected) => {
    expect(xxHash64String(text, seed)).toBe(expected);
    expect(xxHash64(new TextEncoder().encode(text), seed)).toBe(expected);
  });

  it('hashes a subarray by its own bytes, not its backing buffer', () => {
    const buf = new TextEncoder().encode('__abc__');
    expect(xxHash64(buf.subarray(2, 5))).toBe(0x44bc2cf5ad770999n);
  });

  it('reduces the seed to 64 bits', () => {
    expect(xxHash64String('abc', -1n)).toBe(xxHash64String('abc', 0xffff_ffff_ffff_ffffn));
  });

  it('handles strings longer than the scratch buffer', () => {
    const long = 'x'.repeat(5000) + 'é';
    expect(xxHash64String(long)).toBe(xxHash64(new TextEncoder().encode(long)));
  });
});
