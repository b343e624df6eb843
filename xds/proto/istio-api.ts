/**
 * Istio's own extension config messages, which istiod sends inside
 * google.protobuf.Any next to Envoy's (config dumps of every Istio sidecar
 * carry them). They are not in the Envoy API protos, so they are described
 * here and added to the type registry (registry.ts): without them the Any
 * of a listener cannot be decoded, and the whole LDS update is NACKed.
 *
 * Transcribed from the public .proto files (field names and numbers):
 *  - stats.PluginConfig: istio/proxy source/extensions/filters/http/istio_stats/config.proto
 *  - envoy.tcp.metadataexchange.config.MetadataExchange:
 *    istio/proxy source/extensions/filters/network/metadata_exchange/config/metadata_exchange.proto
 *  - istio.envoy.config.filter.http.alpn.v2alpha1.FilterConfig:
 *    istio/api envoy/config/filter/http/alpn/v2alpha1/config.proto
 * What each does in this sidecar: protocols/istio/ and docs/compatibility.md.
 */
import { create } from '@bufbuild/protobuf';
import {
  FieldDescriptorProto_Label as Label, FieldDescriptorProto_Type as Type, FileDescriptorProtoSchema,
  type DescriptorProto, type EnumDescriptorProto, type FileDescriptorProto,
} from '@bufbuild/protobuf/wkt';

type FieldSpec = readonly [name: string, number: number, type: Type, repeated?: boolean, typeName?: string];

function camel(s: string): string {
  return s.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
}

function message(name: string, fields: readonly FieldSpec[], nested: DescriptorProto[] = [], enums: EnumDescriptorProto[] = [], mapEntry = false): DescriptorProto {
  return {
    name,
    field: fields.map(([n, number, type, repeated, typeName]) => ({
      name: n, number, type, typeName, jsonName: camel(n), label: repeated ? Label.REPEATED : Label.OPTIONAL,
    })),
    nestedType: nested,
    enumType: enums,
    ...(mapEntry ? { options: { mapEntry: true } } : {}),
  } as DescriptorProto;
}

function enumType(name: string, values: readonly string[]): EnumDescriptorProto {
  return { name, value: values.map((v, i) => ({ name: v, number: i })) } as EnumDescriptorProto;
}

function file(name: string, pkg: string, deps: string[], messageType: DescriptorProto[], enums: EnumDescriptorProto[] = []): FileDescriptorProto {
  return create(FileDescriptorProtoSchema, { name, package: pkg, dependency: deps, messageType, enumType: enums, syntax: 'proto3' });
}

/** The descriptors of Istio's extension configs (imports: google/protobuf/duration.proto). */
export function istioFileDescriptors(): FileDescriptorProto[] {
  const stats = file('istio/stats/config.proto', 'stats', ['google/protobuf/duration.proto'], [
    message('MetricConfig', [
      ['dimensions', 1, Type.MESSAGE, true, '.stats.MetricConfig.DimensionsEntry'],
      ['name', 2, Type.STRING],
      ['tags_to_remove', 3, Type.STRING, true],
      ['match', 4, Type.STRING],
      ['drop', 5, Type.BOOL],
    ], [message('DimensionsEntry', [['key', 1, Type.STRING], ['value', 2, Type.STRING]], [], [], true)]),
    message('MetricDefinition', [
      ['name', 1, Type.STRING],
      ['value', 2, Type.STRING],
      ['type', 3, Type.ENUM, false, '.stats.MetricType'],
    ]),
    message('PluginConfig', [
      ['disable_host_header_fallback', 6, Type.BOOL],
      ['tcp_reporting_duration', 7, Type.MESSAGE, false, '.google.protobuf.Duration'],
      ['metrics', 8, Type.MESSAGE, true, '.stats.MetricConfig'],
      ['definitions', 9, Type.MESSAGE, true, '.stats.MetricDefinition'],
      ['reporter', 10, Type.ENUM, false, '.stats.Reporter'],
      ['rescoping_duration', 11, Type.MESSAGE, false, '.google.protobuf.Duration'],
      ['scope_grace_period_duration', 12, Type.MESSAGE, false, '.google.protobuf.Duration'],
    ]),
  ], [enumType('MetricType', ['COUNTER', 'GAUGE', 'HISTOGRAM']), enumType('Reporter', ['UNSPECIFIED', 'SERVER_GATEWAY'])]);

  const mx = file('istio/metadata_exchange/metadata_exchange.proto', 'envoy.tcp.metadataexchange.config', [], [
    message('MetadataExchange', [
      ['protocol', 1, Type.STRING],
      ['enable_discovery', 2, Type.BOOL],
    ]),
  ]);

  const alpn = file('istio/alpn/config.proto', 'istio.envoy.config.filter.http.alpn.v2alpha1', [], [
    message('FilterConfig', [
      ['alpn_override', 1, Type.MESSAGE, true, '.istio.envoy.config.filter.http.alpn.v2alpha1.FilterConfig.AlpnOverride'],
    ], [
      message('AlpnOverride', [
        ['upstream_protocol', 1, Type.ENUM, false, '.istio.envoy.config.filter.http.alpn.v2alpha1.FilterConfig.Protocol'],
        ['alpn_override', 2, Type.STRING, true],
      ]),
    ], [enumType('Protocol', ['HTTP10', 'HTTP11', 'HTTP2'])]),
  ]);
  return [stats, mx, alpn];
}
