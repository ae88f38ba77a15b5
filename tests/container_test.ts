/**
 * The container image as a user meets it, on a real Docker engine: built from the stand-in
 * base images (`deno task images:standin`, built here if missing; `SWFT_TEST_DENO_IMAGE` and
 * `SWFT_TEST_RUNTIME_IMAGE` name other bases), run with the hardening
 * flags, probed over HTTP on an ephemeral loopback port, stopped, and its file system read
 * from `docker export`.
 *
 * One image per target is built lazily and shared by the tests; everything created (temp
 * context, containers, images) is removed when the test process unloads.
 */
import assert from "node:assert/strict";

const ROOT = new URL("..", import.meta.url).pathname;
const DENO_STANDIN = "swft-standin/deno:2.9.6";
const DISTROLESS_STANDIN = "swft-standin/distroless-cc-debian13:nonroot";
// Where registries are reachable (e.g. GitHub Actions) the real bases can be named instead.
const DENO_IMAGE = Deno.env.get("SWFT_TEST_DENO_IMAGE") || DENO_STANDIN;
const RUNTIME_IMAGE = Deno.env.get("SWFT_TEST_RUNTIME_IMAGE") || DISTROLESS_STANDIN;
const BUILD_ARGS = [
  "--build-arg",
  `DENO_IMAGE=${DENO_IMAGE}`,
  "--build-arg",
  `RUNTIME_IMAGE=${RUNTIME_IMAGE}`,
];
const HARDENING = ["--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges"];
const RUN_ID = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const REPO = `swft-container-test-${RUN_ID}`;
/** Planted in the build context's .env; must never show up in an image. */
const SECRET = `swft-secret-${crypto.randomUUID()}`;

const decoder = new TextDecoder();

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function docker(args: string[], options: { cwd?: string } = {}): Promise<Result> {
  const output = await new Deno.Command("docker", {
    args,
    cwd: options.cwd,
    stdin: "null",
    env: { DOCKER_CLI_HINTS: "false" },
  }).output();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout).trim(),
    stderr: decoder.decode(output.stderr).trim(),
  };
}

async function dockerOk(args: string[], options: { cwd?: string } = {}): Promise<string> {
  const result = await docker(args, options);
  if (result.code !== 0) {
    throw new Error(`docker ${args.slice(0, 2).join(" ")} failed: ${result.stderr}`);
  }
  return result.stdout;
}

async function engineVersion(): Promise<string | undefined> {
  try {
    const result = await docker(["version", "--format", "{{.Server.Version}}"]);
    return result.code === 0 ? result.stdout : undefined;
  } catch {
    return undefined; // no docker CLI at all
  }
}

const ENGINE = await engineVersion();
const SKIP = ENGINE ? undefined : "no Docker engine reachable";
if (SKIP) console.log(`container tests skipped: ${SKIP}`);

function name(title: string): string {
  return SKIP ? `${title} (skipped: ${SKIP})` : title;
}

// ---- clean-up, also when a test fails or the run is interrupted --------------------------

const createdContainers = new Set<string>();
const createdImages = new Set<string>();
const tempDirs = new Set<string>();

globalThis.addEventListener("unload", () => {
  const quiet = { stdout: "null", stderr: "null" } as const;
  if (createdContainers.size) {
    new Deno.Command("docker", { args: ["rm", "-f", ...createdContainers], ...quiet }).outputSync();
  }
  if (createdImages.size) {
    new Deno.Command("docker", { args: ["rmi", "-f", ...createdImages], ...quiet }).outputSync();
  }
  for (const dir of tempDirs) Deno.removeSync(dir, { recursive: true });
});

// ---- the build context: a copy of the project plus files that must stay out ---------------

const SKIP_COPY = new Set([".git", "dist", "coverage", "node_modules"]);

async function copyTree(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const entry of Deno.readDir(from)) {
    if (SKIP_COPY.has(entry.name)) continue;
    const source = `${from}/${entry.name}`;
    const target = `${to}/${entry.name}`;
    if (entry.isDirectory) await copyTree(source, target);
    else if (entry.isFile) await Deno.copyFile(source, target);
  }
}

let contextPromise: Promise<string> | undefined;

