/**
 * The secret store: TLS secrets by name, from static_resources.secrets and
 * from SDS (over ADS or a separate SDS server, as Istio's pilot-agent serves
 * `default` and `ROOTCA`). Transport sockets watch the names they use; a
 * rotated secret reaches new handshakes at once while established
 * connections keep the session they have.
 */
import type { SecretMaterial, SecretProvider } from '../contracts/transport-socket.ts';

/** Secrets by name, with watchers. */
export class SecretStore implements SecretProvider {
  private readonly secrets = new Map<string, SecretMaterial>();
  private readonly watchers = new Map<string, Set<(s: SecretMaterial) => void>>();
  /** When each secret last changed (config_dump last_updated). */
  private readonly updated = new Map<string, Date>();

  get(name: string): SecretMaterial | undefined {
    return this.secrets.get(name);
  }

  watch(name: string, cb: (s: SecretMaterial) => void): () => void {
    let set = this.watchers.get(name);
    if (!set) this.watchers.set(name, (set = new Set()));
    set.add(cb);
    return () => {
      set.delete(cb);
      if (set.size === 0) this.watchers.delete(name);
    };
  }

  /** Stores (or replaces) a secret and tells its watchers. */
  set(material: SecretMaterial): void {
    this.secrets.set(material.name, material);
    this.updated.set(material.name, new Date());
    for (const cb of this.watchers.get(material.name) ?? []) cb(material);
  }

  /** Forgets a secret (SDS removal); connections already up keep their session. */
  delete(name: string): void {
    this.secrets.delete(name);
    this.updated.delete(name);
  }

  /** Names that somebody watches (the SDS subscription set). */
  watchedNames(): string[] {
    return [...this.watchers.keys()];
  }

  /** Every secret with when it changed, for /config_dump. */
  entries(): Array<{ material: SecretMaterial; updated: Date }> {
    return [...this.secrets.values()].map((material) => ({ material, updated: this.updated.get(material.name)! }));
  }
}
