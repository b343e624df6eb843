/**
 * Http1RequestParser on its own: the header map it builds, every split point
 * of valid (and pipelined) requests, the RFC 9112 §6 smuggling shapes, the
 * header/trailer/body limits, backpressure stops, and a seeded fuzz of random
 * and mutated requests (never throws; splitting never changes the outcome).
 */
import type { HeaderMap } from '../../../sidecar/contracts/http-filter.ts';
import { Http1RequestParser, type Http1RequestParserOptions } from '../../../protocols/http/connection-manager/http1-request-parser.ts';

interface Parsed {
  headers: HeaderMap;
  body: string;
  trailers?: HeaderMap;
  keepAlive: boolean;
  expectContinue: boolean;
  http10: boolean;
}
interface Outcome {
  requests: Parsed[];
  error?: { status: number; reason: string };
  /** Bytes of an unfinished request left when the input ran out. */
  incomplete: boolean;
}

const OPTS: Http1RequestParserOptions = { scheme: 'http', maxHeaderBytes: 8 * 1024, maxHeadersCount: 100 };

/** Feeds `chunks` like the server does (one request at a time, pipelined leftovers re-fed). */
function run(chunks: Buffer[], opts: Http1RequestParserOptions = OPTS, stopEvery = 0): Outcome {
  const out: Outcome = { requests: [], incomplete: false };
  let cur: Parsed | null = null;
  let body: Buffer[] = [];
  let n = 0;
  const p: Http1RequestParser = new Http1RequestParser({
    onRequestHead(headers) {
      cur = { headers, body: '', keepAlive: p.keepAlive, expectContinue: p.expectContinue, http10: p.http10 };
      body = [];
      return true;
    },
    onRequestData(chunk) {
      expect(chunk.length).toBeGreaterThan(0);
      body.push(Buffer.from(chunk));
      return stopEvery === 0 || ++n % stopEvery !== 0;
    },
    onRequestEnd(trailers) {
      cur!.body = Buffer.concat(body).toString('latin1');
      if (trailers) cur!.trailers = trailers;
      out.requests.push(cur!);
      cur = null;
    },
  }, opts);
  let pending: Buffer | null = null;
  for (const c of chunks) {
    let buf: Buffer = pending ? Buffer.concat([pending, c]) : c;
    pending = null;
    let off = 0;
    for (;;) {
      if (p.complete) p.reset();
      const next = p.execute(buf, off);
      if (p.failed) {
        out.error = { status: Number(p.error!.wireCode), reason: p.error!.message };
        return out;
      }
      if (next >= buf.length) break;
      if (!p.complete && next === off && stopEvery === 0) throw new Error('parser made no progress');
      off = next;
      if (p.complete) continue;
      // Stopped by the sink: continue with the rest.
    }
    buf = Buffer.alloc(0);
  }
  out.incomplete = p.inHead || p.inBody || cur !== null;
  return out;
}

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const one = (s: string, opts?: Http1RequestParserOptions): Outcome => run([b(s)], opts);

/** Splits `s` at every position (and byte by byte) and checks the outcome never changes. */
function expectSplitInvariant(s: string): Outcome {
  const whole = one(s);
  for (let i = 1; i < s.length; i++) {
    expect(run([b(s.slice(0, i)), b(s.slice(i))])).toEqual(whole);
  }
  expect(run([...s].map((c) => b(c)))).toEqual(whole);
  return whole;
}

