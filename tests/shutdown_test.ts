/**
 * SIGTERM is not held hostage: idle connections and clients that stall mid-body or never read
 * their response do not delay the exit; only handlers still running do, up to
 * SHUTDOWN_TIMEOUT_MS. Also `/ready` and SHUTDOWN_DELAY_MS.
 *
 * Times are compared with the configured timeout or delay, never with absolute thresholds.
 *
 * @module
 */
import assert from "node:assert/strict";
import { parseConfig } from "../config/mod.ts";
import { createLogger } from "../server/logger.ts";
import { createApp } from "../routes/mod.ts";
import { SHUTDOWN_GRACE_MS, startServer } from "../server/mod.ts";
import { type ServerProcess, spawnServer } from "./_server_process.ts";
import { delay, type Fetched, fetchText, poll, run } from "../tasks/_lib/mod.ts";

const quiet = createLogger({ level: "error", format: "json", write: () => {} });
const encoder = new TextEncoder();
const TIMEOUT_MS = 20_000;

async function connect(url: string): Promise<Deno.TcpConn> {
  const { hostname, port } = new URL(url);
  return await Deno.connect({ hostname, port: Number(port) });
}

function messages(server: ServerProcess): string[] {
  return server.lines.map((line) => JSON.parse(line).msg);
}

/** Send SIGTERM; resolves to the exit, its duration and the last log line. */
async function stopTimed(server: ServerProcess) {
  const start = performance.now();
  const { code, stderr } = await server.stop("SIGTERM");
  return { code, stderr, ms: performance.now() - start, last: messages(server).at(-1) };
}

Deno.test("SIGTERM: a client stalled mid-body does not delay the exit", async () => {
  const server = await spawnServer({ SHUTDOWN_TIMEOUT_MS: String(TIMEOUT_MS) });
  const conn = await connect(server.url);
  try {
    await conn.write(
      encoder.encode("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\npartial"),
    );
    // The headers arrived, so the handler ran; the connection now waits for the body.
    await conn.read(new Uint8Array(64 * 1024));
    const { code, ms, last, stderr } = await stopTimed(server);
    assert.equal(code, 0, stderr);
    assert.ok(ms < TIMEOUT_MS / 4, `exit in ${Math.round(ms)} ms, far below the timeout`);
    assert.match(last ?? "", /^stopped/);
  } finally {
    conn.close();
  }
});

/** Bytes queued between the two ends of `conn` (`ss`: Recv-Q and Send-Q of both sockets). */
async function queuedBytes(conn: Deno.TcpConn): Promise<number | undefined> {
  const port = (conn.localAddr as Deno.NetAddr).port;
  const { code, stdout } = await run("ss", ["-tnH", `( sport = :${port} or dport = :${port} )`]);
  if (code !== 0) return undefined;
  return stdout.trim().split("\n").map((line) => line.trim().split(/\s+/))
    .reduce((sum, [, recv, send]) => sum + Number(recv) + Number(send), 0);
}

/**
 * Waits (at most 10 s) until what the server sent `conn` stops growing: the socket buffers are
 * full and the server is blocked writing. Without `ss`, a pause of 1 s.
 */
async function untilBlocked(conn: Deno.TcpConn): Promise<void> {
  let last = -1;
  const stable = await poll(async () => {
    const queued = await queuedBytes(conn);
    if (queued === undefined) return "no ss";
    const done = queued > 0 && queued === last;
    last = queued;
    return done || undefined;
  }, { timeoutMs: 10_000, intervalMs: 200 });
  if (stable === "no ss") await delay(1000);
  else assert.equal(stable, true, `the server never blocked (${last} bytes queued)`);
}

Deno.test("SIGTERM: a client that never reads its responses does not delay the exit", async () => {
  const server = await spawnServer({ SHUTDOWN_TIMEOUT_MS: String(TIMEOUT_MS) });
  const conn = await connect(server.url);
  try {
    // 5,000 pipelined requests whose ~20 MB of answers outgrow the socket buffers: the server
    // blocks writing to a client that reads nothing.
    await conn.write(encoder.encode("GET / HTTP/1.1\r\nHost: a\r\n\r\n".repeat(5000)));
    // Until the server is blocked: a fixed pause was too short on a loaded machine, and a
    // server not yet blocked closes the connection after its current answer (drained).
    await untilBlocked(conn);
    const { code, ms, last, stderr } = await stopTimed(server);
    assert.equal(code, 0, stderr);
    assert.ok(ms < TIMEOUT_MS / 4, `exit in ${Math.round(ms)} ms, far below the timeout`);
    assert.equal(last, "stopped, closing connections of clients still sending or not reading");
  } finally {
    conn.close();
  }
});

Deno.test("SIGTERM: idle keep-alive and silent connections do not delay the exit", async () => {
  const server = await spawnServer({ SHUTDOWN_TIMEOUT_MS: String(TIMEOUT_MS) });
  const idle = await connect(server.url);
  const silent = await connect(server.url);
  const partial = await connect(server.url);
  try {
    await idle.write(encoder.encode("GET /health HTTP/1.1\r\nHost: a\r\n\r\n"));
    await idle.read(new Uint8Array(64 * 1024));
    await partial.write(encoder.encode("GET /health HTTP/1.1\r\nHost: a\r\n"));
    const { code, ms, last, stderr } = await stopTimed(server);
    assert.equal(code, 0, stderr);
    assert.ok(ms < TIMEOUT_MS / 4, `exit in ${Math.round(ms)} ms, far below the timeout`);
    assert.match(last ?? "", /^stopped/);
  } finally {
    for (const conn of [idle, silent, partial]) conn.close();
  }
});

