/**
 * Connections are bounded: one that sends no whole request in time (idle socket, slowloris),
 * or stays idle, stalled mid-body or not reading after its last response, is closed; at the
 * connection limit a new one closes the one idle longest, or is closed at once when none is
 * idle; without Deno's per-connection server, public Deno.serve serves. Real sockets on
 * 127.0.0.1, short timeouts.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createLogger } from "../server/logger.ts";
import {
  canServeConnections,
  LOST_WITHOUT_CONNECTIONS,
  type RunningServer,
  startServer,
} from "../server/mod.ts";
import { findConnectionServer } from "../server/_connection_server.ts";
import { ConnectionTable } from "../server/_connections.ts";
import { delay, poll } from "../tasks/_lib/mod.ts";
import { freshHealth } from "./_server_process.ts";
import { recordingLogger } from "./_log.ts";

const quiet = createLogger({ level: "error", format: "json", write: () => {} });
const encoder = new TextEncoder();
/** Short limits for the tests; the server checks them once a second. */
const HEADER_MS = 1000;
const IDLE_MS = 2000;
/** How late past its timeout a connection may close: one sweep, plus a loaded machine's slack. */
const SLACK_MS = 3000;

function serve(
  options: { maxConnections?: number } = {},
  handler: () => Response | Promise<Response> = () => new Response("ok"),
): Promise<RunningServer> {
  return startServer(handler, {
    port: 0,
    host: "127.0.0.1",
    logger: quiet,
    shutdownTimeoutMs: 1000,
    headerTimeoutMs: HEADER_MS,
    idleTimeoutMs: IDLE_MS,
    ...options,
  });
}

function connect(server: RunningServer): Promise<Deno.TcpConn> {
  return Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
}

/** Reads until the server closes the connection; resolves to the ms it took and what came. */
async function untilClosed(conn: Deno.TcpConn, limitMs: number) {
  const start = performance.now();
  const buffer = new Uint8Array(4096);
  let text = "";
  const timer = setTimeout(() => conn.close(), limitMs);
  try {
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) break;
      text += new TextDecoder().decode(buffer.subarray(0, n));
    }
  } catch {
    // reset by the server, or closed by the limit above
  } finally {
    clearTimeout(timer);
  }
  return { ms: performance.now() - start, text };
}

function assertClosedAfter(ms: number, timeoutMs: number, what: string) {
  assert.ok(ms >= timeoutMs * 0.9, `${what}: closed after ${Math.round(ms)} ms, not before`);
  assert.ok(ms < timeoutMs + SLACK_MS, `${what}: closed after ${Math.round(ms)} ms, in time`);
}

Deno.test("this Deno serves single connections (Deno.serve's own per-connection server)", () => {
  assert.equal(canServeConnections, true, "Deno[Deno.internal].serveHttpOnConnection is gone");
});

Deno.test("a connection that sends nothing, or half a header, is closed after the header timeout", async () => {
  const server = await serve();
  try {
    const silent = await connect(server);
    const partial = await connect(server);
    await partial.write(encoder.encode("GET /health HTTP/1.1\r\nHost: a\r\nX-Slow: "));
    const [a, b] = await Promise.all([
      untilClosed(silent, HEADER_MS * 10),
      untilClosed(partial, HEADER_MS * 10),
    ]);
    assertClosedAfter(a.ms, HEADER_MS, "silent");
    assertClosedAfter(b.ms, HEADER_MS, "half a header");
    assert.equal(b.text, "", "no response to half a request");
  } finally {
    await server.shutdown();
  }
});

