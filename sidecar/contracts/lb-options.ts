/**
 * Envoy's rules for a cluster's load-balancing options, in one place: xds/translate/cluster.ts
 * checks a config with them (so `--mode validate` and a CDS NACK name the field) and the
 * balancers in sidecar/upstream read their options through them. Each throws ConfigError with
 * a path relative to the Cluster message.
 */

import { ConfigError } from './errors.ts';

/** Envoy's default `common_lb_config.healthy_panic_threshold`, in percent. */
export const DEFAULT_HEALTHY_PANIC_THRESHOLD = 50;
/** Envoy's default minimum_ring_size. */
export const DEFAULT_MIN_RING_SIZE = 1024;
/** Envoy's default (and largest allowed) maximum_ring_size: 8M. */
export const DEFAULT_MAX_RING_SIZE = 8 * 1024 * 1024;
/** Envoy's MaglevTable::DefaultTableSize. */
export const DEFAULT_MAGLEV_TABLE_SIZE = 65537;
/** Largest table_size Envoy's proto accepts. */
export const MAX_MAGLEV_TABLE_SIZE = 5000011;

/** The options of every policy (lb-factory.ts reads the ones its policy takes). */
export type LbOptions = Readonly<Record<string, number>>;

/**
 * A panic threshold, validated and rounded as Envoy does (PROTOBUF_PERCENT_TO_ROUNDED_INTEGER);
 * the default when undefined.
 */
export function panicThresholdFrom(value: number | undefined): number {
  if (value === undefined) return DEFAULT_HEALTHY_PANIC_THRESHOLD;
  if (!Number.isFinite(value) || value < 0 || value > 100) {
    throw new ConfigError('common_lb_config.healthy_panic_threshold', `must be within 0..100, got ${value}`);
  }
  return Math.round(value);
}

function ringSize(field: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1 || value > DEFAULT_MAX_RING_SIZE) {
    throw new ConfigError(`ring_hash_lb_config.${field}`, `must be an integer within 1..${DEFAULT_MAX_RING_SIZE}, got ${value}`);
  }
  return value;
}

/** RING_HASH's minimum and maximum ring sizes (defaults for undefined); min > max is refused, as Envoy. */
export function ringSizes(minimum: number | undefined, maximum: number | undefined): { readonly min: number; readonly max: number } {
  const min = ringSize('minimum_ring_size', minimum, DEFAULT_MIN_RING_SIZE);
  const max = ringSize('maximum_ring_size', maximum, DEFAULT_MAX_RING_SIZE);
  if (min > max) throw new ConfigError('ring_hash_lb_config.minimum_ring_size', `ring hash: minimum_ring_size (${min}) > maximum_ring_size (${max})`);
  return { min, max };
}

function isPrime(n: number): boolean {
  if (n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

/** MAGLEV's table_size: a prime no larger than 5000011 (the default when undefined). */
export function maglevTableSize(value: number | undefined): number {
  const n = value ?? DEFAULT_MAGLEV_TABLE_SIZE;
  if (!Number.isInteger(n) || n > MAX_MAGLEV_TABLE_SIZE) {
    throw new ConfigError('maglev_lb_config.table_size', `must be an integer <= ${MAX_MAGLEV_TABLE_SIZE}, got ${n}`);
  }
  if (!isPrime(n)) throw new ConfigError('maglev_lb_config.table_size', 'The table size of maglev must be prime number');
  return n;
}

/** LEAST_REQUEST's choice_count (>= 2) and active_request_bias (finite, >= 0), defaults for undefined. */
export function leastRequestChoices(choiceCount: number | undefined, bias: number | undefined): { readonly choiceCount: number; readonly activeRequestBias: number } {
  const n = choiceCount ?? 2;
  if (!Number.isInteger(n) || n < 2) throw new ConfigError('least_request_lb_config.choice_count', `must be an integer >= 2, got ${n}`);
  const b = bias ?? 1;
  if (!Number.isFinite(b) || b < 0) throw new ConfigError('least_request_lb_config.active_request_bias', `must be a finite number >= 0, got ${b}`);
  return { choiceCount: n, activeRequestBias: b };
}

/** Checks the options `policy` takes (what its balancer would refuse when built). */
export function checkLbOptions(policy: string, options: LbOptions): void {
  panicThresholdFrom(options['healthyPanicThreshold']);
  if (policy === 'RING_HASH') ringSizes(options['minimumRingSize'], options['maximumRingSize']);
  else if (policy === 'MAGLEV') maglevTableSize(options['tableSize']);
  else if (policy === 'LEAST_REQUEST') leastRequestChoices(options['choiceCount'], options['activeRequestBias']);
}
