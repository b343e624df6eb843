/**
 * The body framing both HTTP/1 parsers share (protocols/http/http1-body.ts),
 * on its own: Content-Length and chunked bodies at every split point,
 * backpressure, the size limit, malformed framing.
 */
import { BODY_DONE, BODY_FAILED, BODY_TRAILERS, Http1BodyDecoder } from '../../../protocols/http/http1-body.ts';

/** Feeds `pieces` to a fresh decoder; returns the body, the state and where the last piece stopped. */
function decode(start: (d: Http1BodyDecoder) => void, pieces: Buffer[], opts: { max?: number; stopAfter?: number } = {}): { body: string; state: number; off: number; error: string; status: number } {
  const d = new Http1BodyDecoder(opts.max ?? 0, 'too large');
  start(d);
  let body = '';
  let slices = 0;
  let off = 0;
  for (const p of pieces) {
    off = 0;
    for (;;) {
      off = d.decode(p, off, { bodyData: (c) => { body += c.toString('latin1'); return ++slices !== opts.stopAfter; } });
      if (off >= p.length || !d.active) break;
    }
    if (!d.active) break;
  }
  return { body, state: d.state, off, error: d.error, status: d.errorStatus };
}

function splits(text: string): Buffer[][] {
  const buf = Buffer.from(text, 'latin1');
  const out: Buffer[][] = [[buf]];
  for (let i = 1; i < buf.length; i++) out.push([buf.subarray(0, i), buf.subarray(i)]);
  out.push(Array.from(buf, (b) => Buffer.from([b])));
  return out;
}

test('a Content-Length body ends after its bytes; what follows is left to the parser', () => {
  const r = decode((d) => d.startLength(5), [Buffer.from('helloNEXT')]);
  expect(r).toMatchObject({ body: 'hello', state: BODY_DONE, off: 5 });
});

test('a chunked body decodes identically at every split point and stops before the trailer section', () => {
  const text = '5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-T: t\r\n\r\n';
  for (const pieces of splits(text)) {
    const r = decode((d) => d.startChunked(), pieces);
    expect({ body: r.body, state: r.state }).toEqual({ body: 'hello 0123456789', state: BODY_TRAILERS });
  }
  const whole = decode((d) => d.startChunked(), [Buffer.from(text, 'latin1')]);
  expect(text.slice(whole.off)).toBe('X-T: t\r\n\r\n');
});

test('a sink that refuses a slice stops decoding right after it', () => {
  const d = new Http1BodyDecoder();
  d.startChunked();
  const buf = Buffer.from('3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n');
  const off = d.decode(buf, 0, { bodyData: () => false });
  expect(buf.subarray(off).toString()).toBe('\r\n3\r\ndef\r\n0\r\n\r\n');
  expect(d.active).toBe(true);
});

test.each([
  ['3\r\nabcX\r\n', 'missing CRLF after chunk data'],
  ['zz\r\n', 'invalid chunk size'],
  ['3\nabc', 'invalid chunk-size line'],
  [`${'1;'.padEnd(5000, 'x')}\r\n`, 'chunk-size line too long'],
].map(([t, e]) => [e, t] as const))('refuses malformed chunked framing (400): %s', (error, text) => {
  for (const pieces of [[Buffer.from(text)], ...splits(text).slice(1, 4)]) {
    expect(decode((d) => d.startChunked(), pieces)).toMatchObject({ state: BODY_FAILED, error, status: 400 });
  }
});

test('the limit counts announced chunk sizes (413 before the bytes arrive)', () => {
  const r = decode((d) => d.startChunked(), [Buffer.from('4\r\nabcd\r\n3\r\n')], { max: 6 });
  expect(r).toMatchObject({ body: 'abcd', state: BODY_FAILED, status: 413, error: 'too large' });
  expect(decode((d) => d.startChunked(), [Buffer.from('3\r\nabc\r\n3\r\ndef\r\n0\r\n')], { max: 6 }).state).toBe(BODY_TRAILERS);
});
