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
import { descendants, listeningPort, running, startDevInCopy } from "./_dev.ts";

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
      await using dev = await startDevInCopy({ PORT: "0", LOG_FORMAT: "json" });
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
    },
  });
}

Deno.test("deno task dev with a bad value from the shell: the server's error, then exit 1", async () => {
  await using dev = await startDevInCopy({ PORT: "0", BACKGROUND_COLOR: "nope" });
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
});

Deno.test("deno task dev: a quoted .env value is a warning with the fix; saving it restarts", async () => {
  // The shell's value wins over the file's, as with Compose and Deno's --env-file.
  await using dev = await startDevInCopy({ CUSTOM_MESSAGE: "from the shell" }, {
    ".env": 'PORT=0\nLOG_FORMAT=json\nBACKGROUND_COLOR="#1e90ff"\nCUSTOM_MESSAGE=from the file\n',
  });
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
    `${dev.dir}/.env`,
    "PORT=0\nLOG_FORMAT=json\nBACKGROUND_COLOR=#1e90ff\nCUSTOM_MESSAGE=from the file\n",
  );
  const port = await listeningPort(dev, from);
  assert.match(await page(port, "/theme.css"), /--bg:#1e90ff;/);
  assert.match(await page(port, "/"), /<p class="value" id="message">from the shell<\/p>/);
  assert.match(dev.text.stderr, /^dev: \.env changed: restarting the server$/m);

  dev.child.kill("SIGTERM");
  assert.equal((await dev.status).code, 0, dev.text.stderr);
});
