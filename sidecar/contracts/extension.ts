/**
 * The extension registry: every filter, transport socket, access logger ...
 * is registered by its Envoy type URL and well-known name (ARCHITECTURE.md,
 * idea 1). `parse` turns the extension's proto (in canonical JSON form) into
 * a frozen config, returning every error with its field path. Registration is
 * explicit: sidecar/main.ts calls each extension's setup() once.
 */
import type { Socket } from 'node:net';
import type { AccessLoggerFactory } from './access-log.ts';
import type { HttpAsyncClient, HttpFilterFactory } from './http-filter.ts';
import type { ConfigError, ParseResult } from './errors.ts';
import type { StatsScope } from './stats.ts';
import type { TlsConnectionInfo } from './tls.ts';
import type { SecretMaterial, SecretProvider } from './transport-socket.ts';

/** The kinds of extension points Envoy has (the subset we host). */
export type ExtensionCategory =
  | 'envoy.filters.http'
  | 'envoy.filters.network'
  | 'envoy.filters.listener'
  | 'envoy.transport_sockets.downstream'
  | 'envoy.transport_sockets.upstream'
  | 'envoy.access_loggers'
  | 'envoy.upstreams.http'
  | 'envoy.health_checkers';

/** Context handed to `parse`: where the config sits and what it may look up. */
export interface ParseContext {
  /** Field path of the config being parsed, for error messages. */
  readonly path: string;
  /** Warnings to log and count (accepted config that means less than it says). */
  warn(e: ConfigError): void;
}

/** One registered extension. `C` is its validated, frozen config. */
export interface Extension<C = unknown> {
  readonly category: ExtensionCategory;
  /** Well-known names (`envoy.filters.http.router`, deprecated aliases). */
  readonly names: readonly string[];
  /** Type URLs of the config messages it accepts (no `type.googleapis.com/` prefix). */
  readonly typeNames: readonly string[];
  /** Validates the canonical-JSON config. `config` is {} when none was given. */
  parse(config: Record<string, unknown>, ctx: ParseContext): ParseResult<C>;
}

/** The outcome of ExtensionRegistry.resolve. */
export interface ResolvedExtension {
  /** The extension, or undefined when nothing implements it. */
  readonly extension: Extension | undefined;
  /** The config message to parse ({} when none was given). */
  readonly config: Record<string, unknown>;
  /** True when the entry had a typed_config (errors then point at it). */
  readonly typed: boolean;
  /** `type URL '...'` or `name '...'`, for messages. */
  readonly what: string;
}

/** Parses one envoy.extensions.transport_sockets.tls.v3.Secret (canonical JSON) into material. */
export type SecretParser = (json: Record<string, unknown>, path: string, version: string) => ParseResult<SecretMaterial>;

/** Lookup of extensions by category and type name or well-known name. */
export class ExtensionRegistry {
  private readonly byType = new Map<string, Extension>();
  private readonly byName = new Map<string, Extension>();
  private secrets: SecretParser | undefined;

  /** Registers how Secret resources (static_resources.secrets, SDS) are parsed: the TLS extension owns them. */
  registerSecretParser(p: SecretParser): void {
    if (this.secrets) throw new Error('secret parser registered twice');
    this.secrets = p;
  }

  /** The Secret parser, when TLS is built in. */
  get secretParser(): SecretParser | undefined {
    return this.secrets;
  }

  /** Registers one extension; a second registration of the same key is a bug. */
  register(ext: Extension): void {
    for (const t of ext.typeNames) {
      const key = `${ext.category}|${t}`;
      if (this.byType.has(key)) throw new Error(`extension type ${t} registered twice`);
      this.byType.set(key, ext);
    }
    for (const n of ext.names) this.byName.set(`${ext.category}|${n}`, ext);
  }

  /** The extension for a config type name (`envoy.extensions...Router`). */
  byTypeName(category: ExtensionCategory, typeName: string): Extension | undefined {
    return this.byType.get(`${category}|${typeName}`);
  }

  /** The extension for a well-known name (used when no typed_config is given). */
  byWellKnownName(category: ExtensionCategory, name: string): Extension | undefined {
    return this.byName.get(`${category}|${name}`);
  }