Deno.test("an idle keep-alive connection, or one stalled mid-body, is closed after the idle timeout", async () => {
  const server = await serve();
  try {
    const idle = await connect(server);
    await idle.write(encoder.encode("GET /health HTTP/1.1\r\nHost: a\r\n\r\n"));
    const stalled = await connect(server);
    await stalled.write(
      encoder.encode("POST /health HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123"),
    );
    const [a, b] = await Promise.all([
      untilClosed(idle, IDLE_MS * 10),
      untilClosed(stalled, IDLE_MS * 10),
    ]);
    assert.match(a.text, /^HTTP\/1\.1 200/, "the request was answered first");
    assertClosedAfter(a.ms, IDLE_MS, "idle keep-alive");
    assertClosedAfter(b.ms, IDLE_MS, "stalled mid-body");
    // The server itself still answers.
    const response = await fetch(`${server.url}/health`);
    assert.equal(response.status, 200);
    await response.body?.cancel();
  } finally {
    await server.shutdown();
  }
});

/** Send one request on `conn` and read its answer's status line. */
async function ask(conn: Deno.TcpConn, path = "/health"): Promise<string> {
  await conn.write(encoder.encode(`GET ${path} HTTP/1.1\r\nHost: a\r\n\r\n`));
  const buffer = new Uint8Array(4096);
  const n = await conn.read(buffer);
  return n === null ? "" : new TextDecoder().decode(buffer.subarray(0, n)).split("\r\n")[0];
}

Deno.test("at the connection limit a new connection closes the one idle longest, and is served", async () => {
  const server = await serve({ maxConnections: 2 });
  const first = await connect(server);
  const second = await connect(server);
  try {
    assert.equal(await ask(first), "HTTP/1.1 200 OK");
    // A second later, so that `first` has been idle for longer (idle time is counted per sweep).
    await delay(1100);
    assert.equal(await ask(second), "HTTP/1.1 200 OK");
    const third = await connect(server);
    try {
      const evicted = await untilClosed(first, HEADER_MS * 10);
      assert.ok(evicted.ms < HEADER_MS * 0.9, `closed at once (${Math.round(evicted.ms)} ms)`);
      assert.equal(await ask(third), "HTTP/1.1 200 OK", "the new connection is served");
      assert.equal(await ask(second), "HTTP/1.1 200 OK", "the other one is left alone");
    } finally {
      third.close();
    }
  } finally {
    second.close();
    await server.shutdown();
  }
});

Deno.test("at the connection limit with a handler running on every connection, new connections are closed at once, and serving goes on", async () => {
  const release = Promise.withResolvers<void>();
  let started = 0;
  const server = await serve({ maxConnections: 2 }, async () => {
    started++;
    await release.promise;
    return new Response("ok");
  });
  const held = [await connect(server), await connect(server)];
  const answers = held.map((conn) => ask(conn));
  try {
    const running = await poll(() => Promise.resolve(started === 2 || undefined), {
      timeoutMs: 5000,
      intervalMs: 10,
    });
    assert.equal(running, true, `a handler runs on each held connection (${started} of 2)`);
    const third = await connect(server);
    const { ms, text } = await untilClosed(third, HEADER_MS * 10);
    assert.equal(text, "");
    assert.ok(ms < HEADER_MS * 0.9, `closed at once (${Math.round(ms)} ms), not by a timeout`);
  } finally {
    release.resolve();
    assert.deepEqual(await Promise.all(answers), ["HTTP/1.1 200 OK", "HTTP/1.1 200 OK"]);
    for (const conn of held) conn.close();
  }
  // Once the held ones are gone, new clients are served again (0 while still at the limit).
  const status = await poll(async () => {
    const status = await freshHealth(server.url, 1000);
    return status === 200 ? status : undefined;
  }, { timeoutMs: 1000, intervalMs: 50 });
  await server.shutdown();
  assert.equal(status, 200);
});

