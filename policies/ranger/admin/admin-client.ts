/**
 * The Ranger Admin REST client of a plugin (Ranger's RangerAdminRESTClient):
 * downloads a service's policies and roles if they changed since the
 * version the plugin knows.
 *
 *   GET {admin}/service/plugins/policies/download/{service}          (secure: /service/plugins/secure/policies/download/)
 *       ?lastKnownVersion=&lastActivationTime=&pluginId=&clusterName=&supportsPolicyDeltas=false
 *   GET {admin}/service/roles/download/{service}                     (secure: /service/roles/secure/download/)
 *       ?lastKnownRoleVersion=&lastActivationTime=&pluginId=&clusterName=
 *
 * Answers, as RangerAdminRESTClient reads them: 200 carries new
 * ServicePolicies / RangerRoles JSON; 304 and 204 mean unchanged; 404 means
 * the service does not exist (RangerServiceNotFoundException: the plugin
 * drops its policies and its cache); anything else, a network error, a
 * timeout or a body that is not JSON is a failed download that changes
 * nothing. We never ask for deltas (supportsPolicyDeltas=false), so a 200 is
 * always the complete policy set.
 */

/** The part of the Fetch API the client uses (injectable for tests). */
export type AdminFetch = (url: string, init: { signal: AbortSignal; headers: Record<string, string> }) => Promise<{ status: number; text(): Promise<string> }>;

/** Where the Admin is and who we are to it. */
export interface RangerAdminClientOptions {
  /** `http://ranger-admin:6080` (a trailing `/` is dropped). */
  readonly adminUrl: string;
  readonly serviceName: string;
  /** Use the `secure` download endpoints (authenticated deployments). */
  readonly secure?: boolean;
  /** Ranger's pluginId (`appId@host-service`). */
  readonly pluginId: string;
  readonly clusterName?: string;
  /** Per-request timeout in milliseconds (headers and body). */
  readonly timeoutMs: number;
  /** Extra request headers (e.g. authorization for the secure endpoints). */
  readonly headers?: Readonly<Record<string, string>>;
  readonly fetch?: AdminFetch;
}

/** The outcome of one download. */
export type AdminDownload =
  | { readonly kind: 'updated'; readonly body: Record<string, unknown> }
  | { readonly kind: 'unchanged'; readonly status: number }
  | { readonly kind: 'not_found'; readonly message: string }
  | { readonly kind: 'failed'; readonly reason: string };

/** Ranger's REST paths (RangerRESTUtils). */
export const RANGER_PATHS = Object.freeze({
  policies: '/service/plugins/policies/download/',
  securePolicies: '/service/plugins/secure/policies/download/',
  roles: '/service/roles/download/',
  secureRoles: '/service/roles/secure/download/',
});

/** One Admin, one service. */
export class RangerAdminClient {
  private readonly opts: RangerAdminClientOptions;
  private readonly base: string;
  private readonly fetchFn: AdminFetch;

  constructor(opts: RangerAdminClientOptions) {
    this.opts = opts;
    this.base = opts.adminUrl.replace(/\/+$/, '');
    this.fetchFn = opts.fetch ?? (globalThis.fetch as unknown as AdminFetch);
  }

  /** The policies URL for a known version (exported for logs and tests). */
  policiesUrl(lastKnownVersion: number, lastActivationTime: number): string {
    const q = new URLSearchParams({
      lastKnownVersion: String(lastKnownVersion),
      lastActivationTime: String(lastActivationTime),
      pluginId: this.opts.pluginId,
      clusterName: this.opts.clusterName ?? '',
      supportsPolicyDeltas: 'false',
    });
    const p = this.opts.secure ? RANGER_PATHS.securePolicies : RANGER_PATHS.policies;
    return `${this.base}${p}${encodeURIComponent(this.opts.serviceName)}?${q.toString()}`;
  }

  /** The roles URL for a known role version. */
  rolesUrl(lastKnownRoleVersion: number, lastActivationTime: number): string {
    const q = new URLSearchParams({
      lastKnownRoleVersion: String(lastKnownRoleVersion),
      lastActivationTime: String(lastActivationTime),
      pluginId: this.opts.pluginId,
      clusterName: this.opts.clusterName ?? '',
    });
    const p = this.opts.secure ? RANGER_PATHS.secureRoles : RANGER_PATHS.roles;
    return `${this.base}${p}${encodeURIComponent(this.opts.serviceName)}?${q.toString()}`;
  }

  /** ServicePolicies if changed since `lastKnownVersion` (-1: never loaded). */
  downloadPolicies(lastKnownVersion: number, lastActivationTime: number): Promise<AdminDownload> {
    return this.get(this.policiesUrl(lastKnownVersion, lastActivationTime));
  }

  /** RangerRoles if changed since `lastKnownRoleVersion` (-1: never loaded). */
  downloadRoles(lastKnownRoleVersion: number, lastActivationTime: number): Promise<AdminDownload> {
    return this.get(this.rolesUrl(lastKnownRoleVersion, lastActivationTime));
  }

  private async get(url: string): Promise<AdminDownload> {
    const signal = AbortSignal.timeout(this.opts.timeoutMs);
    try {
      const res = await this.fetchFn(url, { signal, headers: { accept: 'application/json', ...this.opts.headers } });
      // The body is read (and so the connection released) in every case.
      const text = await res.text();
      if (res.status === 304 || res.status === 204) return { kind: 'unchanged', status: res.status };
      if (res.status === 404) return { kind: 'not_found', message: text.slice(0, 512) };
      if (res.status !== 200) return { kind: 'failed', reason: `HTTP ${res.status}` };
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch (e) {
        return { kind: 'failed', reason: `malformed JSON: ${(e as Error).message}` };
      }
      if (typeof body !== 'object' || body === null || Array.isArray(body)) return { kind: 'failed', reason: 'malformed download: not a JSON object' };
      return { kind: 'updated', body: body as Record<string, unknown> };
    } catch (e) {
      if (signal.aborted) return { kind: 'failed', reason: `timed out after ${this.opts.timeoutMs} ms` };
      const err = e as Error & { cause?: { code?: string; message?: string } };
      return { kind: 'failed', reason: err.cause?.code ?? err.cause?.message ?? err.message };
    }
  }
}
