/**
 * One `.env` for every runner. `deno task dev` reads `.env` as `docker run --env-file` does
 * (tasks/dev/env_file.ts) and warns, naming the fix, on every value Compose would read
 * differently. Proven against the real parsers where they are installed: Docker's (in a
 * container), Compose v1's (`docker-compose config`) and Compose v2's when `docker compose`
 * exists; where v2 is missing the table below states what its parser (compose-go
 * dotenv/parser.go: an unquoted value ends at " #", is trimmed, and `$NAME` / `${NAME}` are
 * replaced; quotes are dropped) reads. Then the same `.env` (a hex colour, a message with
 * spaces and `&`) through dev, `docker run --env-file` and Compose v1 gives the same page.
 *
 * @module
 */
import assert from "node:assert/strict";
// deno-lint-ignore no-import-prefix -- test tooling, pinned here and in deno.lock (as _kubernetes.ts)
import { parse as parseYaml } from "npm:yaml@2.9.1";
import {
  baseImageArgs,
  type BaseImages,
  docker,
  dockerBuildArgs,
  dockerOk,
  fetchText,
  poll,
  ROOT,
  run,
  succeeds,
} from "../tasks/_lib/mod.ts";
import { parseEnvFile, portabilityProblem } from "../tasks/dev/env_file.ts";
import { containerTest, IN_CI, requiredTest, testName } from "./_container.ts";
import { listeningPort, startDev } from "./_dev.ts";
import { cleanEnv, copyProject } from "./_project.ts";

/** Set in the environment of the Compose runs, to see which spellings substitute variables. */
const X = "swft-x";

/** How each runner reads a value written after `NAME=`. */
interface Spelling {
  name: string;
  written: string;
  docker: string;
  composeV1: string;
  composeV2: string;
}

function same(name: string, written: string): Spelling {
  return { name, written, docker: written, composeV1: written, composeV2: written };
}

const SPELLINGS: Spelling[] = [
  same("HEX", "#1e90ff"), // Deno's --env-file alone reads "" here: the reason dev parses .env
  same("MESSAGE", "Tom & Jerry say hi"),
  same("HASH_INSIDE", "Hello#1"),
  same("EQUALS", "a=b"),
  same("BACKSLASH", "a\\nb"),
  same("EMPTY", ""),
  {
    name: "HEX_DQ",
    written: '"#1e90ff"',
    docker: '"#1e90ff"',
    composeV1: "#1e90ff",
    composeV2: "#1e90ff",
  },
  {
    name: "NAME_SQ",
    written: "'steelblue'",
    docker: "'steelblue'",
    composeV1: "steelblue",
    composeV2: "steelblue",
  },
  {
    name: "SPACE_HASH",
    written: "Hello #1",
    docker: "Hello #1",
    composeV1: "Hello",
    composeV2: "Hello",
  },
  // v2 ends a value at " #" only, v1 at any blank before "#"
  {
    name: "TAB_HASH",
    written: "Hello\t#1",
    docker: "Hello\t#1",
    composeV1: "Hello",
    composeV2: "Hello\t#1",
  },
  {
    name: "LEADING",
    written: " padded",
    docker: " padded",
    composeV1: "padded",
    composeV2: "padded",
  },
  {
    name: "TRAILING",
    written: "padded  ",
    docker: "padded  ",
    composeV1: "padded",
    composeV2: "padded",
  },
  {
    name: "BRACES",
    written: "a${SWFT_ENV_TEST_X}b",
    docker: "a${SWFT_ENV_TEST_X}b",
    composeV1: `a${X}b`,
    composeV2: `a${X}b`,
  },
  {
    name: "DOLLAR",
    written: "a $SWFT_ENV_TEST_X",
    docker: "a $SWFT_ENV_TEST_X",
    composeV1: "a $SWFT_ENV_TEST_X",
    composeV2: `a ${X}`,
  },
];

const SPELLINGS_FILE = SPELLINGS.map((s) => `${s.name}=${s.written}\n`).join("");
const EXAMPLE = await Deno.readTextFile(`${ROOT}/.env.example`);

Deno.test("parseEnvFile follows docker run --env-file: comments, first '=', values as written", () => {
  const file = parseEnvFile(
    "\uFEFF# a comment\n  # an indented comment\n\nA=1\r\n  B=x=y # not a comment\nBARE\nC=\n" +
      "D=#1e90ff\nA=2\n",
  );
  assert.deepEqual(file.variables.map((v) => [v.name, v.value, v.line]), [
    ["A", "1", 4],
    ["B", "x=y # not a comment", 5],
    ["C", "", 7],
    ["D", "#1e90ff", 8],
    ["A", "2", 9],
  ]);
  assert.deepEqual(file.warnings, [
    '.env line 5: B holds " #", where Compose starts a comment (docker run --env-file keeps it): ' +
    "write B=x=y# not a comment",
  ]);
});