/** A temp copy of the project with a secret .env (and friends) a careless build would copy. */
function buildContext(): Promise<string> {
  return contextPromise ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "swft-container-test-" });
    tempDirs.add(dir);
    await copyTree(ROOT.replace(/\/$/, ""), dir);
    await Deno.writeTextFile(`${dir}/.env`, `CUSTOM_MESSAGE=${SECRET}\nAPI_KEY=${SECRET}\n`);
    await Deno.writeTextFile(`${dir}/.env.production`, `API_KEY=${SECRET}\n`);
    await Deno.writeTextFile(`${dir}/server.key`, `${SECRET}\n`);
    return dir;
  })();
}

// ---- images -------------------------------------------------------------------------------

let standinsPromise: Promise<void> | undefined;

/** The stand-in bases exist afterwards, or this throws saying why (never skips silently). */
function ensureStandins(): Promise<void> {
  return standinsPromise ??= (async () => {
    const missing = [];
    const standins = [DENO_IMAGE, RUNTIME_IMAGE].filter((i) => i.startsWith("swft-standin/"));
    for (const tag of standins) {
      if ((await docker(["image", "inspect", "--format", "{{.Id}}", tag])).code !== 0) {
        missing.push(tag);
      }
    }
    if (!missing.length) return;
    console.log(`building missing stand-ins (${missing.join(", ")}) with deno task images:standin`);
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["task", "images:standin"],
      cwd: ROOT,
      stdin: "null",
    }).output();
    if (!output.success) {
      throw new Error(
        `Cannot build the stand-in base images: deno task images:standin exited ${output.code}: ` +
          decoder.decode(output.stderr).trim().split("\n").slice(-3).join(" | "),
      );
    }
  })();
}

interface Build {
  tag: string;
  code: number;
  log: string;
  ms: number;
}

const builds = new Map<string, Promise<Build>>();

/** Builds `target` from the temp context once; later calls share the result. */
function buildTarget(target: string): Promise<Build> {
  let build = builds.get(target);
  if (!build) {
    build = (async () => {
      await ensureStandins();
      const context = await buildContext();
      const tag = `${REPO}:${target}`;
      const started = performance.now();
      const result = await docker(
        [
          "build",
          "--force-rm",
          "--target",
          target,
          ...BUILD_ARGS,
          "--build-arg",
          "VERSION=test",
          "-t",
          tag,
          ".",
        ],
        { cwd: context },
      );
      const ms = performance.now() - started;
      if (result.code === 0) createdImages.add(tag);
      return { tag, code: result.code, log: `${result.stdout}\n${result.stderr}`, ms };
    })();
    builds.set(target, build);
  }
  return build;
}

async function builtImage(target: string): Promise<string> {
  const build = await buildTarget(target);
  assert.equal(build.code, 0, `docker build --target ${target} failed:\n${build.log.slice(-3000)}`);
  return build.tag;
}

// ---- running containers -------------------------------------------------------------------

interface Container {
  id: string;
  url: string;
}

