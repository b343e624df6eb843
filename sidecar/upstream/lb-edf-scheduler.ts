/**
 * Earliest-deadline-first scheduler for weighted round robin, as Envoy's EdfScheduler
 * (source/common/upstream/edf_scheduler.h): each entry has a deadline `current_time + 1/weight`;
 * a pick takes the entry with the earliest deadline (ties: the one inserted first), moves
 * `current_time` to that deadline and re-inserts the entry with a freshly computed weight.
 * Used by ROUND_ROBIN (static weights) and LEAST_REQUEST (weight / (active + 1)^bias).
 *
 * The entry set is fixed at construction (policies rebuild on host-set change), so the heap is
 * a preallocated index array and a pick allocates nothing.
 */

/** Weight of one entry at (re-)insertion time; must be > 0 (non-positive counts as tiny). */
export type EdfWeight<T> = (entry: T) => number;

/** A min-heap of entries keyed by (deadline, insertion order). */
export class EdfScheduler<T> {
  readonly #entries: readonly T[];
  readonly #weight: EdfWeight<T>;
  readonly #deadline: Float64Array;
  readonly #order: Float64Array;
  readonly #heap: Uint32Array;
  #currentTime = 0;
  #nextOrder = 0;

  /**
   * Inserts every entry at time 0 in the order given, then performs `initialPicks` picks so
   * that schedulers built at the same moment do not all start on the same entry (Envoy's
   * createWithPicks with a random seed).
   */
  constructor(entries: readonly T[], weight: EdfWeight<T>, initialPicks = 0) {
    const n = entries.length;
    this.#entries = entries;
    this.#weight = weight;
    this.#deadline = new Float64Array(n);
    this.#order = new Float64Array(n);
    this.#heap = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      this.#deadline[i] = this.#step(entries[i]!);
      this.#order[i] = this.#nextOrder++;
      this.#heap[i] = i;
    }
    for (let i = (n >> 1) - 1; i >= 0; i--) this.#siftDown(i);
    for (let i = 0; i < initialPicks && n > 0; i++) this.pickAndAdd();
  }

  /** Number of entries. */
  get size(): number {
    return this.#entries.length;
  }

  /** Picks the entry with the earliest deadline and re-inserts it; undefined when empty. */
  pickAndAdd(): T | undefined {
    if (this.#heap.length === 0) return undefined;
    const top = this.#heap[0]!;
    const entry = this.#entries[top]!;
    this.#currentTime = this.#deadline[top]!;
    this.#deadline[top] = this.#currentTime + this.#step(entry);
    this.#order[top] = this.#nextOrder++;
    this.#siftDown(0);
    return entry;
  }

  /** 1/weight, with non-positive or NaN weights treated as the smallest positive weight. */
  #step(entry: T): number {
    const w = this.#weight(entry);
    return w > 0 ? 1 / w : Number.MAX_VALUE;
  }

  #less(a: number, b: number): boolean {
    const da = this.#deadline[a]!;
    const db = this.#deadline[b]!;
    return da < db || (da === db && this.#order[a]! < this.#order[b]!);
  }

  #siftDown(start: number): void {
    const heap = this.#heap;
    const n = heap.length;
    let i = start;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) return;
      const r = l + 1;
      const m = r < n && this.#less(heap[r]!, heap[l]!) ? r : l;
      if (!this.#less(heap[m]!, heap[i]!)) return;
      const t = heap[i]!;
      heap[i] = heap[m]!;
      heap[m] = t;
      i = m;
    }
  }
}