  /**
   * Finds the extension of a filter entry (`{name, typed_config}`): by the
   * typed_config's type (TypedStruct unwrapped to its type_url and value), or
   * by the well-known name when there is no typed_config. Returns the config
   * to parse and how to name the type in errors.
   */
  resolve(category: ExtensionCategory, entry: Record<string, unknown>): ResolvedExtension {
    const tc = entry['typed_config'];
    const typed = typeof tc === 'object' && tc !== null ? (tc as Record<string, unknown>) : undefined;
    let typeName = typed ? String(typed['@type'] ?? '').replace(/^.*\//, '') : '';
    let config: Record<string, unknown> = typed ?? {};
    if (typeName === 'xds.type.v3.TypedStruct' || typeName === 'udpa.type.v1.TypedStruct') {
      typeName = String(config['type_url'] ?? '').replace(/^.*\//, '');
      const v = config['value'];
      config = typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {};
    }
    const name = String(entry['name'] ?? '');
    const extension = typeName ? this.byTypeName(category, typeName) : this.byWellKnownName(category, name);
    return {
      extension,
      config,
      typed: typed !== undefined,
      what: typeName ? `type URL 'type.googleapis.com/${typeName}'` : `name '${name}'`,
    };
  }

  /** Every registered type name of a category (for docs and errors). */
  typeNames(category: ExtensionCategory): string[] {
    return [...this.byType.keys()].filter((k) => k.startsWith(`${category}|`)).map((k) => k.slice(category.length + 1));
  }
}

/** What a network filter's handler may use of the process around it. */
export interface NetworkFilterRuntime {
  readonly stats: StatsScope;
  /** The current cluster set (the HCM router and tcp_proxy pick from it). */
  readonly clusters: { cluster(name: string): unknown };
  readonly log: { debug(o: object, m: string): void; info(o: object, m: string): void; warn(o: object, m: string): void };
  /** True once the owning listener drains. */
  draining(): boolean;
  /** Builds an access logger from a validated envoy.access_loggers config. */
  readonly accessLoggers: AccessLoggerFactory;
  /** RDS: the current route table of a route configuration name (filled by xDS). */
  readonly routeConfigs: { get(name: string): unknown };
  /** TLS secrets by name (static_resources.secrets and SDS). */
  readonly secrets: SecretProvider;
  /** ECDS: the current configs of discovered extensions (filled by xDS). */
  readonly extensionConfigs?: ExtensionConfigProvider;
}

/** One validated extension config (a filter's typed_config, an ECDS TypedExtensionConfig, a default_config). */
export interface DiscoveredExtensionConfig {
  readonly extension: Extension;
  readonly config: unknown;
  /** The config's type name (TypedStruct unwrapped), without `type.googleapis.com/`. */
  readonly typeName: string;
}

/**
 * A filter entry's `config_discovery` (envoy.config.core.v3.ExtensionConfigSource),
 * validated: its config is the TypedExtensionConfig named `name`, fetched over ADS.
 */
export interface ExtensionConfigDiscovery {
  /** The resource name: the filter's name. */
  readonly name: string;
  readonly category: ExtensionCategory;
  /** type_urls as type names (no `type.googleapis.com/`): an update of another type is rejected. */
  readonly typeNames: readonly string[];
  /** default_config, validated: used until a config arrives (warming done) or after it is removed. */
  readonly defaultConfig: DiscoveredExtensionConfig | undefined;
  readonly applyDefaultConfigWithoutWarming: boolean;
  /** config_source.initial_fetch_timeout (Envoy's default 15 s; 0: wait forever). */
  readonly initialFetchTimeoutMs: number;
}

/** ECDS: the current accepted config of each extension config name. */
export interface ExtensionConfigProvider {
  /** The last accepted config of the name; undefined before the first one or after its removal. */
  current(name: string): DiscoveredExtensionConfig | undefined;
}

/** What the listener learned about a connection before handing it to a chain. */
export interface DownstreamConnectionFacts {
  /** The TLS session when the chain terminated TLS. */
  readonly tls?: TlsConnectionInfo;
  /** The verified peer identity (URI SAN, else DNS SAN, else subject). */
  readonly peerPrincipal?: string;
  /** SNI (tls_inspector), also for TLS passthrough. */
  readonly serverName?: string;
  /** The underlying TCP socket's addresses (a TLSSocket over a wrapped stream may lack them). */
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
}

/** The per-filter-chain runtime of a terminal network filter. */
export interface ConnectionHandler {
  /** Takes an accepted connection (a TLSSocket when the chain terminates TLS). */
  handle(socket: Socket, facts: DownstreamConnectionFacts): void;
  /** Starts draining: finish in-flight work, ask clients to go away. */
  drain(): void;
  /** Closes every connection now. */
  closeAll(): void;
  /**
   * The chain version is gone (replaced or removed, and drained): release
   * what the config holds (policy pollers, audit sinks). Once.
   */
  close?(): void;
  readonly activeConnections: number;
}

/** A terminal network filter extension (http_connection_manager, tcp_proxy ...). */
export interface NetworkFilterExtension<C = unknown> extends Extension<C> {
  readonly category: 'envoy.filters.network';
  createHandler(config: C, rt: NetworkFilterRuntime): ConnectionHandler;
}

/** What an HTTP filter factory may use: its stats scope (`http.<stat_prefix>.`). */
export interface HttpFilterRuntime {
  readonly stats: StatsScope;
  /** ECDS configs (the dynamic filter of a `config_discovery` entry reads its current config here). */
  readonly extensionConfigs?: ExtensionConfigProvider;
  /** Requests to clusters by name (ext_authz's check calls); absent where no cluster manager is at hand. */
  readonly asyncClient?: HttpAsyncClient;
}

/** An HTTP filter extension (compressor, rbac, jwt_authn ...). */
export interface HttpFilterExtension<C = unknown> extends Extension<C> {
  readonly category: 'envoy.filters.http';
  createFactory(config: C, rt: HttpFilterRuntime): HttpFilterFactory;
}

/** What a non-terminal network filter decides about a new connection. */
export type NetworkFilterStatus = 'continue' | { readonly close: string };

/** The connection as non-terminal network filters see it: the listener's facts and the connection's filter state. */
export interface NetworkFilterConnection extends DownstreamConnectionFacts {
  /**
   * Per-connection filter state (Envoy's StreamInfo filter state), written
   * by filters such as set_filter_state and read by the ones after them.
   */
  readonly filterState: Map<string, unknown>;
}

/**
 * One non-terminal network filter of a filter chain, built once per chain
 * version. Envoy's ReadFilter::onNewConnection: runs synchronously, in
 * configured order, before the chain's terminal filter takes the connection;
 * `{ close }` closes the connection (the reason is logged at debug).
 */
export interface ConnectionFilter {
  onNewConnection(socket: Socket, conn: NetworkFilterConnection): NetworkFilterStatus;
}

/**
 * A non-terminal network filter extension (istio.metadata_exchange,
 * set_filter_state, network rbac ...). A chain's last filter must have
 * `createHandler` (NetworkFilterExtension), every other one
 * `createConnectionFilter`.
 */
export interface ConnectionFilterExtension<C = unknown> extends Extension<C> {
  readonly category: 'envoy.filters.network';
  createConnectionFilter(config: C, rt: NetworkFilterRuntime): ConnectionFilter;
}
