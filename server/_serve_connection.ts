/**
 * The one place that reaches into Deno's internals: its server for one accepted connection,
 * which `Deno.serve` runs for each connection of its listener (the same native HTTP/1.1 and
 * HTTP/2 stack). Deno.serve (2.9) has no header-read or idle timeout, no connection limit, and
 * ends its accept loop for good on `Too many open files`; serving each connection ourselves
 * gives all three (server.ts). It is internal (`Deno[Deno.internal].serveHttpOnConnection`,
 * used by Deno's own tests and once moved behind a lazy accessor already), so it is looked up
 * here only, and server.ts falls back to public `Deno.serve` when it is gone.
 *
 * @module
 */

/** One connection served by Deno's per-connection server. */
export interface ServedConnection {
  /** Settles once the connection is closed. */
  readonly finished: Promise<void>;
  /** Close gracefully: at once when idle, after the running response otherwise. */
  shutdown(): Promise<void>;
  /**
   * Close at once, whatever the connection is doing (a client stalled mid-body or not reading
   * its response ignores a graceful shutdown). Safe to call twice, and after it closed.
   */
  close(): void;
}

/** A request handler as Deno's servers call it. */
export type ConnectionHandler = (
  request: Request,
  info: Deno.ServeHandlerInfo<Deno.NetAddr>,
) => Response | Promise<Response>;

/** Serve HTTP (1.1, or 2 with prior knowledge) on one accepted connection until it closes. */
export type ServeConnection = (
  conn: Deno.Conn,
  handler: ConnectionHandler,
  onError: (error: unknown) => Response,
) => ServedConnection;

type Internal = (
  conn: Deno.Conn,
  signal: { addEventListener(type: "abort", listener: () => void): void },
  handler: ConnectionHandler,
  onError: (error: unknown) => Response,
  onListen: () => void,
) => { finished: Promise<void>; shutdown(): Promise<void> };

/**
 * A served connection, which is also the "signal" Deno's server is given: all Deno does with
 * its signal is register, once, the function that closes the connection at once
 * (`op_http_cancel`). Holding that function instead of an AbortController per connection
 * saves about 0.9 KiB per connection (measured, 3,000 idle connections), and calling it here
 * lets its one expected error be caught: BadResource, when the connection had closed an
 * instant before.
 */
class Served implements ServedConnection {
  finished: Promise<void> = Promise.resolve();
  #served: { shutdown(): Promise<void> } | undefined;
  #cancel: (() => void) | undefined;

  /** Deno's server registers its hard close here, as on an AbortSignal. */
  addEventListener(_type: "abort", listener: () => void): void {
    this.#cancel = listener;
  }

  serve(served: { finished: Promise<void>; shutdown(): Promise<void> }): this {
    this.#served = served;
    this.finished = served.finished;
    return this;
  }

  shutdown(): Promise<void> {
    return this.#served?.shutdown() ?? Promise.resolve();
  }

  close(): void {
    const cancel = this.#cancel;
    this.#cancel = undefined;
    try {
      cancel?.();
    } catch (error) {
      if (!(error instanceof Deno.errors.BadResource)) throw error;
    }
  }
}

/**
 * Deno's per-connection server found in `deno` (the `Deno` namespace, or a stand-in in tests),
 * or `undefined` when this Deno has none.
 *
 * @example
 * ```ts
 * const serve = findServeConnection(Deno);
 * console.log(serve ? "limits enforced" : "public Deno.serve only");
 * ```
 */
export function findServeConnection(deno: object): ServeConnection | undefined {
  let serve: unknown;
  try {
    // deno-lint-ignore no-explicit-any
    serve = (deno as any)[(deno as any).internal]?.serveHttpOnConnection;
  } catch {
    return undefined;
  }
  if (typeof serve !== "function") return undefined;
  return (conn, handler, onError) => {
    const served = new Served();
    return served.serve((serve as Internal)(conn, served, handler, onError, noop));
  };
}

function noop() {}

/** This Deno's per-connection server, or `undefined` when it has none. */
export const serveConnection: ServeConnection | undefined = findServeConnection(Deno);
