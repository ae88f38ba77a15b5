/**
 * The project image beyond what `deno task verify` proves. verify runs once, as a library
 * call, on runtime-deno built from a copy of the project whose context holds a planted secret;
 * these tests then assert only what verify does not: environment values, labels, the npm
 * layer, the server's uid and capabilities in /proc, no secret in the `app` stage, and the
 * compiled target's fallback message. Base images: tests/_base_images.ts.
 */
import assert from "node:assert/strict";
import {
  baseImageArgs,
  type BaseImages,
  docker,
  dockerBuildArgs,
  dockerOk,
  fetchText,
  inspectImage,
  poll,
  readDenoJson,
  ROOT,
  run,
  tempDir,
} from "../tasks/_lib/mod.ts";
import { pruneLock } from "../tasks/_lib/image_lock.ts";
import { parseVerifyArgs, type Report, verify } from "../tasks/verify/mod.ts";
import { loadImageFs } from "../tasks/verify/image_fs.ts";
import { HARDENED_RUN_FLAGS } from "../tasks/verify/checks_container.ts";
import {
  baseImageFlags,
  containerTest,
  moduleCleanup,
  removeByName,
  testName,
} from "./_container.ts";
import { copyProject } from "./_project.ts";
import { connectionsForMemory } from "../config/mod.ts";

/** Planted in the build context's .env; must never show up in an image. */
const SECRET = `swft-secret-${crypto.randomUUID()}`;
const IMAGE = testName("container");
/** What the tests create, removed after the last one (newest first). */
const cleanup = moduleCleanup();
// verify --keep leaves its images and container under IMAGE, and so do the tests' own
cleanup.defer(() => removeByName(IMAGE));

/** A container the tests create (by name or id), removed after the last test. */
function ownContainer(name: string): void {
  cleanup.defer(async () => void await docker(["rm", "-f", name]));
}

/** A copy of the project (as git would check it out) plus secrets a careless build would copy. */
async function secretContext(): Promise<string> {
  const dir = await copyProject("swft-container-test-");
  cleanup.defer(() => Deno.remove(dir, { recursive: true }).catch(() => {}));
  await Deno.writeTextFile(`${dir}/.env`, `CUSTOM_MESSAGE=${SECRET}\nAPI_KEY=${SECRET}\n`);
  await Deno.writeTextFile(`${dir}/.env.production`, `API_KEY=${SECRET}\n`);
  await Deno.writeTextFile(`${dir}/server.key`, `${SECRET}\n`);
  return dir;
}

let verified: Promise<{ report: Report; context: string }> | undefined;

/** verify on runtime-deno (builder: app), once; its images are kept for the tests below. */
function verifyOnce(images: BaseImages) {
  return verified ??= (async () => {
    const context = await secretContext();
    const options = parseVerifyArgs([
      "--context",
      context,
      "--target",
      "runtime-deno",
      "--builder-target",
      "app",
      ...baseImageFlags(images),
      "--build-arg",
      "VERSION=test",
      "--build-arg",
      `CREATED=${new Date().toISOString()}`,
      "--image",
      IMAGE,
      "--keep",
    ]);
    if (options === "help") throw new Error("unreachable");
    const report = await verify(options, { write: () => {} });
    return { report, context };
  })();
}

containerTest("the project image (runtime-deno) passes every verify check", async (images) => {
  const { report } = await verifyOnce(images);
  const failed = report.checks.filter((c) => c.status !== "pass");
  assert.deepEqual(failed, [], JSON.stringify(failed, null, 2));
});

containerTest(
  "runtime-deno sets the documented environment, user, labels and healthcheck",
  async (images) => {
    const { report } = await verifyOnce(images);
    const config = (await inspectImage(report.images.runtime.ref)).Config!;
    assert.equal(config.User, "65532:65532");
    for (const env of ["PORT=80", "LOG_FORMAT=json", "DENO_DIR=/deno-dir/", "DENO_USE_CGROUPS=1"]) {
      assert.ok(config.Env?.includes(env), env);
    }
    assert.deepEqual(config.Healthcheck?.Test?.slice(0, 2), ["CMD", "/usr/bin/deno"]);
    assert.equal(config.Healthcheck?.Test?.at(-1), "healthcheck");
    assert.equal(config.Labels?.["org.opencontainers.image.title"], "swft");
    assert.equal(config.Labels?.["org.opencontainers.image.version"], "test");
    assert.ok("org.opencontainers.image.source" in (config.Labels ?? {}));
    assert.match(config.Labels?.["org.opencontainers.image.created"] ?? "", /^\d{4}-\d\d-\d\dT/);
    const inherited = Object.keys(config.Labels ?? {}).filter((k) => k.startsWith("org.swft."));
    assert.deepEqual(inherited, [], "no base image's private labels leak into the app image");
  },
);