async function runContainer(image: string, extra: string[] = []): Promise<Container> {
  const id = await dockerOk([
    "run",
    "-d",
    "--name",
    `${REPO}-${crypto.randomUUID().slice(0, 8)}`,
    ...HARDENING,
    "-p",
    "127.0.0.1::80",
    "--health-interval=1s",
    "--health-start-period=10s",
    "--health-timeout=3s",
    ...extra,
    image,
  ]);
  createdContainers.add(id);
  const port = (await dockerOk(["port", id, "80/tcp"])).split("\n")[0].split(":").pop();
  const url = `http://127.0.0.1:${port}`;
  // Up when /health answers; give up after 20 s with the container's log.
  const deadline = Date.now() + 20_000;
  while (true) {
    try {
      const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) });
      await response.body?.cancel();
      if (response.ok) break;
    } catch { /* not listening yet */ }
    const state = await dockerOk(["inspect", "-f", "{{.State.Status}}", id]);
    if (state !== "running" || Date.now() > deadline) {
      const logs = await docker(["logs", id]);
      throw new Error(`container ${state}, not serving:\n${logs.stdout}\n${logs.stderr}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { id, url };
}

async function removeContainer(container: Container | undefined): Promise<void> {
  if (!container) return;
  await docker(["rm", "-f", container.id]);
  createdContainers.delete(container.id);
}

let sharedContainer: Promise<Container> | undefined;

/** One runtime-deno container for the read-only probes. */
function runtimeDenoContainer(): Promise<Container> {
  return sharedContainer ??= (async () => runContainer(await builtImage("runtime-deno")))();
}

// ---- image file systems -------------------------------------------------------------------

interface ExportedFs {
  dir: string;
  /** Paths (without a leading slash) and `tar -tv` type/mode strings. */
  entries: { path: string; mode: string }[];
}

const exports = new Map<string, Promise<ExportedFs>>();

/** The image's merged file system, as `docker export` of a created (never started) container. */
function exportImage(image: string): Promise<ExportedFs> {
  let exported = exports.get(image);
  if (!exported) {
    exported = (async () => {
      const id = await dockerOk(["create", image]);
      createdContainers.add(id);
      const dir = await Deno.makeTempDir({ prefix: "swft-container-fs-" });
      tempDirs.add(dir);
      try {
        await dockerOk(["export", "-o", `${dir}/fs.tar`, id]);
      } finally {
        await docker(["rm", "-f", id]);
        createdContainers.delete(id);
      }
      const listing = await new Deno.Command("tar", { args: ["-tvf", `${dir}/fs.tar`] }).output();
      const entries = decoder.decode(listing.stdout).split("\n").filter(Boolean).map((line) => {
        const fields = line.split(/\s+/);
        // mode owner size date time path [-> target]
        const path = fields.slice(5).join(" ").replace(/ -> .*$/, "").replace(/ link to .*$/, "");
        return { path: path.replace(/^\.?\//, "").replace(/\/$/, ""), mode: fields[0] };
      });
      await Deno.mkdir(`${dir}/root`);
      const untar = await new Deno.Command("tar", {
        args: [
          "-xf",
          `${dir}/fs.tar`,
          "-C",
          `${dir}/root`,
          "--no-same-owner",
          "--no-same-permissions",
        ],
      }).output();
      assert.ok(untar.success, decoder.decode(untar.stderr));
      await Deno.remove(`${dir}/fs.tar`);
      return { dir: `${dir}/root`, entries };
    })();
    exports.set(image, exported);
  }
  return exported;
}

const SHELLS = /^(sh|bash|dash|ash|busybox|zsh|ksh|mksh|fish|csh|tcsh|toybox)$/;
const PACKAGE_MANAGERS =
  /^(apt|apt-get|apt-cache|aptitude|dpkg|dpkg-deb|apk|yum|dnf|microdnf|rpm|pip3?|npm|npx|yarn|pnpm|gem)$/;
const COMPILERS =
  /^(?:[a-z0-9_]+-linux-gnu-)?(gcc|cc|c\+\+|g\+\+|cpp|clang|tcc|make|cmake|ninja|ld|ld\.bfd|ld\.gold|as|rustc|cargo)(?:-[\d.]+)?$/;

/** Executables and links whose file name matches `pattern`. */
function programs(fs: ExportedFs, pattern: RegExp): string[] {
  return fs.entries.filter((e) => {
    const base = e.path.split("/").pop()!;
    return e.mode[0] !== "d" && pattern.test(base) &&
      (e.mode[0] === "l" || e.mode[0] === "h" || /x/.test(e.mode) || /(^|\/)s?bin\//.test(e.path));
  }).map((e) => e.path);
}

/** Files under `dir` whose contents include `needle` (grep -r, as the images are large). */
async function filesContaining(dir: string, needle: string): Promise<string[]> {
  const output = await new Deno.Command("grep", {
    args: ["-r", "-l", "-a", "-F", "--", needle, "."],
    cwd: dir,
  }).output();
  return decoder.decode(output.stdout).split("\n").filter(Boolean);
}

/**
 * Whether the `deno install` and `COPY *.ts` steps came from the cache, from the output of the
 * legacy builder ("Step n/m : ..." then " ---> Using cache") or BuildKit ("#n [...] ..." then
 * "#n CACHED").
 */
function stepCaching(log: string): { install?: boolean; code?: boolean } {
  if (/^Step \d+\/\d+ : /m.test(log)) {
    const steps = log.split(/\nStep \d+\/\d+ : /);
    const cached = (match: (step: string) => boolean) => {
      const step = steps.find(match);
      return step === undefined ? undefined : /---> Using cache/.test(step);
    };
    return {
      install: cached((s) => s.startsWith("RUN ") && s.includes("deno install")),
      code: cached((s) => s.startsWith("COPY *.ts")),
    };
  }
  const cached = (pattern: RegExp) => {
    const id = log.match(new RegExp(`^#(\\d+) \\[[^\\]]*\\] ${pattern.source}`, "m"))?.[1];
    return id === undefined ? undefined : new RegExp(`^#${id} CACHED`, "m").test(log);
  };
  return { install: cached(/RUN .*deno install/), code: cached(/COPY \*\.ts/) };
}

// ---- tests --------------------------------------------------------------------------------