/** Both servers startServer runs: Deno's per-connection one, and the public Deno.serve fallback. */
const SERVERS = [
  { name: "shutdown", connectionServer: undefined },
  { name: "shutdown (public Deno.serve fallback)", connectionServer: null },
] as const;

for (const { name, connectionServer } of SERVERS) {
  Deno.test(`${name}: handlers that finished leave connections a short grace, then close them`, async () => {
    const server = await startServer(() => new Response("ok"), {
      port: 0,
      host: "127.0.0.1",
      logger: quiet,
      shutdownTimeoutMs: TIMEOUT_MS,
      connectionServer,
    });
    const conn = await connect(server.url);
    try {
      await conn.write(
        encoder.encode("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789"),
      );
      await conn.read(new Uint8Array(1024));
      const start = performance.now();
      const result = await server.shutdown();
      const ms = performance.now() - start;
      assert.deepEqual(result, { outcome: "closed-slow-clients", running: 0 });
      assert.ok(ms >= SHUTDOWN_GRACE_MS * 0.9, "waited the grace for the client");
      assert.ok(ms < TIMEOUT_MS / 4, `gave up waiting after ${Math.round(ms)} ms`);
    } finally {
      conn.close();
    }
  });

  Deno.test(`${name}: a running handler is what times out, and the result counts it`, async () => {
    const release = Promise.withResolvers<void>();
    const started = Promise.withResolvers<void>();
    const server = await startServer(async () => {
      started.resolve();
      await release.promise;
      return new Response("late");
    }, { port: 0, host: "127.0.0.1", logger: quiet, shutdownTimeoutMs: 200, connectionServer });
    const client = new AbortController();
    const request = fetch(`${server.url}/`, { signal: client.signal }).catch(() => null);
    await started.promise;
    assert.deepEqual(await server.shutdown(), { outcome: "timed-out", running: 1 });
    client.abort();
    release.resolve();
    await request;
  });
}

/** Asks `/ready` every 20 ms, for at most 2 s, until it answers 503; that answer, or none. */
function untilStopping(url: string): Promise<Fetched | undefined> {
  return poll(async () => {
    const ready = await fetchText(`${url}/ready`);
    return ready.status === 503 ? ready : undefined;
  }, { timeoutMs: 2000, intervalMs: 20 });
}

Deno.test("GET /ready answers 503 from SIGTERM on, and SHUTDOWN_DELAY_MS keeps serving", async () => {
  const delayMs = 3000;
  const server = await spawnServer({ SHUTDOWN_DELAY_MS: String(delayMs) });
  const before = await fetch(`${server.url}/ready`);
  assert.equal(before.status, 200);
  assert.deepEqual(await before.json(), { status: "ready" });
  const start = performance.now();
  server.child.kill("SIGTERM");
  const ready = await untilStopping(server.url);
  assert.equal(ready?.status, 503);
  assert.equal(ready?.headers.get("cache-control"), "no-store");
  assert.equal(ready?.headers.get("x-content-type-options"), "nosniff");
  assert.deepEqual(JSON.parse(ready?.body ?? "null"), { status: "stopping" });
  const health = await fetch(`${server.url}/health`);
  assert.equal(health.status, 200, "still accepting and live during the delay");
  await health.body?.cancel();
  const { code, stderr } = await server.exited();
  const ms = performance.now() - start;
  assert.equal(code, 0, stderr);
  assert.ok(ms >= delayMs * 0.9, `kept accepting for the delay (${Math.round(ms)} ms)`);
  const logged = server.lines.map((line) => JSON.parse(line));
  const shutting = logged.find((line) => line.msg === "shutting down");
  assert.equal(shutting?.delayMs, delayMs);
  assert.equal(logged.at(-1).msg, "stopped");
});

Deno.test("a second SIGTERM cuts SHUTDOWN_DELAY_MS short", async () => {
  const delayMs = 60_000;
  const server = await spawnServer({ SHUTDOWN_DELAY_MS: String(delayMs) });
  const start = performance.now();
  server.child.kill("SIGTERM");
  assert.equal((await untilStopping(server.url))?.status, 503, "the first SIGTERM was taken");
  const { code, stderr } = await server.stop("SIGTERM");
  const ms = performance.now() - start;
  assert.equal(code, 0, stderr);
  assert.ok(ms < delayMs / 4, `exited after ${Math.round(ms)} ms, not the whole delay`);
});

Deno.test("GET /ready follows the server's state: 200 ready, then 503 stopping, never cached", async () => {
  let ready = true;
  const app = createApp(parseConfig({}), { ready: () => ready });
  const health = await app.request("/health");
  for (const [state, status, body] of [[true, 200, "ready"], [false, 503, "stopping"]] as const) {
    ready = state;
    const response = await app.request("/ready");
    assert.equal(response.status, status);
    assert.equal(response.headers.get("content-type"), "application/json");
    assert.equal(response.headers.get("cache-control"), "no-store");
    for (const name of ["content-security-policy", "x-content-type-options", "x-frame-options"]) {
      assert.ok(health.headers.get(name), `/health sends ${name}`);
      assert.equal(response.headers.get(name), health.headers.get(name), `${name} as /health`);
    }
    assert.deepEqual(await response.json(), { status: body });
  }
  assert.equal((await app.request("/ready", { method: "HEAD" })).status, 503);
});
