/**
 * Envoy's AsyncClient for filters: a whole request to a cluster named in a
 * filter's config (ext_authz's envoy_grpc cluster_name, http_service
 * server_uri.cluster), sent through the cluster's own load balancer and
 * connection pools (HTTP/2 when the cluster has http2_protocol_options, as
 * gRPC needs), counted in the cluster's upstream_rq_total, bounded by a
 * timeout and by a response size limit. The cluster is looked up by name on
 * every request, so a CDS update (or a cluster that does not exist yet) is
 * seen at once.
 */
import type { AsyncRequestHandle, AsyncRequestSpec, AsyncResponse, HeaderMap, HttpAsyncClient } from '../contracts/http-filter.ts';
import type { Cluster } from './cluster.ts';
import type { UpstreamRequest, UpstreamResponseHandler } from './upstream-request.ts';

/** Responses larger than this are an error (Envoy's async client buffers whole bodies too). */
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

/** The AsyncClient over the current clusters. */
export class ClusterAsyncClient implements HttpAsyncClient {
  private readonly lookup: (name: string) => Cluster | undefined;

  constructor(lookup: (name: string) => Cluster | undefined) {
    this.lookup = lookup;
  }

  send(clusterName: string, spec: AsyncRequestSpec, done: (r: AsyncResponse) => void): AsyncRequestHandle {
    let finished = false;
    let upstream: UpstreamRequest | undefined;
    let timer: NodeJS.Timeout | undefined;
    const finish = (r: AsyncResponse): void => {
      if (finished) return;
      finished = true;
      if (timer) clearTimeout(timer);
      done(r);
    };
    const handle: AsyncRequestHandle = {
      cancel: () => {
        if (finished) return;
        finished = true;
        if (timer) clearTimeout(timer);
        upstream?.abort();
      },
    };
    const cluster = this.lookup(clusterName);
    if (!cluster) {
      queueMicrotask(() => finish({ ok: false, reason: 'no_cluster', detail: `cluster '${clusterName}' does not exist` }));
      return handle;
    }
    const host = cluster.chooseHost({});
    if (!host) {
      cluster.stats.cxNoneHealthy.inc();
      queueMicrotask(() => finish({ ok: false, reason: 'no_healthy_upstream', detail: `cluster '${clusterName}' has no healthy host` }));
      return handle;
    }
    if (spec.timeoutMs > 0) {
      timer = setTimeout(() => {
        upstream?.abort();
        cluster.stats.rqTimeout.inc();
        finish({ ok: false, reason: 'timeout', detail: `no response within ${spec.timeoutMs} ms` });
      }, spec.timeoutMs);
    }
    cluster.stats.rqTotal.inc();
    let status = 0;
    let headers: HeaderMap = {};
    const chunks: Buffer[] = [];
    let size = 0;
    const handler: UpstreamResponseHandler = {
      onHeaders: (s, h) => {
        status = s;
        headers = h;
      },
      onData: (chunk) => {
        size += chunk.length;
        if (size > MAX_RESPONSE_BYTES) {
          upstream?.abort();
          finish({ ok: false, reason: 'too_large', detail: `response beyond ${MAX_RESPONSE_BYTES} bytes` });
          return true;
        }
        chunks.push(chunk);
        return true;
      },
      onEnd: (trailers) => finish({ ok: true, status, headers, body: Buffer.concat(chunks, size), trailers }),
      onError: (kind, detail) => finish({ ok: false, reason: kind, detail }),
    };
    try {
      upstream = cluster.pool(host).request({ method: spec.method, path: spec.path, authority: spec.authority, headers: spec.headers, body: spec.body }, handler);
    } catch (e) {
      // Never synchronously, never a throw into the caller's filter: a failed call.
      queueMicrotask(() => finish({ ok: false, reason: 'protocol', detail: (e as Error).message }));
    }
    return handle;
  }
}