containerTest(
  "runtime-deno's npm layer holds the import map's packages only, and no tests or tasks",
  async (images) => {
    const { report } = await verifyOnce(images);
    const dir = await tempDir(cleanup, "swft-container-fs-");
    const fs = await loadImageFs(report.images.runtime.ref, dir);
    // DENO_DIR/npm/<registry host>/<package>/...: any registry, named nowhere here.
    const npm = "/deno-dir/npm/";
    const packages = new Set(
      [...fs.merged.keys()].filter((p) => p.startsWith(npm)).map((p) =>
        p.slice(npm.length).split("/")[1]
      ).filter((name) => name !== undefined),
    );
    // the import map's packages and their dependencies (a scoped one shows as its @scope)
    const lock = pruneLock(JSON.parse(await Deno.readTextFile(`${ROOT}/deno.lock`)));
    const needed = Object.keys(lock.npm ?? {}).map((id) => id.slice(0, id.indexOf("@", 1)));
    assert.deepEqual([...packages].sort(), [...new Set(needed.map((n) => n.split("/")[0]))].sort());
    for (const name of Object.keys(readDenoJson().imports ?? {})) {
      assert.ok(packages.has(name), name);
    }
    for (const tool of ["tar-stream", "dockerfile-ast", "@balena"]) assert.ok(!packages.has(tool));
    assert.ok(fs.merged.has("/app/main.ts"), "the listing is real");
    // what differs between two builds of one commit is left out (docs/image.md, "Reproducible")
    const varying = [...fs.merged.keys()].filter((p) =>
      /^\/deno-dir\/[a-z0-9_]+_cache_v2(-wal|-shm)?$/.test(p) || p.endsWith("/registry.json")
    );
    assert.deepEqual(varying, []);
    assert.ok([...fs.merged.keys()].some((p) => p.startsWith("/deno-dir/gen/")), "gen/ is warm");
    assert.ok(
      ![...fs.merged.keys()].some((p) => /^\/app\/(tests|tasks)\//.test(p)),
      "no tests or tasks",
    );
  },
);

containerTest("runtime-deno's server runs as uid 65532 with no capabilities", async (images) => {
  const { report } = await verifyOnce(images);
  const name = `${IMAGE}-uid`;
  ownContainer(name);
  await dockerOk([
    "run",
    "-d",
    "--name",
    name,
    ...HARDENED_RUN_FLAGS,
    "-p",
    "127.0.0.1::80",
    report.images.runtime.ref,
  ]);
  const port = (await dockerOk(["port", name, "80/tcp"])).split("\n")[0].split(":").pop();
  const up = await poll(
    () =>
      fetchText(`http://127.0.0.1:${port}/health`, 1000).then(
        (r) => r.status === 200 || undefined,
        () => undefined,
      ),
    { timeoutMs: 20_000, intervalMs: 200 },
  );
  assert.ok(up, (await docker(["logs", name])).stderr);
  const pid = await dockerOk(["inspect", "-f", "{{.State.Pid}}", name]);
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  assert.deepEqual(status.match(/^Uid:\s+(.*)$/m)![1].split(/\s+/), [
    "65532",
    "65532",
    "65532",
    "65532",
  ]);
  assert.equal(status.match(/^Gid:\s+(.*)$/m)![1].split(/\s+/)[0], "65532");
  assert.match(status, /^CapEff:\s+0+$/m);
});

/** Files in `image`'s file system whose content includes `needle` (docker export | grep). */
async function filesContaining(image: string, needle: string): Promise<string[]> {
  const id = await dockerOk(["create", image]);
  ownContainer(id);
  const dir = await tempDir(cleanup, "swft-container-export-");
  await dockerOk(["export", "-o", `${dir}/fs.tar`, id]);
  await run("tar", ["-xf", `${dir}/fs.tar`, "-C", dir, "--no-same-owner", "--exclude=dev/*"]);
  await Deno.remove(`${dir}/fs.tar`);
  const grep = await run("grep", ["-r", "-l", "-a", "-F", "--", needle, "."], { cwd: dir });
  return grep.stdout.split("\n").filter(Boolean);
}

containerTest(
  "a secret .env in the build context reaches no image, not even the app stage",
  async (images) => {
    const { report, context } = await verifyOnce(images);
    assert.match(await Deno.readTextFile(`${context}/.env`), new RegExp(SECRET));
    for (const ref of [report.images.runtime.ref, report.images.builder.ref]) {
      assert.deepEqual(await filesContaining(ref, SECRET), [], ref);
      const history = await dockerOk(["history", "--no-trunc", "--format", "{{.CreatedBy}}", ref]);
      assert.doesNotMatch(history, new RegExp(SECRET));
    }
  },
);

containerTest(
  "runtime (compiled) builds, or fails at deno compile saying what to do",
  async (images) => {
    const { context } = await verifyOnce(images);
    const tag = `${IMAGE}:runtime`;
    const build = await docker(
      dockerBuildArgs({ context, target: "runtime", tag, buildArgs: baseImageArgs(images) }),
    );
    const log = build.stdout + build.stderr;
    if (build.code === 0) {
      // where denort can be fetched: the compiled image answers as runtime-deno does
      const id = await dockerOk(["create", tag]);
      ownContainer(id);
      assert.ok((await inspectImage(tag)).Config?.Healthcheck?.Test?.includes("/app/swft"));
      return;
    }
    // here deno compile cannot download denort: the build stops at that step, clearly
    assert.match(log, /Cannot build dist\/swft: deno compile could not download its runtime/);
    assert.match(log, /DENORT_BIN/);
    assert.match(log, /--target runtime-deno/);
    assert.doesNotMatch(log, /Stack backtrace|panicked/);
  },
);

containerTest(
  "runtime-deno sizes MAX_CONNECTIONS from the container's memory limit, or takes it as set",
  async (images) => {
    const { report } = await verifyOnce(images);
    const MiB = 1024 * 1024;
    // --cgroupns private: the container's own cgroup namespace, the default on cgroup v2 hosts;
    // Deno reads the limit through it (config/mod.ts readMemoryLimit).
    const limited = ["--memory", "64m", "--memory-swap", "64m", "--cgroupns", "private"];
    // --cgroupns host: on a cgroup v1 host (Docker's default there) /proc/self/cgroup names a
    // path not visible in the container; the v1 mount's own limit file is read instead.
    const hostNs = ["--memory", "64m", "--memory-swap", "64m", "--cgroupns", "host"];
    const v1 = (await dockerOk(["info", "-f", "{{.CgroupVersion}}"])).trim() === "1";
    const cases: [string[], number, string][] = [
      [limited, connectionsForMemory(64 * MiB), "memory limit 64 MiB (cgroup)"],
      [[...limited, "-e", "MAX_CONNECTIONS=100"], 100, "MAX_CONNECTIONS"],
    ];
    // (a cgroup v2 host gives every container its own namespace by default: no such case there)
    if (v1) {
      cases.push([hostNs, connectionsForMemory(64 * MiB), "memory limit 64 MiB (cgroup v1 mount)"]);
    }
    for (const [args, maxConnections, from] of cases) {
      const name = testName("maxconn");
      ownContainer(name);
      await dockerOk(["run", "-d", "--name", name, ...args, report.images.runtime.ref]);
      const startup = await poll(async () => {
        const { stdout } = await docker(["logs", name]);
        const line = stdout.split("\n").find((l) => l.includes('"msg":"listening"'));
        return line ? JSON.parse(line) : undefined;
      }, { timeoutMs: 20_000, intervalMs: 200 });
      assert.ok(startup, (await docker(["logs", name])).stderr);
      assert.equal(startup.maxConnections, maxConnections, args.join(" "));
      assert.equal(startup.maxConnectionsFrom, from);
      await docker(["rm", "-f", name]);
    }
  },
);
