/**
 * No fault of the log pipe stops the server (issue 16, items 1 and 2), with real processes and
 * real pipes: a reader that closes after 1,000 bytes (`| head -c 1000`), stdout on /dev/full,
 * and a reader that never reads (`| sleep 600`). Each proves that every request is answered,
 * what stderr says, and how SIGTERM ends it.
 * The whole file takes a few seconds (4,000 requests to 127.0.0.1 in each stalled-reader
 * test), so it runs with every `deno task test`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { delay, fetchText, freePort, poll, ROOT } from "../tasks/_lib/mod.ts";
import { LOG_BUFFER_BYTES } from "../server/logger.ts";
import { startTaskArgs } from "./_server_process.ts";

const SHUTDOWN_TIMEOUT_MS = 5000;
/** Enough access lines (about 115 bytes each) to fill the pipe (64 KiB) and the log buffer. */
const FLOOD = 4000;
const STOPPED_LINE =
  /^Cannot write logs to stdout \((.+)\): logging to stdout stopped, the server goes on$/;

/** A server whose stdout the test reads, or stops reading, itself; `await using` kills it. */
interface PipedServer extends AsyncDisposable {
  child: Deno.ChildProcess;
  url: string;
  /** Reads the server's stdout; the test decides when (and whether) to read more. */
  stdout: ReadableStreamDefaultReader<Uint8Array>;
  /** Bytes of stdout read so far. */
  read: { bytes: number; text: string };
  stderr: Promise<string>;
}