describe('request head', () => {
  test('builds the Downstream header map: pseudo-headers, host as :authority, hop-by-hop dropped', () => {
    const r = one('GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nConnection: keep-alive, Upgrade\r\nUpgrade: h2c\r\nKeep-Alive: timeout=5\r\n'
      + 'Proxy-Connection: x\r\nTE: trailers\r\nX-A: 1\r\nx-a: 2\r\nCookie: a=1\r\ncookie: b=2\r\nExpect: 100-continue\r\nX-Sp:  \t padded \t \r\n\r\n');
    expect(r.error).toBeUndefined();
    expect(r.requests).toHaveLength(1);
    expect(r.requests[0]!.headers).toEqual({
      ':method': 'GET', ':path': '/a?b=1', ':authority': 'example.com', ':scheme': 'http',
      te: 'trailers', 'x-a': ['1', '2'], cookie: 'a=1; b=2', 'x-sp': 'padded',
    });
    expect(r.requests[0]!.expectContinue).toBe(true);
    expect(r.requests[0]!.keepAlive).toBe(true);
  });

  test('te other than trailers is dropped; other expectations pass through', () => {
    const r = one('GET / HTTP/1.1\r\nTE: gzip\r\nExpect: something\r\n\r\n');
    expect(r.requests[0]!.headers).toEqual({ ':method': 'GET', ':path': '/', ':authority': '', ':scheme': 'http', expect: 'something' });
  });

  test('keep-alive: HTTP/1.1 unless close, HTTP/1.0 only with keep-alive', () => {
    expect(one('GET / HTTP/1.1\r\nConnection: close\r\n\r\n').requests[0]!.keepAlive).toBe(false);
    expect(one('GET / HTTP/1.1\r\nConnection: foo, Close\r\n\r\n').requests[0]!.keepAlive).toBe(false);
    expect(one('GET / HTTP/1.0\r\n\r\n').requests[0]!.keepAlive).toBe(false);
    const ka = one('GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n').requests[0]!;
    expect(ka.keepAlive).toBe(true);
    expect(ka.http10).toBe(true);
  });

  test('HTTP/1.0 ignores Expect: 100-continue', () => {
    expect(one('POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx').requests[0]!.expectContinue).toBe(false);
  });

  test('empty lines before a request line are skipped (RFC 9112 §2.2)', () => {
    const r = expectSplitInvariant('\r\n\r\nGET / HTTP/1.1\r\n\r\n\r\nGET /2 HTTP/1.1\r\n\r\n');
    expect(r.requests.map((q) => q.headers[':path'])).toEqual(['/', '/2']);
  });

  test('odd but valid names and values', () => {
    const r = one("GET * HTTP/1.1\r\n!#$%&'*+-.^_`|~09az: \x80\xff obs-text\r\nEmpty:\r\n\r\n");
    expect(r.requests[0]!.headers["!#$%&'*+-.^_`|~09az"]).toBe('\x80\xff obs-text');
    expect(r.requests[0]!.headers['empty']).toBe('');
    // Inherited names are not mistaken for existing fields.
    const p = one('GET / HTTP/1.1\r\nConstructor: a\r\nconstructor: b\r\nToString: c\r\n\r\n');
    expect(p.requests[0]!.headers['constructor']).toEqual(['a', 'b']);
    expect(p.requests[0]!.headers['tostring']).toBe('c');
  });
});

describe('bodies and split points', () => {
  const VALID = [
    'GET / HTTP/1.1\r\nHost: a\r\n\r\n',
    'POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world',
    'POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1;q="a b"\r\n world\r\nA \t; x\r\n0123456789\r\n0\r\n\r\n',
    'POST /t HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 1\r\nX-Sum: 2\r\nContent-Length: 9\r\n\r\n',
    'POST /e HTTP/1.1\r\nContent-Length: 0\r\n\r\n',
    'POST /z HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
  ];

  test.each(VALID)('every split point of %j gives the same request', (s) => {
    const r = expectSplitInvariant(s);
    expect(r.error).toBeUndefined();
    expect(r.requests).toHaveLength(1);
    expect(r.incomplete).toBe(false);
  });

  test('bodies, chunk extensions and trailers', () => {
    expect(one(VALID[1]!).requests[0]!.body).toBe('hello world');
    expect(one(VALID[2]!).requests[0]!.body).toBe('hello world0123456789');
    const t = one(VALID[3]!).requests[0]!;
    expect(t.body).toBe('abc');
    expect(t.trailers).toEqual({ 'x-sum': ['1', '2'] }); // framing fields are not taken from trailers
    expect(t.headers['transfer-encoding']).toBeUndefined();
    expect(one(VALID[4]!).requests[0]!.headers['content-length']).toBe('0');
  });

  test('pipelined requests come out in order at every split point', () => {
    const all = VALID.join('');
    const r = expectSplitInvariant(all);
    expect(r.requests.map((q) => q.headers[':path'])).toEqual(['/', '/p', '/c', '/t', '/e', '/z']);
  });

  test('body slices are zero-copy subarrays of the input', () => {
    const input = b('POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nabcde');
    const slices: Buffer[] = [];
    const p = new Http1RequestParser({ onRequestHead: () => true, onRequestData: (c) => { slices.push(c); return true; }, onRequestEnd: () => undefined }, OPTS);
    p.execute(input, 0);
    expect(slices).toHaveLength(1);
    expect(slices[0]!.buffer).toBe(input.buffer);
  });

  test('a sink that stops after each body slice resumes where it stopped', () => {
    const s = VALID.join('');
    const whole = one(s);
    const chunks = [...s].map((c) => b(c));
    expect(run(chunks, OPTS, 1)).toEqual(whole);
    expect(run([b(s)], OPTS, 1)).toEqual(whole);
  });

  test('a request cut short is incomplete, not an error', () => {
    expect(one('POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc')).toMatchObject({ incomplete: true, requests: [] });
    expect(one('GET / HTTP/1.1\r\nHost')).toMatchObject({ incomplete: true });
    expect(one('POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab')).toMatchObject({ incomplete: true });
  });
});

