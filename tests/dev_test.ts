/**
 * `deno task dev` stops for good on SIGTERM or SIGINT: the watcher and the server end, exit 0,
 * and no process is left behind.
 *
 * @module
 */
import assert from "node:assert/strict";
import { KILL_AFTER_MS, STOP_GRACE_MS } from "../tasks/dev.ts";

const ROOT = new URL("..", import.meta.url).pathname;

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

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.test({
    name: `deno task dev ends the watcher and the server on ${signal}, exit 0`,
    ignore: Deno.build.os !== "linux",
    async fn() {
      const child = new Deno.Command(Deno.execPath(), {
        args: ["task", "dev"],
        cwd: ROOT,
        env: { PORT: "0", LOG_FORMAT: "json", NO_COLOR: "1" },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const stderr = new Response(child.stderr).text();
      // Read stdout to its end in the background: a closed pipe would break the server's log.
      const found = Promise.withResolvers<{ port: number } | undefined>();
      const reading = (async () => {
        let text = "";
        for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
          text += chunk;
          const line = text.split("\n").find((l) => l.includes('"msg":"listening"'));
          if (line && line.endsWith("}")) found.resolve(JSON.parse(line));
        }
        found.resolve(undefined);
      })();
      const startup = await found.promise;
      if (!startup) assert.fail(`the server did not start: ${await stderr}`);
      const health = await fetch(`http://127.0.0.1:${startup.port}/health`);
      assert.equal(health.status, 200);
      await health.body?.cancel();
      const processes = descendants(child.pid);
      assert.ok(processes.length >= 1, "the task runs the server in a process of its own");

      // The wrapper's own worst case is STOP_GRACE_MS + KILL_AFTER_MS; twice that for noise.
      const bound = 2 * (STOP_GRACE_MS + KILL_AFTER_MS);
      const start = performance.now();
      child.kill(signal);
      let timer;
      const status = await Promise.race([
        child.status,
        new Promise<null>((resolve) => timer = setTimeout(() => resolve(null), 2 * bound)),
      ]);
      clearTimeout(timer);
      const ms = performance.now() - start;
      const left = [child.pid, ...processes].filter(running);
      for (const pid of left) Deno.kill(pid, "SIGKILL"); // clean up after a failure
      if (!status) await child.status;
      await reading;
      assert.deepEqual(left, [], "no process of the task remains");
      assert.equal(status?.code, 0, await stderr);
      assert.ok(ms < bound, `stopped in ${Math.round(ms)} ms (bound ${bound} ms)`);
      await assert.rejects(
        fetch(`http://127.0.0.1:${startup.port}/health`),
        "nothing listens any more",
      );
    },
  });
}
