/**
 * The real process's answer to hostile environment values: bytes that are not UTF-8 and huge
 * values get the usual one-line error, never a stack trace or an echo of the whole value.
 *
 * @module
 */
import assert from "node:assert/strict";
import { CONFIG_VARIABLES, ConfigError, parseConfig, readMemoryLimit } from "../config/mod.ts";
import { healthcheckUrl } from "../server/healthcheck.ts";
import { localHost } from "../server/mod.ts";
import { runMain, spawnServer, startTaskArgs } from "./_server_process.ts";

const ROOT = new URL("..", import.meta.url).pathname;

/** Run main.ts with the start task's flags, `name` set to raw `bytes` (octal escapes for printf). */
async function runWithRawVariable(
  name: string,
  printfBytes: string,
  args: string[] = [],
  env: Record<string, string> = {},
) {
  // Deno.Command takes environment values as strings, so the shell sets the raw bytes.
  const output = await new Deno.Command("sh", {
    args: [
      "-c",
      `${name}="$(printf '${printfBytes}')"; export ${name}; exec "$@"`,
      "sh",
      Deno.execPath(),
      ...startTaskArgs(),
      ...args,
    ],
    cwd: ROOT,
    env: { NO_COLOR: "1", PORT: "0", LOG_FORMAT: "json", ...env },
    stdin: "null",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

Deno.test("invalid UTF-8 in CUSTOM_MESSAGE stops the server with one line, no stack trace", async () => {
  const { code, stdout, stderr } = await runWithRawVariable("CUSTOM_MESSAGE", "ab\\377cd");
  assert.equal(code, 1);
  assert.equal(stdout, "");
  assert.equal(stderr, "Cannot start server: CUSTOM_MESSAGE is not valid UTF-8\n");
});

Deno.test("invalid UTF-8 in any variable the server reads is named, also in healthcheck mode", async () => {
  for (const name of ["PORT", "HOST", "LOG_LEVEL", "SHUTDOWN_TIMEOUT_MS", "MAX_CONNECTIONS"]) {
    const serve = await runWithRawVariable(name, "\\300\\200");
    assert.equal(serve.code, 1, name);
    assert.equal(serve.stderr, `Cannot start server: ${name} is not valid UTF-8\n`);
  }
  for (const name of ["PORT", "HOST"]) {
    const check = await runWithRawVariable(name, "\\377", ["healthcheck"]);
    assert.equal(check.code, 1, name);
    assert.equal(check.stderr, `Unhealthy: ${name} is not valid UTF-8\n`);
  }
});

Deno.test("a 10 KB invalid value is echoed cut to a short prefix", async () => {
  const { code, stderr } = await runMain([], { BACKGROUND_COLOR: "x".repeat(10_240) });
  assert.equal(code, 1);
  assert.ok(stderr.length < 300, `stderr is short (${stderr.length} characters)`);
  assert.match(
    stderr,
    /^Cannot start server: BACKGROUND_COLOR must be a CSS colour name .*, got "x{40}"\.\.\. \(10240 characters\)\n$/,
  );
});

Deno.test("healthcheck reads PORT and HOST with the configuration's defaults, without its schema", () => {
  const defaults = parseConfig({});
  assert.equal(healthcheckUrl({}), `http://${localHost(defaults.host)}:${defaults.port}`);
  assert.equal(healthcheckUrl({ PORT: "80", HOST: "::" }), "http://[::1]:80");
  assert.throws(
    () => healthcheckUrl({ PORT: "0", HOST: "a/b" }),
    (error: unknown) =>
      error instanceof ConfigError && error.problems.length === 2 &&
      error.problems[0] === 'PORT must be an integer from 1 to 65535, got "0"' &&
      error.problems[1] === 'HOST must be an IP address or a host name, got "a/b"',
  );
});

Deno.test("METRICS=prometheus SWFT_REVISION=$'\\xff' stops the server with one line, no stack trace", async () => {
  const { code, stdout, stderr } = await runWithRawVariable("SWFT_REVISION", "\\377", [], {
    METRICS: "prometheus",
  });
  assert.equal(code, 1);
  assert.equal(stdout, "");
  assert.equal(stderr, "Cannot start server: SWFT_REVISION is not valid UTF-8\n");
});

Deno.test("main.ts --help lists every variable of the schema with its default", async () => {
  const { code, stdout } = await runMain(["--help"], {});
  assert.equal(code, 0);
  for (const name of [...CONFIG_VARIABLES, "TZ"]) {
    assert.match(stdout, new RegExp(`^  ${name} +\\S.*; default: `, "m"), name);
  }
  const unknown = await runMain(["serv"], {});
  assert.equal(unknown.code, 2);
  assert.equal(unknown.stderr.split("\n")[0], 'Cannot run main.ts: unknown command "serv"');
  assert.match(unknown.stderr, /^ {2}MAX_CONNECTIONS /m, "followed by the usage");
});

Deno.test("the startup line says how many connections are served and where that came from", async () => {
  // This machine's own limit, read as the server reads it (none on a bare host).
  const limit = await readMemoryLimit();
  const expected = parseConfig({}, { memoryLimit: limit });
  const sized = await spawnServer();
  await sized.stop();
  assert.equal(sized.startup.maxConnections, expected.maxConnections);
  assert.equal(sized.startup.maxConnectionsFrom, expected.maxConnectionsFrom);
  const set = await spawnServer({ MAX_CONNECTIONS: "100" });
  await set.stop();
  assert.equal(set.startup.maxConnections, 100);
  assert.equal(set.startup.maxConnectionsFrom, "MAX_CONNECTIONS");
});
