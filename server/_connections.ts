/**
 * The connection table of server/mod.ts: every connection served, its running handlers, its
 * timeouts (counted in sweeps, not timers: a request costs two integer updates) and eviction
 * at the connection limit. What a connection costs: docs/bench.md.
 *
 * @module
 */
import type {
  ConnectionHandle,
  ConnectionHandler,
  ConnectionServer,
} from "./_connection_server.ts";

/** How often connections are checked against their timeouts: the timeouts' granularity. */
export const SWEEP_MS = 1000;

/** One served connection. */
export class Connection {
  /** Handlers running now. */
  running = 0;
  /** Requests it has answered; 0 means it is still within its header-read timeout. */
  requests = 0;
  /** The sweep count when `running` last fell to 0 (or when it was accepted). */
  idleSince: number;
  /** Its serve ended, or it was closed: never close it (again). */
  finished = false;
  /** Deno's server for it. */
  readonly handle: ConnectionHandle;

  /** Serve `tcp` on Deno's per-connection server, and leave `table` when it closes. */
  constructor(table: ConnectionTable, tcp: Deno.Conn) {
    this.idleSince = table.tick;
    this.handle = table.connectionServer(
      tcp,
      (request, info) => table.handle(this, request, info),
      table.onError,
    );
    const forget = () => table.forget(this);
    this.handle.finished.then(forget, forget);
  }
}

/** Options of {@linkcode ConnectionTable}. */
export interface ConnectionTableOptions {
  /** Deno's per-connection server (`_connection_server.ts`). */
  connectionServer: ConnectionServer;
  /** The app. */
  handler: ConnectionHandler;
  /** The answer when the app throws. */
  onError: (error: unknown) => Response;
  /** Sweeps a connection may wait for its first whole request. */
  headerTicks: number;
  /** Sweeps a connection with no handler running may stay open after its last response. */
  idleTicks: number;
}

/** The connections of one server. */
export class ConnectionTable {
  /** Sweeps so far. */
  tick = 0;
  /** Handlers still running (those that answered with a promise). */
  inFlight = 0;
  /** Deno's per-connection server. */
  readonly connectionServer: ConnectionServer;
  /** The answer when the app throws. */
  readonly onError: (error: unknown) => Response;
  /** Called when `inFlight` falls to 0. */
  whenIdle: (() => void) | undefined;
  /** Called when the last connection is gone. */
  whenEmpty: (() => void) | undefined;
  readonly #connections = new Set<Connection>();
  /** Idle connections, idlest last, as {@linkcode ConnectionTable.evictIdlest} last sorted them. */
  #idle: { conn: Connection; since: number }[] = [];
  readonly #handler: ConnectionHandler;
  readonly #headerTicks: number;
  readonly #idleTicks: number;
  readonly #sweeper: ReturnType<typeof setInterval>;

  /** Start the sweeps; they never keep the process alive. */
  constructor(options: ConnectionTableOptions) {
    this.connectionServer = options.connectionServer;
    this.onError = options.onError;
    this.#handler = options.handler;
    this.#headerTicks = options.headerTicks;
    this.#idleTicks = options.idleTicks;
    this.#sweeper = setInterval(() => this.#sweep(), SWEEP_MS);
    Deno.unrefTimer(this.#sweeper);
  }

  /** Connections open now. */
  get size(): number {
    return this.#connections.size;
  }

  /** Serve a connection just accepted. */
  add(tcp: Deno.Conn): void {
    this.#connections.add(new Connection(this, tcp));
  }

  /** Run the app for one request of `conn`, counting it as running until it answers. */
  handle(
    conn: Connection,
    request: Request,
    info: Deno.ServeHandlerInfo<Deno.NetAddr>,
  ): Response | Promise<Response> {
    conn.running++;
    conn.requests++;
    let result;
    try {
      result = this.#handler(request, info);
    } catch (error) {
      this.#release(conn);
      throw error;
    }
    if (result instanceof Response) {
      this.#release(conn);
      return result;
    }
    this.inFlight++;
    return result.finally(() => {
      this.#release(conn);
      if (--this.inFlight === 0) this.whenIdle?.();
    });
  }

  /** Drop `conn` from the table: its serve ended. */
  forget(conn: Connection): void {
    conn.finished = true;
    this.#connections.delete(conn);
    if (this.#connections.size === 0) this.whenEmpty?.();
  }

  /**
   * Close the connection idle longest (no handler running: a keep-alive connection between
   * requests, or one that has not sent a whole request yet), to make room for a new one.
   * Idle time is counted in sweeps; among equals the oldest connection goes. Resolves to
   * whether one was closed: `false` when every connection has a handler running.
   */
  evictIdlest(): boolean {
    const idlest = this.#nextIdlest();
    if (idlest === undefined) return false;
    // At once, not gracefully: a client stalled mid-body would ignore a graceful close.
    this.#closeNow(idlest);
    this.forget(idlest);
    return true;
  }

  /**
   * The connection idle longest, from the idle connections sorted once at the limit and again
   * when they are used up or a sweep passed: in a flood of connections at the limit each costs
   * about 4 µs, not a scan of the whole table (80-90 µs at 16,384; Deno.bench, evict and add).
   * An entry holds while its connection is open, idle, and idle since the same sweep; one not
   * in the list, or busy since, became idle later than every entry.
   */
  #nextIdlest(): Connection | undefined {
    for (let sorted = false;; sorted = true) {
      while (this.#idle.length > 0) {
        const { conn, since } = this.#idle.pop()!;
        if (!conn.finished && conn.running === 0 && conn.idleSince === since) return conn;
      }
      if (sorted) return undefined;
      for (const conn of this.#connections) {
        if (conn.running === 0) this.#idle.push({ conn, since: conn.idleSince });
      }
      // Idlest last, for pop(); the sort is stable, so the oldest among equals comes out first.
      this.#idle.reverse().sort((a, b) => b.since - a.since);
    }
  }

  /** Stop the sweeps and close every idle connection gracefully; the others after their response. */
  shutdown(): void {
    clearInterval(this.#sweeper);
    for (const conn of this.#connections) conn.handle.shutdown().catch(() => {});
  }

  /** Close every connection still open at once (clients not reading, stalled mid-body). */
  closeAll(): void {
    for (const conn of this.#connections) this.#closeNow(conn);
  }

  #release(conn: Connection) {
    if (--conn.running === 0) conn.idleSince = this.tick;
  }

  #closeNow(conn: Connection) {
    if (conn.finished) return;
    conn.finished = true;
    conn.handle.close();
  }

  #sweep() {
    const tick = ++this.tick;
    // Sorted again at the next eviction: the list keeps no closed connection alive past a sweep.
    this.#idle.length = 0;
    for (const conn of this.#connections) {
      if (conn.running > 0) continue;
      const limit = conn.requests === 0 ? this.#headerTicks : this.#idleTicks;
      if (tick - conn.idleSince > limit) this.#closeNow(conn);
    }
  }
}
