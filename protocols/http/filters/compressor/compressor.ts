/**
 * envoy.filters.http.compressor with the gzip, brotli and zstd compressor
 * libraries (node:zlib): response compression negotiated by Accept-Encoding
 * as Envoy does it. Several compressor filters on one HCM (Istio configures
 * brotli, zstd and gzip on its stats listener) share the decision through
 * the stream's filter state: the encoding with the highest q-value wins,
 * ties go to the first filter in the chain. Responses are compressed when
 * their content type is in the list, they are not already encoded, not
 * `cache-control: no-transform`, not HEAD/1xx/204/304, and at least
 * min_content_length bytes when their length is known. Request-direction
 * compression is refused at load.
 */
import zlib from 'node:zlib';
import { ConfigError, type ParseResult } from '../../../../sidecar/contracts/errors.ts';
import type { ExtensionRegistry, HttpFilterExtension } from '../../../../sidecar/contracts/extension.ts';
import { Continue, type BodyTransform, type HeaderMap, type HttpFilter, type HttpFilterCallbacks } from '../../../../sidecar/contracts/http-filter.ts';
import type { Counter } from '../../../../sidecar/contracts/stats.ts';
import { bool, int, msg, str, type Json } from '../../../../xds/translate/proto-values.ts';

const TYPE = 'envoy.extensions.filters.http.compressor.v3.Compressor';

/** Envoy's default compressible content types. */
const DEFAULT_TYPES = [
  'text/html', 'text/plain', 'text/css', 'application/javascript', 'application/x-javascript', 'text/javascript',
  'text/x-javascript', 'text/ecmascript', 'text/js', 'text/jscript', 'text/x-js', 'application/ecmascript',
  'application/x-json', 'application/xml', 'application/json', 'image/svg+xml', 'text/xml', 'application/xhtml+xml',
];

/** The validated filter config. */
export interface CompressorConfig {
  readonly encoding: 'gzip' | 'br' | 'zstd';
  readonly libraryName: string;
  readonly makeStream: () => BodyTransform;
  readonly contentTypes: readonly string[];
  readonly minContentLength: number;
  readonly disableOnEtag: boolean;
  readonly removeAcceptEncoding: boolean;
  readonly chooseFirst: boolean;
}

