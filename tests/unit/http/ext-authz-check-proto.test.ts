/**
 * The hand-written CheckRequest / CheckResponse wire form of the ext_authz
 * filter against protobufjs (through @grpc/proto-loader) on Envoy's own
 * protos: what we encode decodes there, what it encodes decodes here; and a
 * fuzz test: arbitrary bytes give a decoded value or ProtoDecodeError, never
 * another exception or a hang.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import { decodeCheckResponse, encodeCheckRequest, ProtoDecodeError } from '../../../protocols/http/filters/ext-authz/check-proto.ts';

const DEPS = path.resolve(__dirname, '../../../node_modules/@grpc/grpc-js-xds/deps');
const def = protoLoader.loadSync(path.join(DEPS, 'envoy-api/envoy/service/auth/v3/external_auth.proto'), {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: false,
  includeDirs: [path.join(DEPS, 'envoy-api'), path.join(DEPS, 'xds'), path.join(DEPS, 'googleapis'), path.join(DEPS, 'protoc-gen-validate')],
});
type Codec = { serialize(v: object): Buffer; deserialize(b: Buffer): Record<string, unknown> };
const check = (def['envoy.service.auth.v3.Authorization'] as unknown as { Check: { requestSerialize: Codec['serialize']; requestDeserialize: Codec['deserialize']; responseSerialize: Codec['serialize'] } }).Check;

test('a CheckRequest we encode is what protobufjs decodes', () => {
  const bytes = encodeCheckRequest({
    source: { address: '10.0.0.1', port: 40000, principal: 'spiffe://cluster.local/ns/a/sa/b' },
    destination: { address: '10.0.0.2', port: 8080, principal: '' },
    http: { id: 'rid', method: 'POST', headers: [[':path', '/p'], ['x-a', 'b,c']], path: '/p', host: 'h', scheme: 'https', size: -1, protocol: 'HTTP/2' },
    timeMs: 1_700_000_000_123,
  });
  const r = check.requestDeserialize(bytes) as { attributes: Record<string, Record<string, unknown>> };
  expect(r.attributes['source']).toEqual({ address: { socket_address: { address: '10.0.0.1', port_value: 40000 } }, principal: 'spiffe://cluster.local/ns/a/sa/b' });
  expect(r.attributes['destination']).toEqual({ address: { socket_address: { address: '10.0.0.2', port_value: 8080 } } });
  const req = r.attributes['request'] as { time: Record<string, unknown>; http: Record<string, unknown> };
  expect(req.time).toEqual({ seconds: '1700000000', nanos: 123_000_000 });
  expect(req.http).toEqual({ id: 'rid', method: 'POST', headers: { ':path': '/p', 'x-a': 'b,c' }, path: '/p', host: 'h', scheme: 'https', size: '-1', protocol: 'HTTP/2' });
});

test('a CheckResponse protobufjs encodes is what we decode', () => {
  const ok = decodeCheckResponse(check.responseSerialize({
    status: { code: 0 },
    ok_response: { headers: [{ header: { key: 'X-User', value: 'a' }, append: { value: false } }, { header: { key: 'x-b', value: 'b' }, append_action: 'ADD_IF_ABSENT' }], headers_to_remove: ['X-Gone'] },
  }));
  expect(ok.code).toBe(0);
  expect(ok.ok).toEqual({ headers: [{ key: 'x-user', value: 'a', append: false, appendAction: 0 }, { key: 'x-b', value: 'b', append: undefined, appendAction: 1 }], headersToRemove: ['x-gone'], responseHeadersToAdd: [], queryToSet: [], queryToRemove: [] });
  const denied = decodeCheckResponse(check.responseSerialize({ status: { code: 7, message: 'no' }, denied_response: { status: { code: 'TooManyRequests' }, body: 'slow down', headers: [{ header: { key: 'retry-after', value: '1' } }] } }));
  expect(denied.code).toBe(7);
  expect(denied.denied).toEqual({ status: 429, body: 'slow down', headers: [{ key: 'retry-after', value: '1', append: undefined, appendAction: 0 }] });
  expect(decodeCheckResponse(check.responseSerialize({ status: { code: -1 } })).code).toBe(-1);
  // google/protobuf/struct.proto comes from protobufjs's bundled descriptors, with camelCase field names.
  const meta = decodeCheckResponse(check.responseSerialize({
    status: { code: 0 },
    dynamic_metadata: { fields: { s: { stringValue: 'x' }, n: { numberValue: 1.5 }, b: { boolValue: true }, z: { nullValue: 'NULL_VALUE' }, l: { listValue: { values: [{ stringValue: 'a' }, { numberValue: 2 }] } }, o: { structValue: { fields: { k: { stringValue: 'v' } } } } } },
    ok_response: { dynamic_metadata: { fields: { old: { stringValue: 'y' }, s: { stringValue: 'overridden' } } } },
  }));
  expect(meta.dynamicMetadata).toEqual({ old: 'y', s: 'x', n: 1.5, b: true, z: null, l: ['a', 2], o: { k: 'v' } });
});

test('fuzz: arbitrary bytes decode or fail with ProtoDecodeError', () => {
  const valid = check.responseSerialize({ status: { code: 7 }, denied_response: { status: { code: 'Forbidden' }, body: 'x', headers: [{ header: { key: 'a', value: 'b' } }] } });
  for (let i = 0; i < 5000; i++) {
    let b: Buffer;
    if (i % 2) b = randomBytes(i % 64);
    else {
      b = Buffer.from(valid);
      b[i % b.length] = randomBytes(1)[0]!;
      b = b.subarray(0, (i * 7) % (b.length + 1));
    }
    try {
      decodeCheckResponse(b);
    } catch (e) {
      expect(e).toBeInstanceOf(ProtoDecodeError);
    }
  }
});
