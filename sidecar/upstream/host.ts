/**
 * An upstream host of a cluster at run time: the load balancer's view
 * (contracts/load-balancer.ts) plus how to reach it. Health flags are kept
 * apart so that EDS status and active health checking combine as in Envoy
 * (a host is healthy when no source says otherwise).
 */
import type { Host } from '../contracts/load-balancer.ts';
import type { SocketAddress } from '../contracts/snapshot.ts';

/** One upstream host. */
export class UpstreamHost implements Host {
  readonly key: string;
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  /** Where to connect. */
  readonly socket: SocketAddress;
  /** The DNS name it was resolved from (STRICT_DNS/LOGICAL_DNS), for auto_host_rewrite. */
  readonly hostname: string | undefined;
  activeRequests = 0;
  /** Set by active health checking (Envoy's FAILED_ACTIVE_HC). */
  failedActiveHealthCheck = false;
  /** Set from the endpoint's configured health status. */
  readonly configuredUnhealthy: boolean;
  /** Endpoint metadata `envoy.transport_socket_match`, which picks the transport socket. */
  readonly transportMatch: Readonly<Record<string, string>> | undefined;
  /** Its priority level, locality and locality weight (priority-load-balancer.ts). */
  readonly priority: number;
  readonly locality: string;
  readonly localityWeight: number;
  /** ORIGINAL_DST: used since the last cleanup sweep. */
  used = true;

  constructor(socket: SocketAddress, weight: number, hostname?: string, configuredUnhealthy = false, transportMatch?: Readonly<Record<string, string>>, placement?: { readonly priority: number; readonly locality?: string; readonly localityWeight?: number }) {
    this.socket = socket;
    this.priority = placement?.priority ?? 0;
    this.locality = placement?.locality ?? '';
    this.localityWeight = placement?.localityWeight ?? 0;
    this.transportMatch = transportMatch;
    this.weight = weight;
    this.hostname = hostname;
    this.configuredUnhealthy = configuredUnhealthy;
    if (socket.kind === 'pipe') {
      this.key = `unix://${socket.path}`;
      this.address = socket.path;
      this.port = 0;
    } else {
      this.key = socket.host.includes(':') ? `[${socket.host}]:${socket.port}` : `${socket.host}:${socket.port}`;
      this.address = socket.host;
      this.port = socket.port;
    }
  }

  /** Healthy unless EDS or active health checking says otherwise. */
  get healthy(): boolean {
    return !this.failedActiveHealthCheck && !this.configuredUnhealthy;
  }
  set healthy(v: boolean) {
    this.failedActiveHealthCheck = !v;
  }
}
