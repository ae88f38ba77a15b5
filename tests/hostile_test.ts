/**
 * Hostile clients cannot stop the server: running out of file descriptors makes accepting
 * fail, and the server logs it once and accepts again; a slowloris does not starve fresh
 * clients. (Timeouts and the connection limit: tests/timeouts_test.ts.)
 *
 * Slow (about 20 s, thousands of connections to 127.0.0.1): run with
 * `SWFT_SLOW_TESTS=1 deno test --allow-all tests/hostile_test.ts` (CI sets it).
 *
 * @module
 */
import assert from "node:assert/strict";
import { type ServerProcess, spawnServer } from "./_server_process.ts";

const ignore = Deno.env.get("SWFT_SLOW_TESTS") !== "1";
const REASON = "slow; run with SWFT_SLOW_TESTS=1 deno test --allow-all tests/hostile_test.ts";
const encoder = new TextEncoder();
/** The server's longest pause between attempts to accept again (server.ts's default). */
const RETRY_MAX_DELAY_MS = 1000;

/** A test that runs only with SWFT_SLOW_TESTS=1; when ignored, its name says why. */
function slowTest(name: string, fn: () => Promise<void>) {
  Deno.test({ name: ignore ? `${name} (ignored: ${REASON})` : name, ignore, fn });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function logged(server: ServerProcess): { msg: string; level: string; [field: string]: unknown }[] {
  return server.lines.map((line) => JSON.parse(line));
}

/** One `/health` request on a connection of its own; resolves to the status, 0 if none. */
async function freshHealth(url: string, timeoutMs: number): Promise<number> {
  const client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
  try {
    const response = await fetch(`${url}/health`, {
      client,
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.body?.cancel();
    return response.status;
  } catch {
    return 0;
  } finally {
    client.close();
  }
}

async function openConnections(url: string, count: number): Promise<Deno.TcpConn[]> {
  const { hostname, port } = new URL(url);
  const conns: Deno.TcpConn[] = [];
  for (let i = 0; i < count; i++) {
    try {
      conns.push(await Deno.connect({ hostname, port: Number(port) }));
    } catch {
      // Refused or reset while the server's listener is down: it is out of descriptors.
    }
  }
  return conns;
}

slowTest("1,100 idle connections under ulimit -n 1024 do not stop the server", async () => {
  const server = await spawnServer({}, { nofile: 1024 });
  let conns: Deno.TcpConn[] = [];
  try {
    conns = await openConnections(server.url, 1100);
    await sleep(5000);
    assert.ok(
      logged(server).some((line) => line.msg.startsWith("accepting connections failed")),
      `descriptors ran out (${conns.length} connections held)`,
    );
    for (const conn of conns) conn.close();
    conns = [];
    const closed = performance.now();
    let status = 0;
    for (let i = 0; i < 40 && status !== 200; i++) {
      status = await freshHealth(server.url, 500);
      if (status !== 200) await sleep(100);
    }
    const ms = performance.now() - closed;
    assert.equal(status, 200, "/health answers once the connections closed");
    // The server retries at least every RETRY_MAX_DELAY_MS; 2x leaves room for noise.
    assert.ok(ms < 2 * RETRY_MAX_DELAY_MS, `/health answered ${Math.round(ms)} ms after`);
  } finally {
    for (const conn of conns) conn.close();
  }
  const { code, stderr } = await server.stop("SIGTERM");
  assert.equal(code, 0, stderr);
  const warnings = logged(server).filter((line) => line.level === "warn");
  assert.deepEqual(
    warnings.map((line) => line.msg),
    ["accepting connections failed, retrying until it works"],
    "exhaustion is logged once, not per connection",
  );
});

Deno.test("the start-up warns of a low open-files limit where it may read it (--allow-all)", async () => {
  const server = await spawnServer({}, {
    nofile: 1024,
    denoArgs: ["run", "--allow-all", "main.ts"],
  });
  const { code } = await server.stop("SIGTERM");
  assert.equal(code, 0);
  const warned = logged(server).find((line) => line.msg === "the open-files limit is low");
  assert.equal(warned?.nofile, 1024);
});

slowTest(
  "during a 2,000-connection slowloris /health from a fresh client keeps answering",
  async () => {
    const server = await spawnServer();
    const conns = await openConnections(server.url, 2000);
    try {
      assert.equal(conns.length, 2000);
      // Each connection sends a request line, then one header byte per second: never finishes.
      await Promise.all(conns.map((conn) => conn.write(encoder.encode("GET / HTTP/1.1\r\nX-a: "))));
      const statuses: number[] = [];
      const end = performance.now() + 6000;
      while (performance.now() < end) {
        const trickle = Promise.all(
          conns.map((conn) => conn.write(encoder.encode("a")).catch(() => 0)),
        );
        statuses.push(await freshHealth(server.url, 2000));
        await trickle;
        await sleep(250);
      }
      assert.ok(statuses.length >= 5, `${statuses.length} checks`);
      assert.deepEqual(statuses.filter((status) => status !== 200), [], "every check answered 200");
    } finally {
      for (const conn of conns) conn.close();
    }
    const { code, stderr } = await server.stop("SIGTERM");
    assert.equal(code, 0, stderr);
  },
);