function library(lib: Json, path: string): Pick<CompressorConfig, 'encoding' | 'libraryName' | 'makeStream'> {
  const tc = msg(lib['typed_config']);
  const type = str(tc?.['@type']).replace(/^.*\//, '');
  const name = str(lib['name']);
  const tp = `${path}.typed_config`;
  const chunk = (v: unknown): number => int(v, 4096, `${tp}.chunk_size`);
  switch (type) {
    case 'envoy.extensions.compression.gzip.compressor.v3.Gzip': {
      const level = str(tc!['compression_level']);
      const z = {
        level: level === 'BEST_SPEED' || level === 'COMPRESSION_LEVEL_1' ? 1 : level === 'BEST_COMPRESSION' || level === 'COMPRESSION_LEVEL_9' ? 9 : /^COMPRESSION_LEVEL_(\d)$/.test(level) ? Number(level.slice(-1)) : zlib.constants.Z_DEFAULT_COMPRESSION,
        memLevel: int(msg(tc!['memory_level'])?.['value'] ?? tc!['memory_level'], 5, `${tp}.memory_level`),
        windowBits: int(tc!['window_bits'], 12, `${tp}.window_bits`),
        chunkSize: chunk(tc!['chunk_size']),
      };
      return { encoding: 'gzip', libraryName: name, makeStream: () => zlib.createGzip(z) };
    }
    case 'envoy.extensions.compression.brotli.compressor.v3.Brotli': {
      const params = { [zlib.constants.BROTLI_PARAM_QUALITY]: int(tc!['quality'], 3, `${tp}.quality`), [zlib.constants.BROTLI_PARAM_LGWIN]: int(tc!['window_bits'], 18, `${tp}.window_bits`) };
      return { encoding: 'br', libraryName: name, makeStream: () => zlib.createBrotliCompress({ params, chunkSize: chunk(tc!['chunk_size']) }) };
    }
    case 'envoy.extensions.compression.zstd.compressor.v3.Zstd': {
      if (tc!['dictionary'] !== undefined) throw new ConfigError(`${path}.typed_config.dictionary`, 'zstd dictionaries are not supported');
      const level = int(tc!['compression_level'], 3, `${tp}.compression_level`);
      const z = zlib as unknown as { createZstdCompress(o: object): BodyTransform; constants: Record<string, number> };
      return { encoding: 'zstd', libraryName: name, makeStream: () => z.createZstdCompress({ params: { [z.constants['ZSTD_c_compressionLevel']!]: level }, chunkSize: chunk(tc!['chunk_size']) }) };
    }
    default:
      throw new ConfigError(`${path}.typed_config`, `unsupported compressor library '${type}' (gzip, brotli, zstd are)`);
  }
}

/** Parses the Compressor proto. */
export function parseCompressor(cfg: Json, path: string): CompressorConfig {
  const lib = msg(cfg['compressor_library']);
  if (!lib) throw new ConfigError(`${path}.compressor_library`, 'compressor_library is required');
  const req = msg(cfg['request_direction_config']);
  if (req && bool(msg(msg(req['common_config'])?.['enabled'])?.['default_value'], true)) {
    throw new ConfigError(`${path}.request_direction_config`, 'request compression is not supported; only responses are compressed');
  }
  const res = msg(cfg['response_direction_config']);
  const common = msg(res?.['common_config']);
  if (msg(common?.['enabled'])?.['runtime_key'] || msg(cfg['runtime_enabled'])?.['runtime_key']) {
    throw new ConfigError(path, 'runtime-keyed enabling is not supported');
  }
  const types = (common?.['content_type'] as string[] | undefined) ?? (cfg['content_type'] as string[] | undefined) ?? DEFAULT_TYPES;
  return Object.freeze({
    ...library(lib, `${path}.compressor_library`),
    contentTypes: Object.freeze(types.map((t) => t.toLowerCase())),
    minContentLength: int(common?.['min_content_length'] ?? cfg['content_length'], 30, common?.['min_content_length'] !== undefined ? `${path}.response_direction_config.common_config.min_content_length` : `${path}.content_length`),
    disableOnEtag: bool(res?.['disable_on_etag_header'] ?? cfg['disable_on_etag_header'], false),
    removeAcceptEncoding: bool(res?.['remove_accept_encoding_header'] ?? cfg['remove_accept_encoding_header'], false),
    chooseFirst: cfg['choose_first'] === true,
  });
}

/** Accept-Encoding as a map of coding -> q. */
export function acceptEncodings(v: string | string[] | undefined): Map<string, number> {
  const out = new Map<string, number>();
  if (v === undefined) return out;
  for (const part of (Array.isArray(v) ? v.join(',') : v).split(',')) {
    const [coding, ...params] = part.trim().split(';');
    if (!coding) continue;
    let q = 1;
    for (const p of params) {
      const m = /^\s*q\s*=\s*([0-9.]+)\s*$/i.exec(p);
      if (m) q = Number(m[1]);
    }
    out.set(coding.trim().toLowerCase(), q);
  }
  return out;
}

const OFFERS = 'envoy.compression.offers';

/** One compressor filter's offer, in filter-chain order. */
interface Offer {
  readonly encoding: string;
  readonly chooseFirst: boolean;
}

/**
 * The winning encoding for an Accept-Encoding: the highest q-value; on a tie
 * a filter with choose_first, else the earlier filter.
 */
function choose(offers: readonly Offer[], accept: Map<string, number>): string | undefined {
  let best: { o: Offer; q: number } | undefined;
  for (const o of offers) {
    const q = accept.get(o.encoding) ?? accept.get('*') ?? 0;
    if (q <= 0) continue;
    if (!best || q > best.q || (q === best.q && o.chooseFirst && !best.o.chooseFirst)) best = { o, q };
  }
  return best?.o.encoding;
}

interface Stats {
  compressed: Counter;
  notCompressed: Counter;
  tooSmall: Counter;
  notCompressedEtag: Counter;
  uncompressedBytes: Counter;
  compressedBytes: Counter;
}

class CompressorFilter implements HttpFilter {
  private readonly cfg: CompressorConfig;
  private readonly cb: HttpFilterCallbacks;
  private readonly stats: Stats;
  private accept: Map<string, number> | undefined;

  constructor(cfg: CompressorConfig, cb: HttpFilterCallbacks, stats: Stats) {
    this.cfg = cfg;
    this.cb = cb;
    this.stats = stats;
    let offers = cb.filterState.get(OFFERS) as Offer[] | undefined;
    if (!offers) cb.filterState.set(OFFERS, (offers = []));
    offers.push({ encoding: cfg.encoding, chooseFirst: cfg.chooseFirst });
  }

  decodeHeaders(headers: HeaderMap): typeof Continue {
    this.accept = acceptEncodings(headers['accept-encoding']);
    if (this.cfg.removeAcceptEncoding) delete headers['accept-encoding'];
    return Continue;
  }

  encodeHeaders(status: number, headers: HeaderMap, request: HeaderMap): BodyTransform | undefined {
    const offers = this.cb.filterState.get(OFFERS) as Offer[];
    if (choose(offers, this.accept ?? new Map()) !== this.cfg.encoding) return undefined;
    if (request[':method'] === 'HEAD' || status < 200 || status === 204 || status === 304) return this.skip();
    const ce = headers['content-encoding'];
    if (ce !== undefined && String(ce).toLowerCase() !== 'identity') return this.skip();
    if (/(^|,)\s*no-transform\s*(,|$)/i.test(String(headers['cache-control'] ?? ''))) return this.skip();
    const type = String(headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (!this.cfg.contentTypes.includes(type)) return this.skip();
    const len = headers['content-length'];
    if (len !== undefined && Number(len) < this.cfg.minContentLength) {
      this.stats.tooSmall.inc();
      return this.skip();
    }
    const etag = headers['etag'];
    if (etag !== undefined) {
      if (this.cfg.disableOnEtag) {
        this.stats.notCompressedEtag.inc();
        return this.skip();
      }
      // A strong validator no longer matches the transformed body.
      if (!String(etag).startsWith('W/')) headers['etag'] = `W/${String(etag)}`;
    }
    delete headers['content-length'];
    headers['content-encoding'] = this.cfg.encoding;
    const vary = headers['vary'];
    headers['vary'] = vary === undefined ? 'Accept-Encoding' : `${Array.isArray(vary) ? vary.join(', ') : vary}, Accept-Encoding`;
    this.stats.compressed.inc();
    const stream = this.cfg.makeStream();
    const stats = this.stats;
    const write = stream.write.bind(stream);
    stream.write = ((chunk: Buffer, ...rest: unknown[]) => {
      stats.uncompressedBytes.inc(chunk.length);
      return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof stream.write;
    stream.on('data', (c: Buffer) => stats.compressedBytes.inc(c.length));
    stream.on('error', () => undefined); // a destroyed stream (reset) is not an error here
    return stream;
  }

  private skip(): undefined {
    this.stats.notCompressed.inc();
    return undefined;
  }
}

/** Registers envoy.filters.http.compressor. */
export function setup(registry: ExtensionRegistry): void {
  const ext: HttpFilterExtension<CompressorConfig> = {
    category: 'envoy.filters.http',
    names: ['envoy.filters.http.compressor'],
    typeNames: [TYPE],
    parse(cfg, ctx): ParseResult<CompressorConfig> {
      try {
        return { ok: true, config: parseCompressor(cfg, ctx.path) };
      } catch (e) {
        if (e instanceof ConfigError) return { ok: false, errors: [e] };
        throw e;
      }
    },
    createFactory(config, rt) {
      const s = rt.stats.scope(`compressor.${config.libraryName || config.encoding}.${config.encoding}`);
      const stats: Stats = {
        compressed: s.counter('compressed'),
        notCompressed: s.counter('not_compressed'),
        tooSmall: s.counter('content_length_too_small'),
        notCompressedEtag: s.counter('not_compressed_etag'),
        uncompressedBytes: s.counter('total_uncompressed_bytes'),
        compressedBytes: s.counter('total_compressed_bytes'),
      };
      return { name: 'envoy.filters.http.compressor', create: (cb) => new CompressorFilter(config, cb, stats) };
    },
  };
  registry.register(ext);
}
