/**
 * The xDS discovery messages and their gRPC method definitions:
 * typed shapes over the descriptors of envoyRegistry() (no generated code),
 * binary codecs through @bufbuild/protobuf, and the paths of the aggregated
 * and per-type discovery services. The ADS client and the test ADS server
 * share these, so both ends speak the same bytes.
 */
import { create, fromBinary, toBinary, toJson, type JsonObject, type Message } from '@bufbuild/protobuf';
import type { GenMessage } from '@bufbuild/protobuf/codegenv2';
import type { Any } from '@bufbuild/protobuf/wkt';
import { InvariantError } from '../../sidecar/contracts/errors.ts';
import { envoyRegistry } from '../proto/registry.ts';

/** google.rpc.Status as it appears in `error_detail`. */
export interface RpcStatus extends Message<'google.rpc.Status'> {
  code: number;
  message: string;
  details: Any[];
}

/** envoy.service.discovery.v3.DiscoveryRequest (SotW). */
export interface DiscoveryRequest extends Message<'envoy.service.discovery.v3.DiscoveryRequest'> {
  versionInfo: string;
  node?: Message;
  resourceNames: string[];
  typeUrl: string;
  responseNonce: string;
  errorDetail?: RpcStatus;
}

/** envoy.service.discovery.v3.DiscoveryResponse (SotW). */
export interface DiscoveryResponse extends Message<'envoy.service.discovery.v3.DiscoveryResponse'> {
  versionInfo: string;
  resources: Any[];
  typeUrl: string;
  nonce: string;
}

/** envoy.service.discovery.v3.DeltaDiscoveryRequest. */
export interface DeltaDiscoveryRequest extends Message<'envoy.service.discovery.v3.DeltaDiscoveryRequest'> {
  node?: Message;
  typeUrl: string;
  resourceNamesSubscribe: string[];
  resourceNamesUnsubscribe: string[];
  initialResourceVersions: { [name: string]: string };
  responseNonce: string;
  errorDetail?: RpcStatus;
}

/** envoy.service.discovery.v3.Resource: one named, versioned resource of a delta response. */
export interface DeltaResource extends Message<'envoy.service.discovery.v3.Resource'> {
  name: string;
  version: string;
  resource?: Any;
}

/** envoy.service.discovery.v3.DeltaDiscoveryResponse. */
export interface DeltaDiscoveryResponse extends Message<'envoy.service.discovery.v3.DeltaDiscoveryResponse'> {
  systemVersionInfo: string;
  resources: DeltaResource[];
  typeUrl: string;
  removedResources: string[];
  nonce: string;
}

function schema<T extends Message>(typeName: T['$typeName']): GenMessage<T> {
  const desc = envoyRegistry().getMessage(typeName);
  if (!desc) throw new InvariantError(`envoy registry lacks ${typeName}`);
  return desc as unknown as GenMessage<T>;
}

/** The descriptors, looked up once per process. */
export const schemas = {
  get discoveryRequest() { return schema<DiscoveryRequest>('envoy.service.discovery.v3.DiscoveryRequest'); },
  get discoveryResponse() { return schema<DiscoveryResponse>('envoy.service.discovery.v3.DiscoveryResponse'); },
  get deltaRequest() { return schema<DeltaDiscoveryRequest>('envoy.service.discovery.v3.DeltaDiscoveryRequest'); },
  get deltaResponse() { return schema<DeltaDiscoveryResponse>('envoy.service.discovery.v3.DeltaDiscoveryResponse'); },
  get resource() { return schema<DeltaResource>('envoy.service.discovery.v3.Resource'); },
};

/** A message codec in the shape grpc-js method definitions want. */
export interface Codec<T> {
  serialize(value: T): Buffer;
  deserialize(bytes: Buffer): T;
}

function codec<T extends Message>(get: () => GenMessage<T>): Codec<T> {
  return {
    serialize: (value) => Buffer.from(toBinary(get(), value)),
    deserialize: (bytes) => fromBinary(get(), bytes),
  };
}

/** Codecs of the four discovery messages. */
export const codecs = {
  discoveryRequest: codec(() => schemas.discoveryRequest),
  discoveryResponse: codec(() => schemas.discoveryResponse),
  deltaRequest: codec(() => schemas.deltaRequest),
  deltaResponse: codec(() => schemas.deltaResponse),
};