const options = { ignore: Boolean(SKIP), sanitizeResources: false, sanitizeOps: false };

Deno.test({
  ...options,
  name: name("runtime-deno builds from the stand-in bases with the legacy builder or BuildKit"),
  async fn() {
    const build = await buildTarget("runtime-deno");
    assert.equal(build.code, 0, build.log.slice(-3000));
    console.log(`  built in ${(build.ms / 1000).toFixed(1)} s`);
    const config = JSON.parse(
      await dockerOk(["image", "inspect", "-f", "{{json .Config}}", build.tag]),
    );
    assert.equal(config.User, "65532:65532");
    assert.ok(config.ExposedPorts["80/tcp"], "EXPOSE 80");
    assert.ok(config.Env.includes("PORT=80"));
    assert.ok(config.Env.includes("LOG_FORMAT=json"));
    assert.deepEqual(config.Healthcheck.Test.slice(0, 2), ["CMD", "/usr/bin/deno"]);
    assert.equal(config.Healthcheck.Test.at(-1), "healthcheck");
    assert.equal(config.Labels["org.opencontainers.image.title"], "swft");
    assert.equal(config.Labels["org.opencontainers.image.version"], "test");
    assert.ok("org.opencontainers.image.revision" in config.Labels);
    assert.ok("org.opencontainers.image.source" in config.Labels);
  },
});

Deno.test({
  ...options,
  name: name(
    "runtime-deno serves /, /health, /time and static files read-only, without capabilities",
  ),
  async fn() {
    const { url } = await runtimeDenoContainer();
    const root = await fetch(`${url}/`);
    assert.equal(root.status, 200);
    assert.match(root.headers.get("content-type") ?? "", /^text\/html/);
    assert.equal(root.headers.get("x-content-type-options"), "nosniff");
    const html = await root.text();
    assert.match(html, /Hello World!/);
    assert.match(html, /SWFT Demo/);

    const health = await fetch(`${url}/health`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: "ok" });

    const time = await fetch(`${url}/time`);
    assert.equal(time.status, 200);
    assert.match((await time.json()).time, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);

    const css = await fetch(`${url}/static/style.css`);
    assert.equal(css.status, 200);
    assert.match(css.headers.get("content-type") ?? "", /^text\/css/);
    assert.ok((await css.text()).length > 0);
  },
});

