/**
 * xDS type URLs and how each resource type names its resources.
 */
import type { ProtoJson } from '../proto/json.ts';
import { CLUSTER, ENDPOINT, LISTENER, ROUTE, SECRET } from './discovery-messages.ts';

/** Types whose SotW subscriptions are wildcards and whose responses carry the full state. */
export const WILDCARD_TYPES: ReadonlySet<string> = new Set([LISTENER, CLUSTER]);

/** The name of a resource, from its own fields (SotW responses carry no names). */
export function resourceName(typeUrl: string, r: ProtoJson): string {
  if (typeUrl === ENDPOINT) return String(r['cluster_name'] ?? '');
  return String(r['name'] ?? '');
}

/** Short names for stats and logs (`cds`, `lds` ...). */
export function typeShortName(typeUrl: string): string {
  switch (typeUrl) {
    case LISTENER: return 'lds';
    case CLUSTER: return 'cds';
    case ROUTE: return 'rds';
    case ENDPOINT: return 'eds';
    case SECRET: return 'sds';
    default: return typeUrl.replace(/^.*\./, '').toLowerCase();
  }
}
