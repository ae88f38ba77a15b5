/**
 * `deno task build`: the compile arguments, the one-line failures users can act on, and the
 * Dockerfile's runtime-deno permissions staying equal to the `start` task's.
 */
import assert from "node:assert/strict";
import denoJson from "../deno.json" with { type: "json" };
import { compileArgs, explainCompileFailure, OUTPUT, permissionFlags } from "../tasks/build.ts";
import { runDeno, startTask, taskCommand } from "../tasks/_lib/mod.ts";
import { type Dockerfile, parseDockerfile } from "../tasks/verify/dockerfile.ts";
import { parseDockerIgnore } from "../tasks/_lib/dockerignore.ts";

const ROOT = new URL("..", import.meta.url).pathname;

async function runBuild(options: { cwd?: string; env?: Record<string, string> } = {}) {
  const args = ["run", "--allow-run=deno", "--allow-read=.", "--allow-write=dist", "--allow-env"];
  const result = await runDeno([...args, `${ROOT}tasks/build.ts`], {
    cwd: options.cwd ?? ROOT,
    env: options.env,
  });
  return { ...result, stderr: result.stderr.trim() };
}

Deno.test("build task runs the build script with the permissions it needs", () => {
  assert.match(taskCommand("build"), /^deno run .*tasks\/build\.ts$/);
});

Deno.test("build compiles with the start task's permissions except --allow-read", () => {
  const flags = permissionFlags(taskCommand("start"));
  const expected = startTask().permissions.filter((f) => !f.startsWith("--allow-read"));
  assert.deepEqual(flags, expected);
  assert.ok(flags.some((f) => f.startsWith("--allow-net=")), "network is granted");
  assert.ok(flags.some((f) => f.startsWith("--allow-env=")), "environment is granted");
  assert.ok(!flags.some((f) => f.startsWith("--allow-read")), "reads come from the binary's VFS");
});

Deno.test("build embeds templates and static, freezes the lockfile and writes dist/swft", () => {
  const args = compileArgs(denoJson);
  assert.equal(args[0], "compile");
  assert.ok(args.includes("--frozen"));
  assert.equal(args.at(-1), "main.ts");
  assert.equal(args[args.indexOf("--output") + 1], OUTPUT);
  assert.equal(OUTPUT, "dist/swft");
  const included = args.flatMap((a, i) => a === "--include" ? [args[i + 1]] : []);
  assert.deepEqual(included, ["templates", "static"]);
  assert.ok(!args.some((a) => a.startsWith("--env")), "no env file is baked in");
  assert.ok(!args.some((a) => a.startsWith("--v8-flags")), "no heap cap unless asked");
  assert.ok(
    compileArgs(denoJson, { v8Flags: "--max-old-space-size=128" })
      .includes("--v8-flags=--max-old-space-size=128"),
  );
});

Deno.test("the builder stage's deno task build finds every module it imports in the image's context", async () => {
  // The builder stage copies tasks/build.ts and tasks/_lib/ minus what .dockerignore leaves out
  // (deps.ts: the tooling's npm packages, not in the image's lock). A kernel module that
  // reaches one of those from mod.ts breaks the compiled image's build, not any other test.
  const info = await runDeno(["info", "--json", `${ROOT}tasks/build.ts`]);
  assert.equal(info.code, 0, info.stderr);
  const local = (JSON.parse(info.stdout).modules as { specifier: string }[])
    .map((m) => m.specifier)
    .filter((s) => s.startsWith("file://"))
    .map((s) => new URL(s).pathname.slice(ROOT.length));
  assert.ok(local.includes("tasks/_lib/mod.ts"), local.join(", "));
  const ignore = parseDockerIgnore(await Deno.readTextFile(`${ROOT}.dockerignore`));
  assert.deepEqual(local.filter((path) => ignore.excludes(path)), [], "left out of the context");
});

Deno.test("build refuses a start task that grants everything", () => {
  assert.throws(() => permissionFlags("deno run -A main.ts"), /--allow-all/);
  assert.throws(() => permissionFlags("node main.ts"), /deno run/);
});

Deno.test("build explains a failed denort download in one line", () => {
  const stderr = [
    "Compile main.ts to dist/swft",
    "Download https://release-server.invalid/release/v2.9.6/denort-x86_64-unknown-linux-gnu.zip",
    "error: Writing deno compile executable to temporary file 'dist/swft.tmp-1'",
    "",
    "Caused by:",
    "    0: Setting up base binary.",
    "    1: error sending request for url (https://release-server.invalid/...): dns error",
  ].join("\n");
  const line = explainCompileFailure(stderr)!;
  assert.ok(!line.includes("\n"));
  assert.match(line, /^Cannot build dist\/swft: deno compile could not download its runtime/);
  assert.match(line, /DENORT_BIN/);
  assert.match(line, /--target runtime-deno/);
  assert.equal(explainCompileFailure("error: Type error in main.ts"), undefined);
});