Deno.test("parseEnvFile names a line docker run --env-file refuses, and the fix", () => {
  const file = parseEnvFile("export PORT=3000\nHOST =::1\nCUSTOM_MESSAGE=ok\n");
  assert.deepEqual(file.variables.map((v) => v.name), ["CUSTOM_MESSAGE"]);
  assert.deepEqual(file.warnings, [
    '.env line 1: "export PORT" is not a variable name, and docker run --env-file refuses the ' +
    "file for it: write PORT=VALUE",
    '.env line 2: "HOST " is not a variable name, and docker run --env-file refuses the file ' +
    "for it: write HOST=VALUE",
  ]);
});

Deno.test("dev warns on exactly the spellings the runners read differently, and the fix is portable", () => {
  for (const s of SPELLINGS) {
    const agree = s.docker === s.composeV1 && s.docker === s.composeV2;
    const problem = portabilityProblem(s.name, s.written);
    assert.equal(problem === undefined, agree, `${s.name}=${s.written}: ${problem}`);
    if (!problem) continue;
    assert.ok(problem.startsWith(`${s.name} `), `names the variable: ${problem}`);
    const fix = /: write (\w+)=(.*)$/.exec(problem);
    if (fix) {
      assert.equal(portabilityProblem(fix[1], fix[2]), undefined, `the fix ${fix[0]} is portable`);
    }
  }
});

Deno.test(".env.example is what `cp .env.example .env` gives: no warning, every value portable", () => {
  const file = parseEnvFile(EXAMPLE);
  assert.deepEqual(file.warnings, []);
  assert.ok(file.variables.length >= 5, "the example sets the page's variables");
  assert.ok(file.variables.some((v) => v.name === "BACKGROUND_COLOR"));
});

/** `NAME: ${NAME:-}` for each variable: what compose.yaml does for the app's variables. */
function composeFile(names: string[]): string {
  return "services:\n  s:\n    image: swft-env-test\n    environment:\n" +
    names.map((name) => `      ${name}: \${${name}:-}\n`).join("");
}