describe('refused input', () => {
  const REFUSED: [string, string, number][] = [
    // smuggling: framing
    ['CL + TE', 'POST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
    ['TE + CL', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n', 400],
    ['CL + TE identity', 'POST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: identity\r\n\r\nabcd', 400],
    ['TE not chunked', 'POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n', 400],
    ['TE chunked not final', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n', 400],
    ['TE chunked then gzip on two lines', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n', 400],
    ['TE xchunked', 'POST / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n', 400],
    ['TE chunked with trailing garbage', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked;q=1\r\n\r\n', 400],
    ['TE empty', 'POST / HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n', 400],
    ['TE in HTTP/1.0', 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
    ['TE gzip, chunked (we do not decode codings)', 'POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n', 501],
    ['TE chunked twice', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 501],
    ['two different CLs', 'POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab', 400],
    ['two identical CLs', 'POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab', 400],
    ['CL list', 'POST / HTTP/1.1\r\nContent-Length: 2, 2\r\n\r\nab', 400],
    ['CL sign', 'POST / HTTP/1.1\r\nContent-Length: +2\r\n\r\nab', 400],
    ['CL negative', 'POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n', 400],
    ['CL hex', 'POST / HTTP/1.1\r\nContent-Length: 0x2\r\n\r\nab', 400],
    ['CL inner space', 'POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n', 400],
    ['CL empty', 'POST / HTTP/1.1\r\nContent-Length:\r\n\r\n', 400],
    ['CL huge', 'POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n', 400],
    ['space before colon', 'POST / HTTP/1.1\r\nContent-Length : 2\r\n\r\nab', 400],
    ['tab before colon', 'POST / HTTP/1.1\r\nContent-Length\t: 2\r\n\r\nab', 400],
    ['obs-fold', 'GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n', 400],
    ['obs-fold first line', 'GET / HTTP/1.1\r\n X-A: a\r\n\r\n', 400],
    ['bare LF line end', 'GET / HTTP/1.1\r\nX-A: a\nX-B: b\r\n\r\n', 400],
    ['bare LF request', 'GET / HTTP/1.1\n\n', 400],
    ['bare LF before request line', '\nGET / HTTP/1.1\r\n\r\n', 400],
    ['bare CR in value', 'GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n', 400],
    ['NUL in value', 'GET / HTTP/1.1\r\nX-A: a\0b\r\n\r\n', 400],
    ['DEL in value', 'GET / HTTP/1.1\r\nX-A: a\x7fb\r\n\r\n', 400],
    ['space in name', 'GET / HTTP/1.1\r\nHo st: x\r\n\r\n', 400],
    ['no colon', 'GET / HTTP/1.1\r\nHost\r\n\r\n', 400],
    ['empty name', 'GET / HTTP/1.1\r\n: x\r\n\r\n', 400],
    ['two hosts', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400],
    // request line
    ['double space', 'GET  / HTTP/1.1\r\n\r\n', 400],
    ['space in target', 'GET /a b HTTP/1.1\r\n\r\n', 400],
    ['tab in target', 'GET /a\tb HTTP/1.1\r\n\r\n', 400],
    ['trailing space', 'GET / HTTP/1.1 \r\n\r\n', 400],
    ['HTTP/0.9', 'GET /\r\n\r\n', 400],
    ['lower-case version', 'GET / http/1.1\r\n\r\n', 400],
    ['bad method', 'G(T / HTTP/1.1\r\n\r\n', 400],
    ['HTTP/1.2', 'GET / HTTP/1.2\r\n\r\n', 505],
    ['HTTP/2.0', 'GET / HTTP/2.0\r\n\r\n', 505],
    ['CONNECT', 'CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n', 400],
    ['TLS hello', '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n', 400],
    // chunked framing
    ['bad chunk size', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\ng\r\n', 400],
    ['empty chunk size', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\r\n', 400],
    ['chunk size overflow', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n100000000000000\r\n', 400],
    ['negative chunk size', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n', 400],
    ['chunk size + garbage', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1 x\r\na\r\n0\r\n\r\n', 400],
    ['LF-only chunk line', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\na\r\n0\r\n\r\n', 400],
    ['bare LF in chunk extension', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;a\nb\r\na\r\n0\r\n\r\n', 400],
    ['bare CR in chunk extension', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;a\rb\r\na\r\n0\r\n\r\n', 400],
    ['missing CRLF after data', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc\r\n0\r\n\r\n', 400],
    ['LF-only after data', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\n0\r\n\r\n', 400],
    ['bad trailer', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nBad Trailer: x\r\n\r\n', 400],
  ];

  test.each(REFUSED)('%s -> %i', (_name, s, status) => {
    const r = expectSplitInvariant(s);
    expect(r.error?.status).toBe(status);
    expect(r.error?.reason).toEqual(expect.any(String));
  });

  test('nothing after a refused request is parsed (smuggled request never surfaces)', () => {
    const r = one('POST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\n\r\n');
    expect(r.requests).toEqual([]);
    expect(r.error?.status).toBe(400);
  });
});

describe('limits', () => {
  const small: Http1RequestParserOptions = { scheme: 'https', maxHeaderBytes: 256, maxHeadersCount: 5, maxBodyBytes: 10 };

  test('header section over the limit is 431, whole or trickled', () => {
    const big = `GET / HTTP/1.1\r\nX-Big: ${'a'.repeat(300)}\r\n\r\n`;
    expect(one(big, small).error?.status).toBe(431);
    expect(run([...big].map((c) => b(c)), small).error?.status).toBe(431);
    // Without the terminator yet: refused as soon as the limit is passed.
    expect(one(big.slice(0, 280), small).error?.status).toBe(431);
    const atLimit = `GET / HTTP/1.1\r\nX: ${'a'.repeat(256 - 21)}\r\n\r\n`;
    expect(one(atLimit, small).error).toBeUndefined();
  });

  test('too many headers or trailers is 431', () => {
    const h = (n: number): string => Array.from({ length: n }, (_, i) => `X-${i}: v\r\n`).join('');
    expect(one(`GET / HTTP/1.1\r\n${h(5)}\r\n`, small).error).toBeUndefined();
    expect(one(`GET / HTTP/1.1\r\n${h(6)}\r\n`, small).error?.status).toBe(431);
    expect(one(`POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n${h(6)}\r\n`, small).error?.status).toBe(431);
    expect(one(`POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: ${'a'.repeat(300)}\r\n\r\n`, small).error?.status).toBe(431);
  });

  test('body over maxBodyBytes is 413 (content-length and chunked)', () => {
    expect(one('POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n', small).error?.status).toBe(413);
    expect(one('POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789', small).requests[0]!.headers[':scheme']).toBe('https');
    expect(one('POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n6\r\nabcdef\r\n', small).error?.status).toBe(413);
  });

  test('chunk-size line over 4 KiB is 400', () => {
    expect(one(`POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;${'e'.repeat(5000)}\r\na\r\n0\r\n\r\n`).error?.status).toBe(400);
  });

  test('a trickled header section costs linear work', () => {
    const opts = { ...OPTS, maxHeaderBytes: 60 * 1024 };
    const s = `GET / HTTP/1.1\r\n${'X-Pad: 0123456789012345678901234567890123456789\r\n'.repeat(1000)}\r\n`;
    const t0 = performance.now();
    const r = run([...s].map((c) => b(c)), { ...opts, maxHeadersCount: 2000 });
    expect(r.requests).toHaveLength(1);
    expect(performance.now() - t0).toBeLessThan(3000);
  });
});

// --- fuzz ------------------------------------------------------------------------

/** mulberry32: a small seeded PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEEDS = [
  'GET / HTTP/1.1\r\nHost: a\r\n\r\n',
  'POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello',
  'POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: 1\r\n\r\n',
  'GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /y HTTP/1.1\r\n\r\n',
];
const INTERESTING = ['\r', '\n', '\r\n', ' ', '\t', ':', ';', '0', 'f', '\0', '\x7f', '\xff', 'Content-Length: 3\r\n', 'Transfer-Encoding: chunked\r\n', 'HTTP/1.1', ','];
const ALLOWED_STATUS = new Set([400, 413, 431, 501, 505]);

function mutate(s: string, rnd: () => number): string {
  let out = s;
  const n = 1 + Math.floor(rnd() * 4);
  for (let i = 0; i < n; i++) {
    const pos = Math.floor(rnd() * (out.length + 1));
    const op = Math.floor(rnd() * 4);
    if (op === 0) out = out.slice(0, pos) + out.slice(pos + 1);
    else if (op === 1) out = out.slice(0, pos) + INTERESTING[Math.floor(rnd() * INTERESTING.length)]! + out.slice(pos);
    else if (op === 2) out = out.slice(0, pos) + String.fromCharCode(Math.floor(rnd() * 256)) + out.slice(pos + 1);
    else out = out.slice(0, pos) + out.slice(pos, pos + 8) + out.slice(pos);
  }
  return out;
}

function randomSplits(s: string, rnd: () => number): Buffer[] {
  const out: Buffer[] = [];
  let i = 0;
  while (i < s.length) {
    const n = 1 + Math.floor(rnd() * 12);
    out.push(b(s.slice(i, i + n)));
    i += n;
  }
  return out;
}

describe('fuzz', () => {
  test('mutated requests never throw, and splitting never changes the outcome', () => {
    const rnd = prng(0xc0ffee);
    let errors = 0, ok = 0;
    for (let i = 0; i < 4000; i++) {
      const s = mutate(SEEDS[i % SEEDS.length]!, rnd);
      const whole = one(s);
      if (whole.error) {
        errors++;
        expect(ALLOWED_STATUS.has(whole.error.status)).toBe(true);
      } else ok++;
      const split = run(randomSplits(s, rnd));
      expect(split).toEqual(whole);
    }
    // The corpus exercises both sides.
    expect(errors).toBeGreaterThan(500);
    expect(ok).toBeGreaterThan(100);
  });

  test('random bytes never throw', () => {
    const rnd = prng(42);
    for (let i = 0; i < 3000; i++) {
      const n = Math.floor(rnd() * 200);
      const bytes = Buffer.alloc(n);
      for (let j = 0; j < n; j++) bytes[j] = rnd() < 0.3 ? [13, 10, 32, 58][Math.floor(rnd() * 4)]! : Math.floor(rnd() * 256);
      const s = bytes.toString('latin1');
      const r = run(randomSplits(s, rnd));
      if (r.error) expect(ALLOWED_STATUS.has(r.error.status)).toBe(true);
    }
  });

  test('random valid-looking requests with random framing never throw', () => {
    const rnd = prng(7);
    for (let i = 0; i < 2000; i++) {
      const te = rnd() < 0.5;
      const bodyLen = Math.floor(rnd() * 40);
      const body = 'x'.repeat(bodyLen);
      let s = `POST /${i} HTTP/1.1\r\n`;
      if (te) s += `Transfer-Encoding: chunked\r\n\r\n${bodyLen > 0 ? `${bodyLen.toString(16)}\r\n${body}\r\n` : ''}0\r\n\r\n`;
      else s += `Content-Length: ${bodyLen}\r\n\r\n${body}`;
      const m = rnd() < 0.5 ? mutate(s, rnd) : s;
      const r = run(randomSplits(m, rnd));
      if (m === s) {
        expect(r.error).toBeUndefined();
        expect(r.requests[0]!.body).toBe(body);
      } else if (r.error) expect(ALLOWED_STATUS.has(r.error.status)).toBe(true);
    }
  });
});