Deno.test("deno task build compiles dist/swft, or says in one line how to do without the download", async () => {
  const { code, stdout, stderr } = await runBuild();
  assert.match(stdout, /embedded payload: \d+ bytes/);
  if (code === 0) {
    // Where deno compile can fetch denort, the binary must work.
    const version = await new Deno.Command(`${ROOT}${OUTPUT}`, { args: ["--version"] }).output();
    assert.equal(version.code, 0);
    assert.match(new TextDecoder().decode(version.stdout), new RegExp(`swft ${denoJson.version}`));
    return;
  }
  assert.equal(code, 1);
  const lines = stderr.split("\n");
  assert.equal(lines.length, 1, `one line, got:\n${stderr}`);
  assert.match(lines[0], /could not download its runtime/);
  assert.match(lines[0], /DENORT_BIN/);
  assert.match(lines[0], /--target runtime-deno/);
  assert.doesNotMatch(stderr, /Stack backtrace|panicked/);
});

Deno.test("deno task build with DENORT_BIN naming a missing file fails in one clear line", async () => {
  const missing = `/nonexistent-${crypto.randomUUID()}/denort`;
  const { code, stderr } = await runBuild({ env: { DENORT_BIN: missing } });
  assert.equal(code, 1);
  assert.equal(
    stderr,
    `Cannot build dist/swft: DENORT_BIN points at ${missing}, which does not exist; ` +
      "set it to a denort binary of this Deno version, or unset it",
  );
});

Deno.test("deno task build refuses a stray node_modules folder, which would be embedded whole", async () => {
  const dir = await Deno.makeTempDir({ prefix: "swft-build-test-" });
  try {
    await Deno.copyFile(`${ROOT}deno.json`, `${dir}/deno.json`);
    await Deno.mkdir(`${dir}/node_modules/left-pad`, { recursive: true });
    const { code, stderr } = await runBuild({ cwd: dir });
    assert.equal(code, 1);
    assert.match(stderr, /^Cannot build dist\/swft: a node_modules\/ folder is present/);
    assert.throws(() => Deno.statSync(`${dir}/dist/swft`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** The exec-form arrays of one stage of the Dockerfile, by instruction name. */
function stageExecForms(dockerfile: Dockerfile, stage: string): Record<string, string[]> {
  const found = dockerfile.stages.find((s) => s.name === stage);
  assert.ok(found, `stage ${stage} exists`);
  const forms: Record<string, string[]> = {};
  for (const { keyword, args } of found.instructions) {
    const json = args.indexOf("[");
    if (/^(ENTRYPOINT|CMD|HEALTHCHECK)$/.test(keyword) && json >= 0) {
      forms[keyword] = JSON.parse(args.slice(json));
    }
  }
  return forms;
}

const DOCKERFILE = await Deno.readTextFile(`${ROOT}Dockerfile`);

Deno.test("Dockerfile runtime-deno runs and health-checks with the start task's permissions", () => {
  const dockerfile = parseDockerfile(DOCKERFILE);
  const forms = stageExecForms(dockerfile, "runtime-deno");
  // The image's working directory is /app; the start task's reads are relative to the project.
  const expected = startTask().permissions.map((f) => f.replaceAll("./", "/app/"));
  for (const name of ["ENTRYPOINT", "HEALTHCHECK"]) {
    const args = forms[name];
    assert.ok(args, `${name} in exec form`);
    assert.equal(args[0], "/usr/bin/deno");
    const permissions = args.filter((a) => /^--(allow|deny)-/.test(a));
    assert.deepEqual(permissions, expected, `${name} permissions`);
  }
  assert.deepEqual(forms.HEALTHCHECK.slice(-2), ["/app/main.ts", "healthcheck"]);
  assert.deepEqual(forms.CMD, ["serve"]);
  const runtime = stageExecForms(dockerfile, "runtime");
  assert.deepEqual(runtime.ENTRYPOINT, ["/app/swft"]);
  assert.deepEqual(runtime.HEALTHCHECK, ["/app/swft", "healthcheck"]);
});

Deno.test("Dockerfile keeps runtime last and builds with the legacy builder too", () => {
  const stages = parseDockerfile(DOCKERFILE).stages.map((s) => s.name);
  assert.equal(stages.at(-1), "runtime");
  assert.ok(stages.indexOf("runtime-deno") < stages.indexOf("builder"), "runtime-deno first");
  assert.doesNotMatch(DOCKERFILE, /^#\s*syntax=/m);
  assert.doesNotMatch(DOCKERFILE, /^\s*RUN\s+--mount|^\s*COPY\s+--link/m);
  // The legacy builder leaves BUILDPLATFORM empty: a bare $BUILDPLATFORM fails there.
  for (const platform of DOCKERFILE.matchAll(/^FROM --platform=(\S+)/gm)) {
    assert.equal(platform[1], "${BUILDPLATFORM:-linux/amd64}");
  }
});