/** The environment `compose config` gives service `s` with `dotenv` as the project's .env. */
async function composeReads(compose: string[], dotenv: string): Promise<Record<string, string>> {
  const dir = await Deno.makeTempDir({ prefix: "swft-env-test-" });
  try {
    const names = parseEnvFile(dotenv).variables.map((v) => v.name);
    await Deno.writeTextFile(`${dir}/compose.yaml`, composeFile(names));
    await Deno.writeTextFile(`${dir}/.env`, dotenv);
    // A clean environment: a variable the shell sets would win over the .env under test.
    const result = await run(compose[0], [...compose.slice(1), "config"], {
      cwd: dir,
      clearEnv: true,
      env: cleanEnv({ SWFT_ENV_TEST_X: X }),
    });
    assert.equal(result.code, 0, result.stderr);
    const environment = parseYaml(result.stdout).services.s.environment as Record<string, unknown>;
    // config writes a literal "$" as "$$" (its own escape) when it prints the file again
    return Object.fromEntries(
      Object.entries(environment).map(([k, v]) => [k, String(v ?? "").replaceAll("$$", "$")]),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const COMPOSE_V1 = await succeeds("docker-compose", ["version"]);
const COMPOSE_V2 = await succeeds("docker", ["compose", "version"]);

requiredTest(
  "Compose reads every spelling as the table says, and .env.example as written" +
    (COMPOSE_V2 ? " (v1 and v2)" : " (v1; v2 is not installed: the table states its parser)"),
  COMPOSE_V1 ? undefined : "docker-compose is not installed; apt-get install docker-compose",
  async () => {
    const composes: [string[], keyof Spelling][] = [[["docker-compose"], "composeV1"]];
    if (COMPOSE_V2) composes.push([["docker", "compose"], "composeV2"]);
    for (const [command, column] of composes) {
      const read = await composeReads(command, SPELLINGS_FILE);
      for (const s of SPELLINGS) {
        assert.equal(read[s.name], s[column], `${command.join(" ")}: ${s.name}=${s.written}`);
      }
      const example = await composeReads(command, EXAMPLE);
      for (const v of parseEnvFile(EXAMPLE).variables) {
        assert.equal(example[v.name], v.value, `${command.join(" ")}: .env.example ${v.name}`);
      }
    }
  },
);

/** The variables a container started with `docker run --env-file FILE` sees. */
async function dockerReads(images: BaseImages, dotenv: string): Promise<Record<string, string>> {
  const dir = await Deno.makeTempDir({ prefix: "swft-env-test-" });
  try {
    await Deno.writeTextFile(`${dir}/env`, dotenv);
    const output = await dockerOk([
      "run",
      "--rm",
      "--name",
      testName("env-file"),
      "--env-file",
      `${dir}/env`,
      images.deno,
      "deno",
      "eval",
      "console.log(JSON.stringify(Deno.env.toObject()))",
    ]);
    return JSON.parse(output.split("\n").pop()!);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

containerTest(
  "dev reads every spelling and .env.example as docker run --env-file does",
  async (images) => {
    const read = await dockerReads(images, SPELLINGS_FILE);
    const dev = Object.fromEntries(
      parseEnvFile(SPELLINGS_FILE).variables.map((v) => [v.name, v.value]),
    );
    for (const s of SPELLINGS) {
      assert.equal(read[s.name], s.docker, `docker: ${s.name}=${s.written}`);
      assert.equal(dev[s.name], read[s.name], `dev: ${s.name}=${s.written}`);
    }
    const example = await dockerReads(images, EXAMPLE);
    for (const v of parseEnvFile(EXAMPLE).variables) {
      assert.equal(example[v.name], v.value, `.env.example ${v.name}`);
    }
  },
);

// ---- The same page from every runner ----

/** A hex colour (Deno's --env-file would drop it) and a message with spaces and "&". */
const PAGE_ENV = "BACKGROUND_COLOR=#1e90ff\nCUSTOM_MESSAGE=Tom & Jerry say hi\n";

/** What the .env decides on the page: the theme's colours and the message card. */
async function pageFacts(base: string): Promise<{ theme: string; message: string }> {
  const up = await poll(async () => {
    try {
      return (await fetchText(`${base}/health`, 2000)).status === 200 || undefined;
    } catch {
      return undefined; // not listening yet
    }
  }, { timeoutMs: 30_000, intervalMs: 200 });
  assert.ok(up, `${base} did not answer`);
  const theme = (await fetchText(`${base}/theme.css`)).body.trim();
  const page = (await fetchText(`${base}/`)).body;
  const message = /<p class="value" id="message">([^<]*)<\/p>/.exec(page)?.[1] ?? "(no message)";
  return { theme, message };
}

/** Runs `deno task dev` in `dir` until `fn` is done with its base URL. */
async function withDev<T>(dir: string, fn: (base: string) => Promise<T>): Promise<T> {
  const dev = startDev(dir, { PORT: "0", LOG_FORMAT: "json" });
  try {
    return await fn(`http://127.0.0.1:${await listeningPort(dev)}`);
  } finally {
    dev.child.kill("SIGTERM");
    await dev.status.catch(() => {});
    await dev.cleanup();
  }
}

/** `host:port` of a published container port, as 127.0.0.1 URL. */
function baseUrl(portLine: string): string {
  const port = /:(\d+)\s*$/.exec(portLine.trim().split("\n")[0])?.[1];
  assert.ok(port, `no published port in "${portLine}"`);
  return `http://127.0.0.1:${port}`;
}

containerTest(
  "one .env, the same page: deno task dev, docker run --env-file, Compose v1",
  async (images) => {
    // Without docker-compose, dev and docker run are compared; under CI it must be there.
    const withCompose = COMPOSE_V1 || IN_CI;
    if (!withCompose) console.error("docker-compose is not installed: compared dev and docker run");
    const dir = await copyProject("swft-env-test-");
    const image = `${testName("env-page")}:test`;
    const container = testName("env-page");
    const project = testName("env-page-compose");
    try {
      await Deno.writeTextFile(`${dir}/.env`, PAGE_ENV);
      const pages: Record<string, { theme: string; message: string }> = {};
      pages["deno task dev"] = await withDev(dir, pageFacts);

      // .dockerignore keeps .env out of the image: the values come from --env-file only.
      await dockerOk(dockerBuildArgs({
        context: dir,
        target: "runtime-deno",
        tag: image,
        buildArgs: baseImageArgs(images),
        quiet: true,
      }));
      await dockerOk([
        "run",
        "-d",
        "--name",
        container,
        "--read-only",
        "-p",
        "127.0.0.1::80",
        "--env-file",
        `${dir}/.env`,
        image,
      ]);
      pages["docker run --env-file"] = await pageFacts(
        baseUrl(await dockerOk(["port", container, "80"])),
      );

      if (withCompose) {
        // The project's own compose.yaml, on the image just built; a free port on 127.0.0.1.
        const env = cleanEnv({ SWFT_IMAGE: image, SWFT_HOST_PORT: "127.0.0.1:" });
        const up = await run("docker-compose", ["-p", project, "up", "-d", "--no-build"], {
          cwd: dir,
          clearEnv: true,
          env,
        });
        assert.equal(up.code, 0, up.stderr);
        const port = await run("docker-compose", ["-p", project, "port", "swft", "80"], {
          cwd: dir,
          clearEnv: true,
          env,
        });
        assert.equal(port.code, 0, port.stderr);
        pages["docker-compose (v1)"] = await pageFacts(baseUrl(port.stdout));
      }

      const expected = { theme: pages["deno task dev"].theme, message: "Tom &amp; Jerry say hi" };
      assert.match(expected.theme, /--bg:#1e90ff;/);
      for (const [runner, facts] of Object.entries(pages)) {
        assert.deepEqual(facts, expected, runner);
      }
    } finally {
      if (withCompose) {
        await run("docker-compose", ["-p", project, "down", "--volumes"], { cwd: dir });
      }
      await docker(["rm", "-f", container]);
      await docker(["rmi", image]);
      await Deno.remove(dir, { recursive: true });
    }
  },
);
