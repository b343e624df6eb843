/**
 * The header-section character rules both HTTP/1 parsers share
 * (protocols/http/http1-syntax.ts): CR and LF only as CRLF pairs, no other
 * control character than HTAB.
 */
import { cleanSection, crlfOnly } from '../../../protocols/http/http1-syntax.ts';

describe('crlfOnly', () => {
  it.each(['', 'a', 'a\r\nb', '\r\n', 'a\r\nb\r\nc', '\r\n\r\n', 'a\tb'])('accepts %j', (t) => {
    expect(crlfOnly(t)).toBe(true);
  });
  it.each(['\r', '\n', 'a\rb', 'a\nb', '\n\r', 'a\r\n\rb', 'a\r\r\n', 'a\r\n\n', 'a\r\nb\n', 'a\r\nb\r', '\r\r\n\n'])('refuses %j', (t) => {
    expect(crlfOnly(t)).toBe(false);
  });
  it('agrees with the look-around pattern it replaced on random strings', () => {
    const old = /\r(?!\n)|(?<!\r)\n/;
    let seed = 7;
    const rnd = (n: number): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
    const alphabet = 'ab\r\n';
    for (let i = 0; i < 20000; i++) {
      const t = Array.from({ length: rnd(12) }, () => alphabet[rnd(4)]).join('');
      expect(crlfOnly(t)).toBe(!old.test(t));
    }
  });
});

describe('cleanSection', () => {
  it('refuses control characters other than HTAB, and DEL', () => {
    for (let c = 0; c < 0x20; c++) {
      if (c === 9 || c === 10 || c === 13) continue;
      expect(cleanSection(`x: a${String.fromCharCode(c)}b`)).toBe(false);
    }
    expect(cleanSection('x: a\x7fb')).toBe(false);
    expect(cleanSection('GET / HTTP/1.1\r\nx: a\tb\r\ny: \xff')).toBe(true);
  });
});
