/**
 * `envoy.filters.http.ext_authz` (envoy.extensions.filters.http.ext_authz.v3.ExtAuthz)
 * is a security filter and is not implemented yet. It is registered so that
 * every config naming it is refused with this reason, also when the entry is
 * `is_optional` (an optional unknown filter would otherwise be skipped with a
 * warning, and requests would pass unchecked). Never accepted without
 * enforcement (ARCHITECTURE.md).
 *
 * Plan (docs/compatibility.md, "ext_authz plan"): grpc_service (envoy_grpc
 * to a cluster, envoy.service.auth.v3.Authorization/Check with
 * AttributeContext from the request and connection) and http_service;
 * timeout; failure_mode_allow (+ x-envoy-auth-failure-mode-allowed);
 * with_request_body (buffered up to max_request_bytes, allow_partial_message);
 * status_on_error; headers_to_add / upstream and downstream header mutations
 * from the OkHttpResponse / DeniedHttpResponse; filter_enabled and
 * filter_enabled_metadata (Istio's CUSTOM action keys it on the RBAC shadow
 * policy id in dynamic metadata: needs the RBAC filter's metadata); stats
 * `http.<prefix>.ext_authz.ok/denied/error/failure_mode_allowed`; %RESPONSE_FLAGS% UAEX.
 */
import { ConfigError, type ParseResult } from '../../../../sidecar/contracts/errors.ts';
import type { ExtensionRegistry, HttpFilterExtension } from '../../../../sidecar/contracts/extension.ts';

/** Type name of the filter config. */
export const EXT_AUTHZ_TYPE = 'envoy.extensions.filters.http.ext_authz.v3.ExtAuthz';

/** The refusal every config of the filter gets. */
export const EXT_AUTHZ_REFUSAL = 'envoy.filters.http.ext_authz is a security filter that is not implemented yet; refused (also when is_optional) rather than letting requests through unchecked';

/** Registers the refusing envoy.filters.http.ext_authz. */
export function setup(registry: ExtensionRegistry): void {
  const ext: HttpFilterExtension<never> = {
    category: 'envoy.filters.http',
    names: ['envoy.filters.http.ext_authz', 'envoy.ext_authz'],
    typeNames: [EXT_AUTHZ_TYPE],
    parse(_cfg, ctx): ParseResult<never> {
      return { ok: false, errors: [new ConfigError(ctx.path, EXT_AUTHZ_REFUSAL)] };
    },
    createFactory() {
      throw new ConfigError('', EXT_AUTHZ_REFUSAL);
    },
  };
  registry.register(ext);
}