Deno.test({
  ...options,
  name: name("runtime-deno becomes healthy through its own healthcheck mode"),
  async fn() {
    const { id } = await runtimeDenoContainer();
    const deadline = Date.now() + 30_000;
    let status = "";
    while (Date.now() < deadline) {
      status = await dockerOk(["inspect", "-f", "{{.State.Health.Status}}", id]);
      if (status === "healthy" || status === "unhealthy") break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const log = await dockerOk(["inspect", "-f", "{{json .State.Health.Log}}", id]);
    assert.equal(status, "healthy", `health log: ${log}`);
  },
});

Deno.test({
  ...options,
  name: name("runtime-deno's server runs as uid 65532"),
  async fn() {
    const { id } = await runtimeDenoContainer();
    const pid = await dockerOk(["inspect", "-f", "{{.State.Pid}}", id]);
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    const uids = status.match(/^Uid:\s+(.*)$/m)![1].split(/\s+/);
    assert.deepEqual(uids, ["65532", "65532", "65532", "65532"]);
    const gids = status.match(/^Gid:\s+(.*)$/m)![1].split(/\s+/);
    assert.equal(gids[0], "65532");
    assert.match(status, /^CapEff:\s+0+$/m);
  },
});

Deno.test({
  ...options,
  name: name("runtime-deno stops on docker stop with exit code 0, before the engine would kill it"),
  async fn() {
    let container: Container | undefined;
    try {
      container = await runContainer(await builtImage("runtime-deno"));
      const started = performance.now();
      // With -t 3 a server that ignores SIGTERM is killed after 3 s and exits 137.
      await dockerOk(["stop", "-t", "3", container.id]);
      const ms = performance.now() - started;
      const exit = await dockerOk(["inspect", "-f", "{{.State.ExitCode}}", container.id]);
      const logs = await docker(["logs", container.id]);
      assert.equal(exit, "0", logs.stdout + logs.stderr);
      assert.match(logs.stdout, /"shutting down"/);
      console.log(`  docker stop took ${ms.toFixed(0)} ms`);
    } finally {
      await removeContainer(container);
    }
  },
});

Deno.test({
  ...options,
  name: name("runtime-deno holds no shell, package manager or compiler"),
  async fn() {
    const fs = await exportImage(await builtImage("runtime-deno"));
    assert.ok(fs.entries.some((e) => e.path === "usr/bin/deno"), "the listing is real");
    assert.deepEqual(programs(fs, SHELLS), []);
    assert.deepEqual(programs(fs, PACKAGE_MANAGERS), []);
    assert.deepEqual(programs(fs, COMPILERS), []);
    assert.ok(!fs.entries.some((e) => e.path.startsWith("app/tests")), "no tests in the image");
    assert.ok(!fs.entries.some((e) => e.path.startsWith("app/tasks")), "no tasks in the image");
  },
});

Deno.test({
  ...options,
  name: name("a secret .env in the build context reaches no image, not even a build stage"),
  async fn() {
    const context = await buildContext();
    assert.match(await Deno.readTextFile(`${context}/.env`), new RegExp(SECRET));
    for (const target of ["runtime-deno", "app"]) {
      const fs = await exportImage(await builtImage(target));
      assert.ok(fs.entries.length > 100, `${target} listing is real`);
      assert.deepEqual(fs.entries.filter((e) => /(^|\/)\.env|\.key$/.test(e.path)), [], target);
      assert.deepEqual(await filesContaining(fs.dir, SECRET), [], `${target} holds the secret`);
    }
    // The image's history holds no build argument or command with it either.
    const history = await dockerOk([
      "history",
      "--no-trunc",
      "--format",
      "{{.CreatedBy}}",
      (await buildTarget("runtime-deno")).tag,
    ]);
    assert.doesNotMatch(history, new RegExp(SECRET));
  },
});

Deno.test({
  ...options,
  name: name("a code-only change rebuilds without re-fetching the npm dependencies"),
  async fn() {
    await builtImage("app");
    const context = await buildContext();
    const copy = await Deno.makeTempDir({ prefix: "swft-container-test-edit-" });
    tempDirs.add(copy);
    await copyTree(context, copy);
    await Deno.writeTextFile(`${copy}/main.ts`, `\n// edited ${RUN_ID}\n`, { append: true });
    const tag = `${REPO}:edited`;
    const result = await docker([
      "build",
      "--force-rm",
      "--target",
      "app",
      ...BUILD_ARGS,
      "-t",
      tag,
      ".",
    ], {
      cwd: copy,
    });
    if (result.code === 0) createdImages.add(tag);
    assert.equal(result.code, 0, result.stderr);
    const { install, code } = stepCaching(`${result.stdout}\n${result.stderr}`);
    assert.equal(install, true, "the dependency layer (deno install) is reused");
    assert.equal(code, false, "the code layer (COPY *.ts) is rebuilt");
  },
});

Deno.test({
  ...options,
  name: name("runtime (compiled) builds and serves, or fails at deno compile saying what to do"),
  async fn() {
    const build = await buildTarget("runtime");
    if (build.code !== 0) {
      // Here deno compile cannot download denort: the build must stop at that step, clearly.
      assert.match(
        build.log,
        /Cannot build dist\/swft: deno compile could not download its runtime/,
      );
      assert.match(build.log, /DENORT_BIN/);
      assert.match(build.log, /--target runtime-deno/);
      assert.doesNotMatch(build.log, /Stack backtrace|panicked/);
      console.log(
        "  runtime: deno compile cannot fetch denort here; failed with the clear message",
      );
      return;
    }
    const fs = await exportImage(build.tag);
    const executables = fs.entries.filter((e) => e.mode[0] === "-" && /x/.test(e.mode));
    assert.ok(executables.some((e) => e.path === "app/swft"));
    assert.deepEqual(programs(fs, SHELLS), []);
    assert.deepEqual(programs(fs, PACKAGE_MANAGERS), []);
    assert.ok(!fs.entries.some((e) => /(^|\/)deno$/.test(e.path)), "no deno CLI");
    let container: Container | undefined;
    try {
      container = await runContainer(build.tag);
      const health = await fetch(`${container.url}/health`);
      assert.deepEqual(await health.json(), { status: "ok" });
      const css = await fetch(`${container.url}/static/style.css`);
      assert.equal(css.status, 200);
      await css.body?.cancel();
      await dockerOk(["stop", "-t", "3", container.id]);
      assert.equal(await dockerOk(["inspect", "-f", "{{.State.ExitCode}}", container.id]), "0");
    } finally {
      await removeContainer(container);
    }
  },
});