/** Start the server with the start task's flags and read stdout up to its `listening` line. */
async function spawnPiped(env: Record<string, string> = {}): Promise<PipedServer> {
  const child = new Deno.Command(Deno.execPath(), {
    args: startTaskArgs(),
    cwd: ROOT,
    env: {
      PORT: "0",
      HOST: "127.0.0.1",
      LOG_FORMAT: "json",
      NO_COLOR: "1",
      SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
      ...env,
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const stdout = child.stdout.getReader();
  const read = { bytes: 0, text: "" };
  const decoder = new TextDecoder();
  while (!read.text.includes("\n")) {
    const { value, done } = await stdout.read();
    if (done) throw new Error(`Server exited before listening: ${await stderr}`);
    read.bytes += value.length;
    read.text += decoder.decode(value, { stream: true });
  }
  const startup = JSON.parse(read.text.split("\n")[0]);
  assert.equal(startup.msg, "listening");
  return {
    child,
    url: `http://127.0.0.1:${startup.port}`,
    stdout,
    read,
    stderr,
    [Symbol.asyncDispose]: () => killed(child),
  };
}

/** Kill `child` if it still runs (a failed assertion) and wait for it. */
async function killed(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGKILL");
  } catch { /* already exited */ }
  await child.status;
}

/**
 * `count` GET /health requests, `concurrency` at a time; resolves to the statuses seen (0: not
 * answered within 5 s, which ends the run: a frozen server fails in seconds, not minutes).
 */
async function requests(url: string, count: number, concurrency = 8): Promise<Map<number, number>> {
  const statuses = new Map<number, number>();
  let next = 0;
  async function worker() {
    while (next < count && !statuses.has(0)) {
      next++;
      // 0: not answered (fetchText throws on a network error or the timeout).
      const status = await fetchText(`${url}/health`, 5000).then((r) => r.status, () => 0);
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  return statuses;
}

/** Send SIGTERM; resolves to the exit code and how long the exit took. */
async function stopTimed(child: Deno.ChildProcess): Promise<{ code: number; ms: number }> {
  const start = performance.now();
  child.kill("SIGTERM");
  const { code } = await child.status;
  return { code, ms: performance.now() - start };
}

Deno.test("a reader that closes after 1,000 bytes (| head -c 1000): the server keeps serving, one line on stderr", async () => {
  await using server = await spawnPiped();
  // Read 1,000 bytes of log, as `head -c 1000` does, then close the pipe.
  while (server.read.bytes < 1000) {
    const pending = server.stdout.read();
    assert.deepEqual(await requests(server.url, 5, 1), new Map([[200, 5]]));
    const { value, done } = await pending;
    assert.ok(!done, "the server writes its access log");
    server.read.bytes += value.length;
  }
  await server.stdout.cancel();
  // Requests on both sides of the flush timer (50 ms): the failing write is one of them.
  for (let round = 0; round < 4; round++) {
    assert.deepEqual(await requests(server.url, 10, 2), new Map([[200, 10]]));
    await delay(100);
  }
  const { code } = await stopTimed(server.child);
  assert.equal(code, 0, "SIGTERM still ends it cleanly");
  const stderr = (await server.stderr).trimEnd().split("\n");
  assert.equal(stderr.length, 1, `one line on stderr, got: ${stderr.join(" | ")}`);
  assert.match(stderr[0], STOPPED_LINE);
  assert.match(stderr[0], /Broken pipe/);
});

Deno.test("stdout on /dev/full: the server starts and serves, one line on stderr", async () => {
  const port = freePort();
  const child = new Deno.Command("sh", {
    args: ["-c", 'exec "$@" >/dev/full', "sh", Deno.execPath(), ...startTaskArgs()],
    cwd: ROOT,
    env: { PORT: String(port), HOST: "127.0.0.1", LOG_FORMAT: "json", NO_COLOR: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  await using _ = { [Symbol.asyncDispose]: () => killed(child) };
  const url = `http://127.0.0.1:${port}`;
  const up = await poll(
    () => fetchText(`${url}/health`).then((r) => r.status, () => undefined),
    { timeoutMs: 15_000 },
  );
  assert.equal(up, 200, "the server answers although its start-up line could not be written");
  await delay(100);
  assert.deepEqual(await requests(url, 20, 2), new Map([[200, 20]]));
  const { code } = await stopTimed(child);
  assert.equal(code, 0);
  const lines = (await stderr).trimEnd().split("\n");
  assert.equal(lines.length, 1, `one line on stderr, got: ${lines.join(" | ")}`);
  assert.match(lines[0], STOPPED_LINE);
  assert.match(lines[0], /No space left on device/);
});

Deno.test("a reader that never reads (| sleep 600): every request is answered, SIGTERM exits within the shutdown timeout", async () => {
  // A short timeout: the last log lines wait no longer than what is left of it.
  const timeoutMs = 600;
  await using server = await spawnPiped({ SHUTDOWN_TIMEOUT_MS: String(timeoutMs) });
  // The test reads no more: the pipe fills after 64 KiB, then the log buffer.
  const statuses = await requests(server.url, FLOOD);
  assert.deepEqual(statuses, new Map([[200, FLOOD]]), "every request answered");
  const { code, ms } = await stopTimed(server.child);
  assert.equal(code, 0);
  // The timeout, plus room for the signal and the exit themselves on a busy machine.
  assert.ok(
    ms < timeoutMs * 1.5,
    `exited ${Math.round(ms)} ms after SIGTERM (timeout ${timeoutMs})`,
  );
  assert.equal(await server.stderr, "", "a stalled reader is not an error");
});

Deno.test("a stalled reader that drains again: dropped lines are counted in one warning", async () => {
  await using server = await spawnPiped();
  assert.deepEqual(await requests(server.url, FLOOD), new Map([[200, FLOOD]]));
  // Read again: the blocked write completes, what the buffer kept follows, then the count.
  const decoder = new TextDecoder();
  let text = server.read.text.slice(server.read.text.indexOf("\n") + 1);
  const deadline = performance.now() + 15_000;
  while (!text.includes('"msg":"log lines dropped"') && performance.now() < deadline) {
    const { value, done } = await server.stdout.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  const { code } = await stopTimed(server.child);
  assert.equal(code, 0);
  for (;;) {
    const { value, done } = await server.stdout.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  const lines = text.trimEnd().split("\n").map((line) => JSON.parse(line));
  const reports = lines.filter((line) => line.msg === "log lines dropped");
  assert.equal(reports.length, 1, "one warning for the whole stall");
  assert.equal(reports[0].level, "warn");
  const requested = lines.filter((line) => line.msg === "request").length;
  const { dropped } = reports[0];
  assert.ok(dropped > 0, "the stall outgrew the buffer");
  assert.equal(requested + dropped, FLOOD, "every access line is written or counted");
  // What waited is bounded by the buffer (plus the pipe's own 64 KiB and the blocked write).
  const keptBytes = requested * (text.length / lines.length);
  assert.ok(keptBytes < LOG_BUFFER_BYTES + 3 * 64 * 1024, `kept ${Math.round(keptBytes)} bytes`);
  assert.deepEqual(lines.slice(-2).map((line) => line.msg), ["shutting down", "stopped"]);
  assert.equal(await server.stderr, "");
});