Deno.test("without Deno's per-connection server, public Deno.serve serves and says once what is lost", async () => {
  const log = recordingLogger();
  const server = await startServer(() => new Response("ok"), {
    port: 0,
    host: "127.0.0.1",
    logger: log.logger,
    shutdownTimeoutMs: 1000,
    connectionServer: null,
  });
  try {
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`${server.url}/health`);
      assert.equal(response.status, 200);
      assert.equal(await response.text(), "ok");
    }
  } finally {
    assert.deepEqual(await server.shutdown(), { outcome: "drained", running: 0 });
  }
  const warnings = log.lines().filter((line) => line.level === "warn");
  assert.equal(warnings.length, 1, "said once");
  assert.match(warnings[0].msg, /^serving without connection limits/);
  assert.equal(warnings[0].lost, LOST_WITHOUT_CONNECTIONS);
});

Deno.test("the adapter finds Deno's per-connection server, and reports none where it is gone", () => {
  assert.equal(typeof findConnectionServer(Deno), "function");
  const internal = Symbol("internal");
  assert.equal(findConnectionServer({ internal, [internal]: {} }), undefined);
  assert.equal(findConnectionServer({}), undefined);
  const throwing = {
    internal,
    get [internal]() {
      throw new Error("moved");
    },
  };
  assert.equal(findConnectionServer(throwing), undefined);
});

/**
 * A connection table on a stand-in for Deno's per-connection server: a connection is a
 * number, its requests are run by hand, and what is closed is recorded in order.
 */
function standInTable() {
  const closed: number[] = [];
  const requests = new Map<number, () => Response | Promise<Response>>();
  const info: Deno.ServeHandlerInfo<Deno.NetAddr> = {
    remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 1 },
    completed: Promise.resolve(),
  };
  const held = new Map<number, PromiseWithResolvers<void>>();
  const table = new ConnectionTable({
    connectionServer: (tcp, handler) => {
      const id = (tcp as unknown as { id: number }).id;
      const ended = Promise.withResolvers<void>();
      requests.set(id, () => handler(new Request(`http://a/${id}`), info));
      return {
        finished: ended.promise,
        shutdown: () => Promise.resolve(),
        close: () => {
          closed.push(id);
          ended.resolve();
        },
      };
    },
    handler: async (request) => {
      await held.get(Number(new URL(request.url).pathname.slice(1)))?.promise;
      return new Response("ok");
    },
    onError: () => new Response(null, { status: 500 }),
    headerTicks: 100,
    idleTicks: 100,
  });
  return {
    table,
    closed,
    add: (id: number) => table.add({ id } as unknown as Deno.Conn),
    /** One request on `id`, answered at once. */
    ask: (id: number) => requests.get(id)!(),
    /** One request on `id` that runs until the function returned is called. */
    hold(id: number): () => Promise<unknown> {
      const release = Promise.withResolvers<void>();
      held.set(id, release);
      const answered = requests.get(id)!();
      return () => {
        held.delete(id);
        release.resolve();
        return Promise.resolve(answered);
      };
    },
  };
}

Deno.test("at the limit the idlest connection goes first, the oldest among equals, never one with a handler running", async () => {
  const { table, closed, add, ask, hold } = standInTable();
  try {
    table.tick = 5;
    for (const id of [1, 2, 3]) add(id);
    table.tick = 6;
    await ask(1); // idle since 6
    table.tick = 7;
    const release2 = hold(2); // running
    assert.deepEqual([table.evictIdlest(), table.evictIdlest()], [true, true]);
    assert.deepEqual(closed, [3, 1], "idle since 5, then since 6");
    assert.equal(table.evictIdlest(), false, "the one left has a handler running");
    table.tick = 8;
    add(4); // idle since 8
    await release2(); // 2: idle since 8 too, and older
    for (const id of [5, 6]) add(id);
    table.tick = 9;
    await ask(5); // busy again: idle since 9 now
    assert.deepEqual([table.evictIdlest(), table.evictIdlest(), table.evictIdlest()], [
      true,
      true,
      true,
    ]);
    assert.deepEqual(closed, [3, 1, 2, 4, 6], "since 8 (2 before 4, then 6), not 5");
    assert.equal(table.size, 1);
  } finally {
    table.shutdown();
  }
});