/** Builds a DiscoveryResponse. */
export function discoveryResponse(init: Omit<DiscoveryResponse, '$typeName' | '$unknown'>): DiscoveryResponse {
  return create(schemas.discoveryResponse, init);
}

/** Builds a DeltaDiscoveryResponse. */
export function deltaResponse(init: Omit<DeltaDiscoveryResponse, '$typeName' | '$unknown'>): DeltaDiscoveryResponse {
  return create(schemas.deltaResponse, init);
}

/** Builds a DeltaDiscoveryRequest (for the tests' own delta client). */
export function deltaRequest(init: Partial<Omit<DeltaDiscoveryRequest, '$typeName' | '$unknown'>>): DeltaDiscoveryRequest {
  return create(schemas.deltaRequest, init);
}

/** Builds a DiscoveryRequest (for the tests' own SotW client). */
export function discoveryRequest(init: Partial<Omit<DiscoveryRequest, '$typeName' | '$unknown'>>): DiscoveryRequest {
  return create(schemas.discoveryRequest, init);
}

/** Builds a google.rpc.Status for `error_detail`. */
export function rpcStatus(code: number, message: string): RpcStatus {
  return create(schema<RpcStatus>('google.rpc.Status'), { code, message });
}

/** A core.v3.Node in canonical JSON (proto field names), for recording. */
export function nodeJson(node: Message): JsonObject {
  const desc = envoyRegistry().getMessage(node.$typeName);
  if (!desc) return {};
  return toJson(desc, node, { registry: envoyRegistry(), useProtoFieldName: true }) as JsonObject;
}

/** Listener (LDS). */
export const LISTENER = 'type.googleapis.com/envoy.config.listener.v3.Listener';
/** RouteConfiguration (RDS). */
export const ROUTE = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration';
/** VirtualHost (VHDS, delta only). */
export const VIRTUAL_HOST = 'type.googleapis.com/envoy.config.route.v3.VirtualHost';
/** Cluster (CDS). */
export const CLUSTER = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
/** ClusterLoadAssignment (EDS). */
export const ENDPOINT = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';
/** Secret (SDS). */
export const SECRET = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret';

/** The package-qualified services served, with the type a per-type stream defaults to. */
export const DISCOVERY_SERVICES: ReadonlyArray<{ service: string; sotw?: string; delta: string; typeUrl?: string }> = [
  { service: 'envoy.service.discovery.v3.AggregatedDiscoveryService', sotw: 'StreamAggregatedResources', delta: 'DeltaAggregatedResources' },
  { service: 'envoy.service.listener.v3.ListenerDiscoveryService', sotw: 'StreamListeners', delta: 'DeltaListeners', typeUrl: LISTENER },
  { service: 'envoy.service.route.v3.RouteDiscoveryService', sotw: 'StreamRoutes', delta: 'DeltaRoutes', typeUrl: ROUTE },
  { service: 'envoy.service.route.v3.VirtualHostDiscoveryService', delta: 'DeltaVirtualHosts', typeUrl: VIRTUAL_HOST },
  { service: 'envoy.service.cluster.v3.ClusterDiscoveryService', sotw: 'StreamClusters', delta: 'DeltaClusters', typeUrl: CLUSTER },
  { service: 'envoy.service.endpoint.v3.EndpointDiscoveryService', sotw: 'StreamEndpoints', delta: 'DeltaEndpoints', typeUrl: ENDPOINT },
  { service: 'envoy.service.secret.v3.SecretDiscoveryService', sotw: 'StreamSecrets', delta: 'DeltaSecrets', typeUrl: SECRET },
];

/** The gRPC path of the aggregated SotW method. */
export const ADS_SOTW_PATH = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';
/** The gRPC path of the aggregated delta method. */
export const ADS_DELTA_PATH = '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources';
/** The gRPC path of SecretDiscoveryService's SotW method (an SDS server such as Istio's pilot-agent). */
export const SDS_SOTW_PATH = '/envoy.service.secret.v3.SecretDiscoveryService/StreamSecrets';
/** The gRPC path of SecretDiscoveryService's delta method. */
export const SDS_DELTA_PATH = '/envoy.service.secret.v3.SecretDiscoveryService/DeltaSecrets';
