import assert from "node:assert/strict";
import { LEFT_OUT } from "../config/deploy.ts";
import {
  CGROUP_V1_MEMORY_LIMIT_FILE,
  CONFIG_VARIABLES,
  ConfigError,
  configTable,
  connectionsForMemory,
  DEFAULT_MAX_CONNECTIONS,
  MEMORY_LIMIT_PERMISSION,
  memoryLimitOf,
  parseConfig,
  RUNTIME_VARIABLES,
  type Variable,
  VARIABLES,
} from "../config/mod.ts";
import { MAX_CONNECTIONS } from "../server/mod.ts";
import { ROOT, startTask } from "../tasks/_lib/mod.ts";
import { main as generateMain } from "../tasks/generate.ts";
import { generate, TARGETS } from "../tasks/generate/mod.ts";
import { BEGIN, END } from "../tasks/generate/regions.ts";
import { parseDockerfile } from "../tasks/verify/dockerfile.ts";
// Inline on purpose, as in tests/_kubernetes.ts: test tooling stays out of the image's imports.
// deno-lint-ignore no-import-prefix
import { parse as parseYaml } from "npm:yaml@2.9.1";

function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    parseConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${error}`);
    return error.problems;
  }
  assert.fail(`expected ${JSON.stringify(env)} to be rejected`);
}

Deno.test("config: defaults match the reference app", () => {
  const config = parseConfig({});
  assert.equal(config.port, 8080);
  assert.equal(config.host, "0.0.0.0");
  assert.equal(config.backgroundColor, "white");
  assert.equal(config.customMessage, "SWFT Demo");
  assert.equal(config.hostname, "local");
  assert.equal(config.logLevel, "info");
  assert.equal(config.logFormat, "auto");
  assert.equal(config.shutdownTimeoutMs, 5000);
  assert.equal(config.metrics, "off", "metrics are opt-in");
  assert.equal(config.shutdownDelayMs, 0, "no delay outside Kubernetes");
  assert.equal(config.maxConnections, 16_384, "without a memory limit, as before");
  assert.equal(config.maxConnectionsFrom, "default (no memory limit found)");
  assert.equal(config.revision, "unknown");
  assert.deepEqual(config.sources, []);
});

Deno.test("config: values from the environment are typed, normalised and frozen", () => {
  const config = parseConfig({
    PORT: "3000",
    HOST: "::",
    BACKGROUND_COLOR: "SteelBlue",
    CUSTOM_MESSAGE: "Bonjour 👋",
    HOSTNAME: "4f2a9c1b7d3e",
    LOG_LEVEL: "debug",
    LOG_FORMAT: "json",
    SHUTDOWN_TIMEOUT_MS: "250",
    METRICS: "prometheus",
    SHUTDOWN_DELAY_MS: "3000",
    MAX_CONNECTIONS: "1000000",
    SWFT_REVISION: "4f2a9c1-dirty",
  });
  assert.equal(config.port, 3000);
  assert.equal(config.host, "::");
  assert.equal(config.backgroundColor, "steelblue");
  assert.equal(config.customMessage, "Bonjour 👋");
  assert.equal(config.hostname, "4f2a9c1b7d3e");
  assert.equal(config.logLevel, "debug");
  assert.equal(config.logFormat, "json");
  assert.equal(config.shutdownTimeoutMs, 250);
  assert.equal(config.metrics, "prometheus");
  assert.equal(config.shutdownDelayMs, 3000);
  assert.equal(config.maxConnections, 1_000_000);
  assert.equal(config.maxConnectionsFrom, "MAX_CONNECTIONS");
  assert.equal(config.revision, "4f2a9c1-dirty");
  assert.deepEqual([...config.sources], [...CONFIG_VARIABLES]);
  assert.ok(Object.isFrozen(config));
});

Deno.test("config: an empty value means the default, as with `PORT=` in an env file", () => {
  const config = parseConfig({ PORT: "", BACKGROUND_COLOR: "" });
  assert.equal(config.port, 8080);
  assert.equal(config.backgroundColor, "white");
  assert.deepEqual(config.sources, []);
});

Deno.test("config: PORT accepts 0 (a free port) and hex colours are accepted", () => {
  assert.equal(parseConfig({ PORT: "0" }).port, 0);
  for (const color of ["#abc", "#ABCD", "#1e90ff", "#1e90ff80"]) {
    assert.equal(parseConfig({ BACKGROUND_COLOR: color }).backgroundColor, color.toLowerCase());
  }
});

Deno.test("config: an invalid PORT is named with its rule and value", () => {
  for (const port of ["abc", "-1", "65536", "80.5", "1e3", " 80"]) {
    const problems = problemsOf({ PORT: port });
    assert.equal(problems.length, 1);
    assert.equal(
      problems[0],
      `PORT must be an integer from 0 to 65535 (0 picks a free port), got ${JSON.stringify(port)}`,
    );
  }
});

Deno.test("config: hostile BACKGROUND_COLOR values are rejected, not placed in CSS", () => {
  const hostile = [
    "red;}body{display:none",
    "red</style><script>alert(1)</script>",
    "url(https://evil.example/x.png)",
    "expression(alert(1))",
    "var(--x)",
    "#12345",
    "#ggg",
    "notacolour",
    "red ",
  ];
  for (const value of hostile) {
    const problems = problemsOf({ BACKGROUND_COLOR: value });
    assert.equal(problems.length, 1, value);
    assert.match(problems[0], /^BACKGROUND_COLOR must be a CSS colour name/);
    assert.ok(problems[0].endsWith(`got ${JSON.stringify(value)}`), problems[0]);
  }
});

Deno.test("config: every invalid field is reported at once, one line each", () => {
  const problems = problemsOf({
    PORT: "http",
    HOST: "not a host",
    BACKGROUND_COLOR: "blurple",
    CUSTOM_MESSAGE: "x".repeat(201),
    HOSTNAME: "bad\nname",
    LOG_LEVEL: "verbose",
    LOG_FORMAT: "xml",
    SHUTDOWN_TIMEOUT_MS: "soon",
    METRICS: "statsd",
    SHUTDOWN_DELAY_MS: "-1",
    MAX_CONNECTIONS: "0",
    SWFT_REVISION: "a b",
  });
  const named = problems.map((line) => line.split(" ")[0]);
  assert.deepEqual(named, [...CONFIG_VARIABLES]);
  assert.match(problems[3], /CUSTOM_MESSAGE must be at most 200 characters/);
  assert.match(problems[4], /HOSTNAME must not contain control characters, got "bad\\nname"/);
  assert.match(problems[5], /LOG_LEVEL must be one of debug, info, warn, error, got "verbose"/);
  assert.match(problems[6], /LOG_FORMAT must be one of auto, json, pretty, got "xml"/);
  assert.match(problems[8], /METRICS must be one of off, prometheus, got "statsd"/);
  assert.equal(problems[10], 'MAX_CONNECTIONS must be an integer from 1 to 1000000, got "0"');
  assert.equal(problems[11], 'SWFT_REVISION must be 1 to 64 letters, digits or . _ + -, got "a b"');
});

Deno.test("config: control characters in CUSTOM_MESSAGE are rejected (they would forge log lines)", () => {
  const problems = problemsOf({ CUSTOM_MESSAGE: "ok\u001b[31mred" });
  assert.equal(problems.length, 1);
  assert.match(problems[0], /^CUSTOM_MESSAGE must not contain control characters/);
});

const MiB = 1024 * 1024;

Deno.test("config: MAX_CONNECTIONS is an integer from 1 to 1,000,000", () => {
  assert.equal(parseConfig({ MAX_CONNECTIONS: "1" }).maxConnections, 1);
  for (const value of ["0", "1000001", "-5", "1e3", "many", "10.5"]) {
    assert.deepEqual(problemsOf({ MAX_CONNECTIONS: value }), [
      `MAX_CONNECTIONS must be an integer from 1 to 1000000, got ${JSON.stringify(value)}`,
    ]);
  }
});

Deno.test("config: unset MAX_CONNECTIONS follows the memory limit; set, it wins", () => {
  const memoryLimit = { bytes: 64 * MiB, source: "cgroup" };
  const sized = parseConfig({}, { memoryLimit });
  assert.equal(sized.maxConnections, connectionsForMemory(64 * MiB));
  assert.equal(sized.maxConnectionsFrom, "memory limit 64 MiB (cgroup)");
  const set = parseConfig({ MAX_CONNECTIONS: "5000" }, { memoryLimit });
  assert.equal(set.maxConnections, 5000, "an explicit value is not capped by the limit");
  assert.equal(set.maxConnectionsFrom, "MAX_CONNECTIONS");
  assert.equal(parseConfig({ MAX_CONNECTIONS: "" }, { memoryLimit }).maxConnections, 128);
});

Deno.test("config: MAX_CONNECTIONS' default for 64 MiB, 256 MiB and 1 GiB, bounded both ways", () => {
  assert.equal(connectionsForMemory(64 * MiB), 128);
  assert.equal(connectionsForMemory(256 * MiB), 3200);
  assert.equal(connectionsForMemory(1024 * MiB), 15488);
  assert.equal(connectionsForMemory(16 * 1024 * MiB), 16_384, "never above the old default");
  assert.equal(connectionsForMemory(32 * MiB), 64, "a limit below the baseline still serves some");
  assert.equal(DEFAULT_MAX_CONNECTIONS, MAX_CONNECTIONS, "the server's own default");
});

Deno.test("config: the memory limit as Deno reports it: 0 and cgroup v1's huge 'unlimited' are none", () => {
  assert.deepEqual(memoryLimitOf(64 * MiB), { bytes: 64 * MiB, source: "cgroup" });
  assert.equal(memoryLimitOf(0), undefined, "no limit, or none readable");
  assert.equal(memoryLimitOf(9223372036854771712), undefined, "v1 without a limit");
  const sized = parseConfig({}, { memoryLimit: memoryLimitOf(256 * MiB) });
  assert.equal(sized.maxConnections, 3200);
  assert.equal(sized.maxConnectionsFrom, "memory limit 256 MiB (cgroup)");
});

Deno.test("config: SWFT_REVISION is validated like the others", () => {
  assert.equal(parseConfig({ SWFT_REVISION: "v1.2.3+build.4" }).revision, "v1.2.3+build.4");
  assert.deepEqual(problemsOf({ SWFT_REVISION: "x".repeat(65) }).length, 1);
  assert.match(problemsOf({ SWFT_REVISION: "<script>" })[0], /^SWFT_REVISION must be 1 to 64/);
});

Deno.test("README's configuration table is the schema's (config.ts configTable)", async () => {
  const readme = await Deno.readTextFile(`${ROOT}/README.md`);
  const table = configTable();
  assert.ok(
    readme.includes(`\n${table}\n`),
    `README.md's table differs from config/mod.ts; replace it with:\n${table}`,
  );
});

