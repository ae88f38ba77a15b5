import assert from "node:assert/strict";
import { createLogger } from "../server/logger.ts";
import { checkHealth, startServer } from "../server/mod.ts";
import { delay, freePort, poll, runDeno } from "../tasks/_lib/mod.ts";
import { runMain, spawnServer, startTaskArgs } from "./_server_process.ts";
import { recordingLogger } from "./_log.ts";

const quiet = createLogger({ level: "error", format: "json", write: () => {} });

Deno.test("smoke: the real server on port 0 serves every route and stops cleanly on SIGTERM", async () => {
  const server = await spawnServer({ CUSTOM_MESSAGE: "Smoke <test>", HOSTNAME: "smoke-host" });
  try {
    assert.equal(server.startup.level, "info");
    assert.equal(typeof server.startup.version, "string");
    assert.match(String(server.startup.config), /CUSTOM_MESSAGE/);
    const page = await fetch(`${server.url}/`);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
    const html = await page.text();
    assert.match(html, /Hello World!/);
    assert.match(html, /Smoke &lt;test&gt;/);
    assert.match(html, /smoke-host/);
    const health = await fetch(`${server.url}/health`);
    assert.deepEqual(await health.json(), { status: "ok" });
    const time = await fetch(`${server.url}/time`);
    assert.match((await time.json()).time, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
    const css = await fetch(`${server.url}/static/style.css`);
    assert.equal(css.status, 200);
    assert.match(css.headers.get("content-type") ?? "", /^text\/css/);
    await css.body?.cancel();
  } finally {
    const { code, stderr } = await server.stop("SIGTERM");
    assert.equal(code, 0, stderr);
    assert.equal(stderr, "", "no warnings or errors on stderr");
  }
  const logged = server.lines.map((line) => JSON.parse(line));
  const requests = logged.filter((line) => line.msg === "request").map((line) => line.path);
  assert.deepEqual(requests, ["/", "/health", "/time", "/static/style.css"]);
  assert.deepEqual(logged.slice(-2).map((line) => line.msg), ["shutting down", "stopped"]);
});

Deno.test("SIGINT also stops the server with exit code 0", async () => {
  const server = await spawnServer();
  const { code } = await server.stop("SIGINT");
  assert.equal(code, 0);
  assert.equal(server.lines.map((l) => JSON.parse(l).msg).at(-1), "stopped");
});

Deno.test("invalid configuration stops the server before it listens, one line per problem", async () => {
  const { code, stdout, stderr } = await runMain([], {
    PORT: "eighty",
    BACKGROUND_COLOR: "red;background:url(x)",
  });
  assert.equal(code, 1);
  assert.equal(stdout, "", "nothing was served or logged as started");
  assert.deepEqual(stderr.trim().split("\n"), [
    'Cannot start server: PORT must be an integer from 0 to 65535 (0 picks a free port), got "eighty"',
    "Cannot start server: BACKGROUND_COLOR must be a CSS colour name (such as white or steelblue) " +
    'or a hex colour (such as #1e90ff), got "red;background:url(x)"',
  ]);
});

Deno.test("a port already in use stops the server with a clear message and exit 1", async () => {
  const listener = Deno.listen({ hostname: "0.0.0.0", port: 0 });
  try {
    const port = String((listener.addr as Deno.NetAddr).port);
    const { code, stderr } = await runMain([], { PORT: port, LOG_FORMAT: "json" });
    assert.equal(code, 1);
    assert.match(
      stderr,
      new RegExp(`^Cannot start server: cannot listen on 0\\.0\\.0\\.0:${port}: `),
    );
  } finally {
    listener.close();
  }
});

Deno.test("healthcheck mode exits 0 against a live server", async () => {
  const server = await spawnServer();
  try {
    const { code, stderr } = await runMain(["healthcheck"], { PORT: String(server.startup.port) });
    assert.equal(code, 0, stderr);
  } finally {
    await server.stop();
  }
});

Deno.test("healthcheck mode loads no npm package (Hono, Eta, zod): it runs under --no-npm, as in the image", async () => {
  const server = await spawnServer();
  try {
    const [run, ...rest] = startTaskArgs();
    const { code, stderr } = await runDeno([run, "--no-npm", ...rest, "healthcheck"], {
      cwd: new URL("..", import.meta.url).pathname,
      env: { PORT: String(server.startup.port) },
    });
    assert.equal(code, 0, stderr);
  } finally {
    await server.stop();
  }
});

Deno.test("healthcheck mode exits 1 with a reason against a dead port", async () => {
  const port = String(freePort());
  const { code, stderr } = await runMain(["healthcheck"], { PORT: port });
  assert.equal(code, 1);
  assert.match(
    stderr,
    new RegExp(`^Unhealthy: http://127\\.0\\.0\\.1:${port}/health could not be reached`),
  );
});

Deno.test("healthcheck fails when /health answers something other than ok", async () => {
  const server = await startServer(
    () => Response.json({ status: "degraded" }),
    { port: 0, host: "127.0.0.1", logger: quiet, shutdownTimeoutMs: 1000 },
  );
  try {
    const problem = await checkHealth(server.url);
    assert.match(problem ?? "", /unexpected body: \{"status":"degraded"\}/);
  } finally {
    await server.shutdown();
  }
});

Deno.test("graceful shutdown lets an in-flight request finish", async () => {
  const { promise: started, resolve: markStarted } = Promise.withResolvers<void>();
  const server = await startServer(async () => {
    markStarted();
    await delay(300);
    return new Response("finished");
  }, { port: 0, host: "127.0.0.1", logger: quiet, shutdownTimeoutMs: 5000 });
  const inFlight = fetch(`${server.url}/slow`);
  await started;
  assert.equal(server.inFlight, 1);
  const stopping = server.shutdown();
  const response = await inFlight;
  assert.equal(response.status, 200);
  assert.equal(await response.text(), "finished");
  assert.deepEqual(await stopping, { outcome: "drained", running: 0 });
  await assert.rejects(fetch(`${server.url}/`), "no new connections after shutdown");
});

Deno.test("shutdown gives up after SHUTDOWN_TIMEOUT_MS when a request hangs", async () => {
  const hang = new AbortController();
  const server = await startServer(
    () =>
      new Promise<Response>((resolve) => {
        hang.signal.addEventListener("abort", () => resolve(new Response("late")));
      }),
    { port: 0, host: "127.0.0.1", logger: quiet, shutdownTimeoutMs: 100 },
  );
  const client = new AbortController();
  const request = fetch(`${server.url}/hang`, { signal: client.signal }).catch(() => null);
  const running = await poll(() => Promise.resolve(server.inFlight > 0 || undefined), {
    timeoutMs: 5000,
    intervalMs: 5,
  });
  assert.equal(running, true, "the request reached the handler");
  assert.deepEqual(await server.shutdown(), { outcome: "timed-out", running: 1 });
  client.abort();
  hang.abort();
  await request;
});

for (
  const [name, connectionServer] of [["", undefined], [
    " (public Deno.serve fallback)",
    null,
  ]] as const
) {
  Deno.test(`an error that escapes the app${name} is logged and answered 500 without details`, async () => {
    const log = recordingLogger("error");
    const server = await startServer((request) => {
      if (new URL(request.url).pathname === "/throws") throw new Error("secret detail 1");
      return Promise.reject(new Error("secret detail 2"));
    }, {
      port: 0,
      host: "127.0.0.1",
      logger: log.logger,
      shutdownTimeoutMs: 1000,
      connectionServer,
    });
    try {
      for (const path of ["/throws", "/rejects"]) {
        const response = await fetch(`${server.url}${path}`);
        assert.equal(response.status, 500, path);
        assert.equal(await response.text(), "Internal server error", `${path}: no details`);
      }
    } finally {
      await server.shutdown();
    }
    assert.deepEqual(
      log.lines().map((line) => [line.level, line.msg, line.error]),
      [
        ["error", "unhandled error", "Error: secret detail 1"],
        ["error", "unhandled error", "Error: secret detail 2"],
      ],
    );
  });
}
