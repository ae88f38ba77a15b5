/**
 * `deno task dev` as a developer runs it, in a copy of the project (so a developer's own `.env`
 * plays no part) and with a clean environment: it stops for good on SIGTERM or SIGINT and says
 * so last; a bad value from the shell ends it with exit 1 instead of waiting for a file change;
 * a bad value in `.env` is a warning naming the fix, and saving the fix restarts the server.
 *
 * @module
 */
import assert from "node:assert/strict";
import { KILL_AFTER_MS, STOP_GRACE_MS } from "../tasks/dev.ts";
import { copyProject } from "./_project.ts";

/** The variables deno itself needs, and nothing a developer's shell may add (PORT, ...). */
function cleanEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = { NO_COLOR: "1", ...extra };
  for (const name of ["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/** Every descendant of `pid`, from /proc (Linux). */
function descendants(pid: number): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry.name)]);
    } catch { /* ended meanwhile */ }
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length) {
    for (const child of parents.get(queue.shift()!) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

/** Whether `pid` is a running process (not gone, not a zombie waiting to be reaped). */
function running(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** A safety bound on every wait below: a hung dev fails the test instead of hanging it. */
const WAIT_MS = 30_000;

/** `deno task dev` running in `cwd`, its output collected as it comes. */
function startDev(cwd: string, env: Record<string, string>) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "dev"],
    cwd,
    clearEnv: true,
    env: cleanEnv(env),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const text = { stdout: "", stderr: "" };
  const changed = new Set<() => void>();
  const collect = async (name: "stdout" | "stderr") => {
    for await (const chunk of child[name].pipeThrough(new TextDecoderStream())) {
      text[name] += chunk;
      for (const notify of changed) notify();
    }
  };
  const reading = Promise.all([collect("stdout"), collect("stderr")]);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const status = Promise.race([
    child.status,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`dev still running after ${WAIT_MS} ms`)), WAIT_MS);
    }),
  ]).finally(() => clearTimeout(timer));
  status.catch(() => {}); // awaited by the tests; a timeout must not be an unhandled rejection
  return {
    child,
    text,
    status,
    /** Resolves to the first match of `pattern` in `stream` from `from` on, once it appears. */
    waitFor(stream: "stdout" | "stderr", pattern: RegExp, from = 0): Promise<RegExpExecArray> {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = pattern.exec(text[stream].slice(from));
          if (!match) return false;
          changed.delete(check);
          clearTimeout(timeout);
          resolve(match);
          return true;
        };
        const timeout = setTimeout(() => {
          changed.delete(check);
          reject(new Error(`no ${pattern} on ${stream} in ${WAIT_MS} ms:\n${text.stderr}`));
        }, WAIT_MS);
        if (!check()) changed.add(check);
        child.status.then(() => setTimeout(() => check(), 100));
      });
    },
    /** Kills what is left of the task (after a failure) and waits for the output to end. */
    async cleanup(): Promise<number[]> {
      const left = [child.pid, ...descendants(child.pid)].filter(running);
      for (const pid of left) Deno.kill(pid, "SIGKILL");
      await child.status;
      await reading;
      return left;
    },
  };
}

/** The port of the server's (latest) "listening" JSON line on stdout from `from` on. */
async function listeningPort(dev: ReturnType<typeof startDev>, from = 0): Promise<number> {
  const match = await dev.waitFor("stdout", /^\{.*"msg":"listening".*"port":(\d+).*\}$/m, from);
  return Number(match[1]);
}