// ---------------------------------------------------------------------------------------------
// The lists that derive from the schema, the permissions and the policy are written by
// `deno task generate` (tasks/generate/); these tests prove the generator, and what the
// written lists grant.

Deno.test("every derived list is what deno task generate writes", () => {
  assert.deepEqual(generate(ROOT, { check: true }), [], "run deno task generate");
});

/** A scratch project holding every generated file as the project has it. */
function scratchProject(): string {
  const dir = Deno.makeTempDirSync({ prefix: "swft-generate-test-" });
  const read = (file: string) => Deno.readTextFileSync(`${ROOT}/${file}`);
  // The generated files, and verify.config.json: the policy's checks are read from its registry.
  const files = TARGETS.flatMap((target) => Object.keys(target.render(read)));
  for (const file of [...files, "verify.config.json"]) {
    Deno.mkdirSync(`${dir}/${file.slice(0, file.lastIndexOf("/") + 1)}`, { recursive: true });
    Deno.copyFileSync(`${ROOT}/${file}`, `${dir}/${file}`);
  }
  return dir;
}

/** What `deno task generate ARGS` prints and returns in the project at `root`. */
async function runGenerate(
  args: string[],
  root: string,
): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const error = console.error;
  console.error = (line: string) => lines.push(line);
  try {
    return { code: await generateMain(args, root), lines };
  } finally {
    console.error = error;
  }
}

