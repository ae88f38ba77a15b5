import assert from "node:assert/strict";
import { createLogger, type Logger, type LoggerOptions } from "../server/logger.ts";
import { withAccessLog } from "../server/mod.ts";

/** A JSON logger at level info, with `options` (its sink, sizes, what it does when it stops). */
function jsonLogger(options: Partial<LoggerOptions>): Logger {
  return createLogger({ level: "info", format: "json", ...options });
}

function collector() {
  const writes: string[] = [];
  const decoder = new TextDecoder();
  return { writes, write: (bytes: Uint8Array) => void writes.push(decoder.decode(bytes)) };
}

Deno.test("logger: JSON lines carry time, level, message and fields", () => {
  const sink = collector();
  const log = jsonLogger({ write: sink.write });
  log.info("listening", { port: 8080 });
  log.flush();
  assert.equal(sink.writes.length, 1);
  const line = JSON.parse(sink.writes[0]);
  assert.equal(line.level, "info");
  assert.equal(line.msg, "listening");
  assert.equal(line.port, 8080);
  assert.match(line.time, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
});

Deno.test("logger: lines below the level are dropped", () => {
  const sink = collector();
  const log = createLogger({ level: "warn", format: "json", write: sink.write });
  log.debug("a");
  log.info("b");
  log.warn("c");
  log.error("d");
  log.flush();
  const messages = sink.writes.join("").trim().split("\n").map((l) => JSON.parse(l).msg);
  assert.deepEqual(messages, ["c", "d"]);
  assert.equal(log.enabled("info"), false);
  assert.equal(log.enabled("error"), true);
});

Deno.test("logger: writes are batched, and flushed by size, by timer and on demand", async () => {
  const sink = collector();
  const log = jsonLogger({ write: sink.write, flushIntervalMs: 20, batchBytes: 400 });
  for (let i = 0; i < 3; i++) log.info("request", { i });
  assert.equal(sink.writes.length, 0, "nothing is written per line");
  await new Promise((resolve) => setTimeout(resolve, 60));
  assert.equal(sink.writes.length, 1, "the timer wrote the batch once");
  assert.equal(sink.writes[0].split("\n").length - 1, 3);
  for (let i = 0; i < 10; i++) log.info("request", { i, padding: "x".repeat(30) });
  assert.ok(sink.writes.length >= 2, "a full batch is written without waiting");
  log.flush();
  const all = sink.writes.join("").trim().split("\n");
  assert.equal(all.length, 13, "no line is lost");
});

Deno.test("logger: pretty format is one readable line with the fields", () => {
  const sink = collector();
  const log = createLogger({ level: "info", format: "pretty", write: sink.write });
  log.warn("slow", { path: "/x", ms: 12 });
  log.flush();
  assert.match(sink.writes[0], /^\d{2}:\d{2}:\d{2}\.\d{3} WARN {2}slow path=\/x ms=12\n$/);
});

Deno.test("logger: hostile field values cannot forge extra JSON lines", () => {
  const sink = collector();
  const log = jsonLogger({ write: sink.write });
  log.info("request", { path: '/x\n{"level":"error","msg":"forged"}' });
  log.flush();
  const lines = sink.writes.join("").trim().split("\n");
  assert.equal(lines.length, 1);
  assert.equal(JSON.parse(lines[0]).path, '/x\n{"level":"error","msg":"forged"}');
});

Deno.test("access log: one line per request with method, path (no query), status and duration", async () => {
  const sink = collector();
  const log = jsonLogger({ write: sink.write });
  const handler = withAccessLog(
    (request) =>
      new URL(request.url).pathname === "/async"
        ? Promise.resolve(new Response("later", { status: 201 }))
        : new Response("now", { status: 404 }),
    log,
  );
  await handler(new Request("http://localhost/missing?q=1"));
  await handler(new Request("http://localhost/async", { method: "POST" }));
  log.flush();
  const lines = sink.writes.join("").trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(lines.length, 2);
  assert.deepEqual(
    lines.map(({ method, path, status }) => ({ method, path, status })),
    [
      { method: "GET", path: "/missing", status: 404 }, // the query string can hold tokens
      { method: "POST", path: "/async", status: 201 },
    ],
  );
  for (const line of lines) assert.ok(typeof line.ms === "number" && line.ms >= 0);
});

Deno.test("access log: off when the level is above info", async () => {
  const sink = collector();
  const log = createLogger({ level: "warn", format: "json", write: sink.write });
  const handler = withAccessLog(() => new Response("ok"), log);
  await handler(new Request("http://localhost/"));
  log.flush();
  assert.deepEqual(sink.writes, []);
});

Deno.test("access log: hostile methods and paths stay one valid JSON line", () => {
  const sink = collector();
  const log = jsonLogger({ write: sink.write });
  const path = '/a"b\\c\n{"level":"error"}\u2028é\u0000';
  log.access("GET", path, 404, 1.25);
  log.access('PO"ST', "/plain", 200, 0);
  log.flush();
  const lines = sink.writes.join("").trim().split("\n");
  assert.equal(lines.length, 2);
  const first = JSON.parse(lines[0]);
  assert.deepEqual(
    { msg: first.msg, method: first.method, path: first.path, status: first.status, ms: first.ms },
    { msg: "request", method: "GET", path, status: 404, ms: 1.25 },
  );
  assert.equal(JSON.parse(lines[1]).method, 'PO"ST');
});

Deno.test("logger: lines longer than the buffer and non-ASCII text arrive whole and in order", () => {
  const sink = collector();
  const log = jsonLogger({ write: sink.write, maxBufferBytes: 256 });
  log.info("first", { text: "héllo wörld ✓" });
  log.info("huge", { text: "€".repeat(500) });
  log.info("last");
  log.flush();
  const lines = sink.writes.join("").trim().split("\n").map((line) => JSON.parse(line));
  assert.deepEqual(lines.map((line) => line.msg), ["first", "huge", "last"]);
  assert.equal(lines[0].text, "héllo wörld ✓");
  assert.equal(lines[1].text, "€".repeat(500));
});

// Characters a terminal acts on instead of showing: C0 and C1 controls (U+009B is CSI, which
// starts an escape sequence like ESC [), DEL, line and paragraph separators, bidi overrides,
// zero-width characters, a lone surrogate.
const HOSTILE_CHARS = [
  "\u001b",
  "\u007f",
  "\u0085",
  "\u009b",
  "\u0090",
  "\u2028",
  "\u2029",
  "\u202e",
  "\u200b",
  "\ufeff",
  "\ud800",
];

function assertNoRawControls(text: string) {
  for (const char of HOSTILE_CHARS) {
    assert.ok(!text.includes(char), `U+${char.charCodeAt(0).toString(16)} reached the log raw`);
  }
}

Deno.test("access log: control and non-printing characters are escaped in JSON and stay readable", () => {
  const sink = collector();
  const log = jsonLogger({ write: sink.write });
  const path = `/a${HOSTILE_CHARS.join("")}31mb`;
  log.access("GET", path, 404, 1);
  log.info("request failed", { path, error: `x${HOSTILE_CHARS.join("")}` });
  log.flush();
  const text = sink.writes.join("");
  assertNoRawControls(text);
  assert.match(text, /\\u009b\\u0090\\u2028\\u2029\\u202e/);
  const lines = text.trim().split("\n");
  assert.equal(lines.length, 2);
  assert.equal(JSON.parse(lines[0]).path, path, "the JSON parses back to the same text");
  assert.equal(JSON.parse(lines[1]).path, path);
});

Deno.test("logger: pretty format escapes control characters in the message, fields and access lines", () => {
  const sink = collector();
  const log = createLogger({ level: "info", format: "pretty", write: sink.write });
  const hostile = `x${HOSTILE_CHARS.join("")}\n FORGED=1`;
  log.access("GET", `/p${HOSTILE_CHARS.join("")}`, 200, 1);
  log.warn(`msg${HOSTILE_CHARS.join("")}`, { [`k\u009b`]: hostile, plain: "value" });
  log.flush();
  const text = sink.writes.join("");
  assertNoRawControls(text);
  const lines = text.trimEnd().split("\n");
  assert.equal(lines.length, 2, "a newline in a value cannot start a line");
  assert.match(lines[0], /INFO {2}request method=GET path="\/p\\u001b/);
  assert.match(lines[1], / plain=value$/);
  assert.match(
    lines[1],
    /k\\u009b="x\\u001b/,
    "a value with spaces is quoted, so it cannot forge a field",
  );
});

Deno.test("access log: CONNECT and URLs without a path log /, never the query string", async () => {
  const { logPath } = await import("../server/mod.ts");
  assert.equal(logPath("http://example.com:443"), "/");
  assert.equal(logPath("http://localhost:8080/time?token=secret"), "/time");
  assert.equal(logPath("http://localhost:8080/a/b"), "/a/b");
  assert.equal(logPath("http://localhost:8080/?"), "/");
  assert.equal(logPath("http://x/static/a?/health", "x/static/a?"), "/health");
  assert.equal(logPath("http://[::1]:8080/health", "[::1]:8080"), "/health");
});

/** An asynchronous sink the test releases by hand: writes stay pending until `release`. */
function stalledSink(options: { chunk?: number } = {}) {
  const decoder = new TextDecoder();
  let text = "";
  let pending: { bytes: Uint8Array; resolve: (n: number) => void }[] = [];
  return {
    get text() {
      return text;
    },
    get pending() {
      return pending.length;
    },
    write(bytes: Uint8Array): Promise<number> {
      const { promise, resolve } = Promise.withResolvers<number>();
      pending.push({ bytes, resolve });
      return promise;
    },
    /** Complete the pending writes (at most `chunk` bytes each), as a reader that drains. */
    async release() {
      const now = pending;
      pending = [];
      for (const { bytes, resolve } of now) {
        const n = Math.min(bytes.length, options.chunk ?? bytes.length);
        text += decoder.decode(bytes.subarray(0, n), { stream: true });
        resolve(n);
      }
      await new Promise((resolve) => setTimeout(resolve, 0));
    },
  };
}

/** Release the sink's writes until the logger has written everything; resolves to drain's result. */
async function drainAll(log: Logger, sink: ReturnType<typeof stalledSink>): Promise<boolean> {
  let done = false;
  const drained = log.drain(10_000).finally(() => done = true);
  for (let i = 0; i < 10_000 && !done; i++) await sink.release();
  return await drained;
}

Deno.test("logger: a busy sink does not block logging; lines wait and follow in order", async () => {
  const sink = stalledSink();
  const log = jsonLogger({ write: sink.write });
  log.info("first");
  log.flush();
  assert.equal(sink.pending, 1, "one write is out");
  for (let i = 0; i < 5; i++) log.info("while busy", { i });
  log.flush();
  assert.equal(sink.pending, 1, "no second write while the first is out");
  assert.equal(await drainAll(log, sink), true);
  const lines = sink.text.trim().split("\n").map((line) => JSON.parse(line));
  assert.deepEqual(lines.map((line) => line.i ?? line.msg), ["first", 0, 1, 2, 3, 4]);
});

Deno.test("logger: a sink that takes part of a batch gets the rest, lines arrive whole", async () => {
  const sink = stalledSink({ chunk: 7 });
  const log = jsonLogger({ write: sink.write });
  for (let i = 0; i < 20; i++) log.info("line", { i, text: "héllo ✓" });
  assert.equal(await drainAll(log, sink), true);
  const lines = sink.text.trim().split("\n").map((line) => JSON.parse(line));
  assert.deepEqual(lines.map((line) => line.i), [...Array(20).keys()]);
  assert.ok(lines.every((line) => line.text === "héllo ✓"));
});

Deno.test("logger: past the buffer, lines are dropped, counted, and the count is logged once the sink drains", async () => {
  const sink = stalledSink();
  const log = jsonLogger({ write: sink.write, maxBufferBytes: 2048 });
  log.access("GET", "/first", 200, 1);
  log.flush(); // out to the stalled sink
  const total = 100;
  for (let i = 0; i < total; i++) log.access("GET", `/${i}`, 200, 1);
  // The reader drains: the waiting lines and the count follow.
  assert.equal(await drainAll(log, sink), true);
  const lines = sink.text.trim().split("\n").map((line) => JSON.parse(line));
  const requests = lines.filter((line) => line.msg === "request");
  const reports = lines.filter((line) => line.msg === "log lines dropped");
  assert.equal(reports.length, 1);
  assert.equal(reports[0].level, "warn");
  const { dropped } = reports[0];
  assert.ok(dropped > 0 && dropped < total, `dropped ${dropped} of ${total}`);
  assert.equal(requests.length + dropped, total + 1, "every line is either written or counted");
  // Whole lines are dropped from the end: what was kept comes first, then the count.
  assert.deepEqual(
    requests.map((line) => line.path),
    ["/first", ...[...Array(total - dropped).keys()].map((i) => `/${i}`)],
  );
  assert.equal(lines.at(-1).msg, "log lines dropped");
  assert.ok(2048 * 2 > sink.text.length, "no more than the buffer waited");
});

Deno.test("logger: a failing sink stops logging once, reports why and never throws", async () => {
  const stops: unknown[] = [];
  let calls = 0;
  const log = jsonLogger({
    write: () => {
      calls++;
      return Promise.reject(new Deno.errors.BrokenPipe("Broken pipe (os error 32)"));
    },
    onStop: (error) => stops.push(error),
  });
  log.info("a");
  log.flush();
  await new Promise((resolve) => setTimeout(resolve, 0));
  for (let i = 0; i < 100; i++) log.access("GET", "/", 200, 1);
  log.flush();
  assert.equal(await log.drain(1000), false, "nothing more will be written");
  assert.equal(calls, 1, "the sink is not tried again");
  assert.equal(stops.length, 1);
  assert.ok(stops[0] instanceof Deno.errors.BrokenPipe);
  // A synchronous sink that throws stops the logger the same way.
  const syncStops: unknown[] = [];
  const sync = jsonLogger({
    write: () => {
      throw new Error("No space left on device (os error 28)");
    },
    onStop: (error) => syncStops.push(error),
  });
  sync.info("a");
  sync.flush();
  sync.info("b");
  sync.flush();
  assert.equal(syncStops.length, 1);
});

Deno.test("logger: drain resolves once written, and gives up after its timeout on a stalled sink", async () => {
  const sink = stalledSink();
  const log = jsonLogger({ write: sink.write });
  log.info("last");
  const start = performance.now();
  const stalled = await log.drain(100);
  const ms = performance.now() - start;
  assert.equal(stalled, false);
  assert.ok(ms >= 90 && ms < 2000, `gave up after ${Math.round(ms)} ms`);
  const written = log.drain(10_000);
  await sink.release();
  assert.equal(await written, true);
  assert.equal(JSON.parse(sink.text).msg, "last");
  assert.equal(await log.drain(10), true, "nothing waits");
});
