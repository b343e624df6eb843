/**
 * Which RDS route configurations a listener needs: the `rdsName` of its HCMs
 * (read by shape: protocols owns the HCM config, as sds-refs.ts reads TLS
 * contexts), with the rds config_source's initial_fetch_timeout and where
 * it comes from.
 */
import type { ListenerConfig, XdsStreamSourceRef } from '../../sidecar/contracts/snapshot.ts';

/** One route configuration a listener needs. */
export interface RdsRef {
  readonly name: string;
  /** initial_fetch_timeout in ms (0 = forever; Envoy's default 15 s). */
  readonly timeoutMs: number;
  /** A non-aggregated gRPC source (absent: ADS). */
  readonly source?: XdsStreamSourceRef;
}

/** The route configurations the HCMs of a listener name. */
export function rdsRefsOf(l: ListenerConfig): RdsRef[] {
  const out: RdsRef[] = [];
  const chains = l.defaultFilterChain ? [...l.filterChains, l.defaultFilterChain] : l.filterChains;
  for (const fc of chains) for (const f of fc.filters) {
    const cfg = f.config as { rdsName?: string; rdsInitialFetchTimeoutMs?: number; rdsSource?: XdsStreamSourceRef } | undefined;
    if (cfg?.rdsName) out.push({ name: cfg.rdsName, timeoutMs: cfg.rdsInitialFetchTimeoutMs ?? 15_000, ...(cfg.rdsSource ? { source: cfg.rdsSource } : {}) });
  }
  return out;
}