Deno.test("generate --check names each hand-edited list and the fix; generate writes it back", async () => {
  const dir = scratchProject();
  try {
    const compose = `${dir}/compose.yaml`;
    const original = Deno.readTextFileSync(compose);
    Deno.writeTextFileSync(compose, original.replace(/^ *METRICS: .*\n/m, ""));
    const denoJson = `${dir}/deno.json`;
    Deno.writeTextFileSync(denoJson, Deno.readTextFileSync(denoJson).replace(",SWFT_REVISION", ""));
    const checked = await runGenerate(["--check"], dir);
    assert.equal(checked.code, 1);
    assert.deepEqual(checked.lines, [
      "generate: deno.json differs from its source, config/permissions.ts: run deno task " +
      "generate (edit the source)",
      "generate: compose.yaml differs from its source, config/mod.ts (VARIABLES) and " +
      "config/deploy.ts: run deno task generate (edit the source)",
    ]);
    assert.deepEqual(await runGenerate([], dir), {
      code: 0,
      lines: ["generate: wrote deno.json", "generate: wrote compose.yaml"],
    });
    assert.equal(Deno.readTextFileSync(compose), original);
    assert.equal(Deno.readTextFileSync(denoJson), Deno.readTextFileSync(`${ROOT}/deno.json`));
    assert.deepEqual(await runGenerate(["--check"], dir), { code: 0, lines: [] });
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("generate writes the policy's attestations from the release's registry", async () => {
  const dir = scratchProject();
  try {
    const policy = `${dir}/deploy/policy/swft.cue`;
    const original = Deno.readTextFileSync(policy);
    // A hand-edited list: one attestation dropped, as a person would forget it.
    Deno.writeTextFileSync(policy, original.replace(/^\s*\{"name": "sbom".*\n/m, ""));
    const checked = await runGenerate(["--check"], dir);
    assert.equal(checked.code, 1);
    assert.match(
      checked.lines.join("\n"),
      /deploy\/policy\/swft\.cue differs from its source, tasks\/release\/attestations\/mod\.ts/,
    );
    assert.equal((await runGenerate([], dir)).code, 0);
    assert.equal(Deno.readTextFileSync(policy), original);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("generate keeps a person's comments outside its region, and names a list without one", async () => {
  const dir = scratchProject();
  try {
    const file = `${dir}/.env.example`;
    const text = Deno.readTextFileSync(file);
    Deno.writeTextFileSync(file, `# A note of mine\n${text}`);
    assert.deepEqual(generate(dir).map((d) => d.file), []);
    assert.ok(Deno.readTextFileSync(file).startsWith("# A note of mine\n"));
    Deno.writeTextFileSync(file, text.replace(BEGIN, "a list"));
    assert.deepEqual(await runGenerate(["--check"], dir), {
      code: 1,
      lines: [
        `generate: Cannot generate .env.example: it has no generated region; put comments ` +
        `"${BEGIN}" and "${END}" around the list`,
      ],
    });
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

/** The values of `flag` (`--allow-env=A,B` -> [A, B]) among `args`. */
function flagValues(args: readonly string[], flag: string): string[] {
  const found = args.find((arg) => arg.startsWith(`${flag}=`));
  assert.ok(found, `${flag} is granted`);
  return found.slice(flag.length + 1).split(",");
}

let dockerfile: ReturnType<typeof parseDockerfile> | undefined;

/** The instructions of `stage` in the project's Dockerfile, which is read and parsed once. */
function stageInstructions(stage: string) {
  dockerfile ??= parseDockerfile(Deno.readTextFileSync(`${ROOT}/Dockerfile`));
  const found = dockerfile.stages.find((s) => s.name === stage);
  assert.ok(found, `stage ${stage}`);
  return found.instructions;
}

/** The exec-form arrays of `stage` in the Dockerfile, by instruction (ENTRYPOINT, HEALTHCHECK). */
function execForms(stage: string): Record<string, string[]> {
  const forms: Record<string, string[]> = {};
  for (const { keyword, args } of stageInstructions(stage)) {
    if (args.includes("[")) forms[keyword] = JSON.parse(args.slice(args.indexOf("[")));
  }
  return forms;
}

/** The ENV settings of `stage` in the Dockerfile. */
function stageEnv(stage: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const { keyword, args } of stageInstructions(stage)) {
    if (keyword !== "ENV") continue;
    for (const [, name, value] of args.matchAll(/([A-Z_][A-Z0-9_]*)=("[^"]*"|\S*)/g)) {
      env[name] = value.replace(/^"(.*)"$/, "$1");
    }
  }
  return env;
}

Deno.test("the start task and the image grant the server's variables, its folders and the memory limit", async () => {
  const start = startTask().permissions;
  assert.deepEqual(flagValues(start, "--allow-env"), [...CONFIG_VARIABLES]);
  assert.deepEqual(flagValues(start, "--allow-read"), [
    "./templates",
    "./static",
    CGROUP_V1_MEMORY_LIMIT_FILE,
  ]);
  assert.ok(
    start.includes(MEMORY_LIMIT_PERMISSION),
    `the start task grants ${MEMORY_LIMIT_PERMISSION}`,
  );
  assert.deepEqual(flagValues(start, "--allow-sys"), ["systemMemoryInfo"]);
  const image = execForms("runtime-deno");
  for (const form of ["ENTRYPOINT", "HEALTHCHECK"]) {
    assert.deepEqual(flagValues(image[form], "--allow-env"), [...CONFIG_VARIABLES], form);
    assert.deepEqual(flagValues(image[form], "--allow-read"), [
      "/app/templates",
      "/app/static",
      CGROUP_V1_MEMORY_LIMIT_FILE,
    ]);
    assert.deepEqual(flagValues(image[form], "--allow-sys"), ["systemMemoryInfo"]);
  }
  // The image's ENV: the server's variables there are those whose schema entry says `image`,
  // with that value (README's defaults say so); the rest is Deno's own.
  const imageValues = Object.fromEntries(
    CONFIG_VARIABLES.flatMap((name) => {
      const value = (VARIABLES[name] as Variable).image;
      return value === undefined ? [] : [[name, value]];
    }),
  );
  for (const stage of ["runtime-deno", "runtime"]) {
    const env = stageEnv(stage);
    const server = Object.fromEntries(
      Object.entries(env).filter(([name]) => !/^(DENO_|NO_COLOR$)/.test(name)),
    );
    assert.deepEqual(server, imageValues, `Dockerfile ${stage} ENV`);
  }
  // compose.yaml passes each variable through, empty (the default) when unset.
  const compose = parseYaml(await Deno.readTextFile(`${ROOT}/compose.yaml`));
  for (const [name, value] of Object.entries(compose.services.swft.environment)) {
    assert.equal(value, `\${${name}:-}`, `compose.yaml passes ${name} through`);
  }
  // The documented variables reach every list but those config/deploy.ts leaves out.
  const documented = [...CONFIG_VARIABLES, ...RUNTIME_VARIABLES.map((v) => v.name)];
  const composeNames = Object.keys(compose.services.swft.environment);
  assert.deepEqual(composeNames, documented.filter((name) => !(name in LEFT_OUT.compose)));
});

Deno.test("generate writes the policy's required checks from verify's registry", async () => {
  const dir = scratchProject();
  try {
    const policy = `${dir}/deploy/policy/swft.cue`;
    const original = Deno.readTextFileSync(policy);
    // A hand-edited list: a check dropped, as the policy once left out runtime-no-setuid.
    Deno.writeTextFileSync(policy, original.replace(' "runtime-no-setuid",', ""));
    const checked = await runGenerate(["--check"], dir);
    assert.equal(checked.code, 1);
    assert.match(
      checked.lines.join("\n"),
      /deploy\/policy\/swft\.cue differs from its source, tasks\/verify\/ \(the check registry\)/,
    );
    assert.equal((await runGenerate([], dir)).code, 0);
    assert.equal(Deno.readTextFileSync(policy), original);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
