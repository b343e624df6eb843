/**
 * A gRPC SDS server for tests, as Istio's pilot-agent runs one: the
 * SecretDiscoveryService (StreamSecrets and DeltaSecrets) on a Unix socket
 * in a fresh temp directory, serving Secrets by name. It is the test
 * control plane (xds-server.ts, which serves every per-type discovery
 * service) bound to the socket, with helpers that turn dev-PKI material
 * into Istio-shaped Secrets (`default`: workload certificate and key,
 * `ROOTCA`: the trusted CA) and the Istio `sds-grpc` bootstrap pieces.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DevCertificate } from '../../protocols/tls/dev-pki.ts';
import { SECRET, startXdsServer, type RecordedRequest, type XdsServer } from './xds-server.ts';

/** A running SDS server. */
export interface SdsServer {
  /** The Unix socket path (the `sds-grpc` cluster's pipe). */
  readonly path: string;
  /** The underlying server: requests, ACKs and NACKs recorded. */
  readonly xds: XdsServer;
  /** Replaces every secret served (name -> Secret JSON) and pushes the change. */
  setSecrets(secrets: Record<string, unknown>, version?: string): void;
  /** NACKs received for Secrets. */
  nacks(): RecordedRequest[];
  /** Resolves with the first request for Secrets naming `name`. */
  requested(name: string, timeoutMs?: number): Promise<RecordedRequest>;
  close(): Promise<void>;
}

/** A Secret holding a workload certificate chain and key (pilot-agent's `default`). */
export function tlsCertificateSecret(name: string, cert: Pick<DevCertificate, 'chainPem' | 'keyPem'>): Record<string, unknown> {
  return {
    name,
    tls_certificate: {
      certificate_chain: { inline_bytes: Buffer.from(cert.chainPem).toString('base64') },
      private_key: { inline_bytes: Buffer.from(cert.keyPem).toString('base64') },
    },
  };
}

/** A Secret holding trusted CAs (pilot-agent's `ROOTCA`). */
export function validationSecret(name: string, caPem: string): Record<string, unknown> {
  return { name, validation_context: { trusted_ca: { inline_bytes: Buffer.from(caPem).toString('base64') } } };
}

/** Istio's sds_config: a gRPC SecretDiscoveryService on the `sds-grpc` cluster. */
export function istioSdsConfig(apiType: 'GRPC' | 'DELTA_GRPC' = 'GRPC', cluster = 'sds-grpc'): Record<string, unknown> {
  return {
    api_config_source: {
      api_type: apiType,
      grpc_services: [{ envoy_grpc: { cluster_name: cluster } }],
      set_node_on_first_message_only: true,
      transport_api_version: 'V3',
    },
    initial_fetch_timeout: '0s',
    resource_api_version: 'V3',
  };
}

/** Istio's `sds-grpc` static cluster (YAML, under static_resources.clusters) to the socket. */
export function sdsClusterYaml(path: string, name = 'sds-grpc'): string {
  return `
  - name: ${name}
    type: STATIC
    connect_timeout: 1s
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: { http2_protocol_options: {} }
    load_assignment: { cluster_name: ${name}, endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: "${path}" } } } }] }] }`;
}

/** Starts an SDS server on a Unix socket in a new temp directory. */
export async function startSdsServer(): Promise<SdsServer> {
  const dir = mkdtempSync(join(tmpdir(), 'themis-sds-'));
  const path = join(dir, 'sds.sock');
  const xds = await startXdsServer({ address: `unix:${path}` });
  return {
    path,
    xds,
    setSecrets: (secrets, version) => xds.setResources(SECRET, secrets, version),
    nacks: () => xds.nacks(SECRET),
    requested: (name, timeoutMs = 5000) => xds.waitFor((r) => r.typeUrl === SECRET && [...(r.resourceNames ?? []), ...(r.subscribe ?? [])].includes(name), timeoutMs),
    close: () => xds.close(),
  };
}
