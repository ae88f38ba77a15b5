/**
 * The one module that reaches into Deno's internals: Deno's server for one accepted connection
 * (`Deno[Deno.internal].serveHttpOnConnection`, what `Deno.serve` runs per connection). Serving
 * each connection ourselves gives the header-read and idle timeouts and the connection limit
 * Deno.serve lacks; server/mod.ts falls back to public `Deno.serve` when it is gone.
 *
 * @module
 */

/** One connection served by Deno's per-connection server. */
export interface ConnectionHandle {
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
export type ConnectionServer = (
  conn: Deno.Conn,
  handler: ConnectionHandler,
  onError: (error: unknown) => Response,
) => ConnectionHandle;

type Internal = (
  conn: Deno.Conn,
  signal: { addEventListener(type: "abort", listener: () => void): void },
  handler: ConnectionHandler,
  onError: (error: unknown) => Response,
  onListen: () => void,
) => { finished: Promise<void>; shutdown(): Promise<void> };

/**
 * The handle of a connection on Deno's internal server, which is also the "signal" that server
 * is given: all Deno does with it is register the function that closes the connection at once
 * (`op_http_cancel`). Holding that function instead of an AbortController per connection saves
 * memory (docs/bench.md), and calling it here catches its one expected error (BadResource).
 */
class InternalConnectionHandle implements ConnectionHandle {
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
 * const serve = findConnectionServer(Deno);
 * console.log(serve ? "limits enforced" : "public Deno.serve only");
 * ```
 */
export function findConnectionServer(deno: object): ConnectionServer | undefined {
  let serve: unknown;
  try {
    // deno-lint-ignore no-explicit-any
    serve = (deno as any)[(deno as any).internal]?.serveHttpOnConnection;
  } catch {
    return undefined;
  }
  if (typeof serve !== "function") return undefined;
  return (conn, handler, onError) => {
    const served = new InternalConnectionHandle();
    return served.serve((serve as Internal)(conn, served, handler, onError, noop));
  };
}

function noop() {}

/** This Deno's per-connection server, or `undefined` when it has none. */
export const denoConnectionServer: ConnectionServer | undefined = findConnectionServer(Deno);
