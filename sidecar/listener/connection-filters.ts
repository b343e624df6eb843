/**
 * Non-terminal network filters at run time: a filter chain's filters before
 * its terminal one (istio.metadata_exchange, set_filter_state, istio.stats,
 * network rbac ...) run on each new connection, in configured order, before
 * the terminal handler (http_connection_manager, tcp_proxy) takes it. A
 * filter may close the connection; the terminal handler then never sees it.
 */
import type { Socket } from 'node:net';
import type { ConnectionFilter, ConnectionHandler, DownstreamConnectionFacts, NetworkFilterConnection } from '../contracts/extension.ts';

/** A configured non-terminal filter with its name, for logs. */
export interface NamedConnectionFilter {
  readonly name: string;
  readonly filter: ConnectionFilter;
}

/**
 * A ConnectionHandler that runs `filters` on every connection before
 * handing it to `terminal`. Draining, closing and counting are the
 * terminal handler's.
 */
export function withConnectionFilters(
  filters: readonly NamedConnectionFilter[],
  terminal: ConnectionHandler,
  log: { debug(o: object, m: string): void },
): ConnectionHandler {
  if (filters.length === 0) return terminal;
  return {
    handle(socket: Socket, facts: DownstreamConnectionFacts): void {
      const conn: NetworkFilterConnection = { ...facts, filterState: new Map() };
      for (const f of filters) {
        const status = f.filter.onNewConnection(socket, conn);
        if (status !== 'continue') {
          log.debug({ filter: f.name, remote: facts.remoteAddress, reason: status.close }, 'network filter closed the connection');
          socket.destroy();
          return;
        }
        if (socket.destroyed) return;
      }
      terminal.handle(socket, conn);
    },
    drain: () => terminal.drain(),
    closeAll: () => terminal.closeAll(),
    close: () => terminal.close?.(),
    get activeConnections() {
      return terminal.activeConnections;
    },
  };
}