async function page(port: number, path: string): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  assert.equal(response.status, 200, path);
  return await response.text();
}

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.test({
    name: `deno task dev ends the watcher and the server on ${signal}, exit 0, and says so last`,
    ignore: Deno.build.os !== "linux",
    async fn() {
      const dir = await copyProject("swft-dev-test-");
      const dev = startDev(dir, { PORT: "0", LOG_FORMAT: "json" });
      try {
        const port = await listeningPort(dev);
        await page(port, "/health");
        const processes = descendants(dev.child.pid);
        assert.ok(processes.length >= 1, "the task runs the server in a process of its own");

        // The wrapper's own worst case is STOP_GRACE_MS + KILL_AFTER_MS; twice that for noise.
        const bound = 2 * (STOP_GRACE_MS + KILL_AFTER_MS);
        const start = performance.now();
        dev.child.kill(signal);
        const status = await dev.status;
        const ms = performance.now() - start;
        const left = [dev.child.pid, ...processes].filter(running);
        assert.deepEqual(left, [], "no process of the task remains");
        assert.equal(status.code, 0, dev.text.stderr);
        assert.ok(ms < bound, `stopped in ${Math.round(ms)} ms (bound ${bound} ms)`);
        await assert.rejects(fetch(`http://127.0.0.1:${port}/health`), "nothing listens any more");
        await dev.cleanup();
        // The watcher's "Restarting on file change..." would say it still runs.
        const lines = dev.text.stderr.trim().split("\n");
        assert.equal(lines[lines.length - 1], `dev: stopped (${signal})`);
        assert.doesNotMatch(dev.text.stderr, /Restarting on file change/);
      } finally {
        await dev.cleanup();
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}

Deno.test("deno task dev with a bad value from the shell: the server's error, then exit 1", async () => {
  const dir = await copyProject("swft-dev-test-");
  const dev = startDev(dir, { PORT: "0", BACKGROUND_COLOR: "nope" });
  try {
    // No file change can fix the shell's environment: waiting for one would hang.
    const status = await dev.status;
    const left = await dev.cleanup();
    assert.deepEqual(left, [], "no process of the task remains");
    assert.equal(status.code, 1);
    const lines = dev.text.stderr.trim().split("\n");
    assert.ok(
      lines.some((l) => l.startsWith("Cannot start server: BACKGROUND_COLOR must be a CSS colour")),
      dev.text.stderr,
    );
    assert.equal(
      lines[lines.length - 1],
      "dev: Cannot start the server: BACKGROUND_COLOR comes from the shell's environment, which " +
        "no file change fixes: correct it and run deno task dev again",
    );
    assert.doesNotMatch(dev.text.stderr, /Restarting on file change/);
  } finally {
    await dev.cleanup();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task dev: a quoted .env value is a warning with the fix; saving it restarts", async () => {
  const dir = await copyProject("swft-dev-test-");
  await Deno.writeTextFile(
    `${dir}/.env`,
    'PORT=0\nLOG_FORMAT=json\nBACKGROUND_COLOR="#1e90ff"\nCUSTOM_MESSAGE=from the file\n',
  );
  // The shell's value wins over the file's, as with Compose and Deno's --env-file.
  const dev = startDev(dir, { CUSTOM_MESSAGE: "from the shell" });
  try {
    await dev.waitFor("stderr", /^dev: correct \.env \(line 3\) and save it$/m);
    assert.ok(
      dev.text.stderr.includes(
        "dev: warning: .env line 3: BACKGROUND_COLOR is quoted, and docker run --env-file keeps " +
          "the quotes (Compose drops them): write BACKGROUND_COLOR=#1e90ff\n",
      ),
      dev.text.stderr,
    );
    assert.match(dev.text.stderr, /^Cannot start server: BACKGROUND_COLOR .*got "\\"#1e90ff\\""$/m);

    // The fix as the warning wrote it: an unquoted hex colour (Deno's --env-file would drop it).
    const from = dev.text.stdout.length;
    await Deno.writeTextFile(
      `${dir}/.env`,
      "PORT=0\nLOG_FORMAT=json\nBACKGROUND_COLOR=#1e90ff\nCUSTOM_MESSAGE=from the file\n",
    );
    const port = await listeningPort(dev, from);
    assert.match(await page(port, "/theme.css"), /--bg:#1e90ff;/);
    assert.match(await page(port, "/"), /<p class="value" id="message">from the shell<\/p>/);
    assert.match(dev.text.stderr, /^dev: \.env changed: restarting the server$/m);

    dev.child.kill("SIGTERM");
    assert.equal((await dev.status).code, 0, dev.text.stderr);
  } finally {
    await dev.cleanup();
    await Deno.remove(dir, { recursive: true });
  }
});
