/**
 * What the managers of resources subscribed one name at a time share (ECDS extension configs,
 * ecds-manager.ts; SDS secrets, sds-manager.ts): the names they ask for on the ADS stream, and
 * the initial fetch of each name, as Envoy's per-subscription init target. A name is settled
 * once its first update was applied or rejected, or its initial_fetch_timeout elapsed;
 * listeners and clusters that need it wait for that.
 */

/** The names a manager subscribes on the ADS stream; sent only when the list changes. */
export class AdsNames {
  #subscribe: ((names: readonly string[]) => void) | undefined;
  #sent = '';

  /** The ADS stream is there: the next `update` sends whatever it is given. */
  attach(subscribe: (names: readonly string[]) => void): void {
    this.#subscribe = subscribe;
    this.#sent = '';
  }

  /** Sends `names` (sorted by the caller) unless no stream is attached or the same list was sent last. */
  update(names: readonly string[]): void {
    if (!this.#subscribe) return;
    const sig = names.join('\n');
    if (sig === this.#sent) return;
    this.#sent = sig;
    this.#subscribe(names);
  }
}

/** The initial-fetch part of the state a manager keeps per name. */
export interface InitialFetchState {
  settled: boolean;
  timer: NodeJS.Timeout | undefined;
}

/** A `whenSettled` call still waiting. */
interface Waiter {
  readonly names: readonly string[];
  readonly resolve: () => void;
}

/** The initial fetch of every name in a manager's `states` map, and who waits for it. */
export class InitialFetches<S extends InitialFetchState> {
  readonly #states: ReadonlyMap<string, S>;
  #waiters: Waiter[] = [];

  /** `states` is the manager's own map, read live (a name it no longer holds counts as settled). */
  constructor(states: ReadonlyMap<string, S>) {
    this.#states = states;
  }

  /** True when every name has settled; names not subscribed count as settled. */
  settled(names: readonly string[]): boolean {
    return names.every((n) => this.#states.get(n)?.settled ?? true);
  }

  /** Resolves once settled(names). */
  whenSettled(names: readonly string[]): Promise<void> {
    if (this.settled(names)) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ names, resolve }));
  }

  /**
   * Starts the initial_fetch_timeout of a new state (none when `timeoutMs` is 0). When it
   * elapses with the name neither settled nor replaced in the map meanwhile, `onTimeout` runs
   * (stats, log), then the name settles and its waiters wake.
   */
  startTimer(name: string, st: S, timeoutMs: number, onTimeout: () => void): void {
    if (!(timeoutMs > 0)) return;
    st.timer = setTimeout(() => {
      st.timer = undefined;
      if (st.settled || this.#states.get(name) !== st) return;
      onTimeout();
      this.settle(st);
      this.wake();
    }, timeoutMs);
    st.timer.unref();
  }

  /** The name's first update was applied or rejected: settled, timer stopped. */
  settle(st: S): void {
    st.settled = true;
    if (st.timer) clearTimeout(st.timer);
    st.timer = undefined;
  }

  /** Stops a state's timer (the name is forgotten, or the manager closes). */
  stopTimer(st: S): void {
    if (st.timer) clearTimeout(st.timer);
  }

  /** Resolves the waiters whose names have all settled. */
  wake(): void {
    const left: Waiter[] = [];
    for (const w of this.#waiters) (this.settled(w.names) ? w.resolve() : left.push(w));
    this.#waiters = left;
  }
}
