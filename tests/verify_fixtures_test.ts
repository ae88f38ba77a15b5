// Fixture tests for `deno task verify` with a real engine, run as users run it: a good image
// passes every check, a foreign app passes with its own config, each bad fixture stage fails
// exactly the checks it breaks, and verify removes only what it created. Base images follow
// the container tests' one rule (tests/_base_images.ts).
import assert from "node:assert/strict";
import { docker, imageId, ROOT, runDeno, type RunResult } from "../tasks/_lib/mod.ts";
import type { Report } from "../tasks/verify/report.ts";
import { baseImageFlags, containerTest, removeByName, testName } from "./_container.ts";
import type { BaseImages } from "../tasks/_lib/mod.ts";

const FIXTURES = "tests/fixtures/verify";

/** Runs `deno task verify` and returns its exit code, output and report. */
async function verify(args: string[], image: string) {
  const dir = await Deno.makeTempDir({ prefix: "swft-verify-test-" });
  try {
    const json = `${dir}/report.json`;
    const result: RunResult = await runDeno(
      ["task", "-q", "verify", "--image", image, "--json", json, ...args],
      { cwd: ROOT },
    );
    const report = JSON.parse(await Deno.readTextFile(json)) as Report;
    return { code: result.code, text: result.stdout + result.stderr, report };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function fixtureArgs(images: BaseImages, target: string, extra: string[] = []): string[] {
  const config = `${FIXTURES}/verify.json`;
  return [
    "--context",
    FIXTURES,
    "--config",
    config,
    "--target",
    target,
    ...baseImageFlags(images),
    ...extra,
  ];
}

function failed(report: Report): string[] {
  return report.checks.filter((c) => c.status === "fail").map((c) => c.id).sort();
}

/** Tags of `repository` and containers named after it that still exist. */
async function leftovers(repository: string): Promise<string> {
  const images = await docker(["images", "--format", "{{.Repository}}:{{.Tag}}", repository]);
  const containers = await docker([
    "ps",
    "-a",
    "--format",
    "{{.Names}}",
    "--filter",
    `name=${repository}-verify`,
  ]);
  return (images.stdout + containers.stdout).trim();
}

/** A container test with an image repository of its own, whose leftovers are removed after. */
function fixtureTest(
  name: string,
  label: string,
  fn: (images: BaseImages, image: string) => Promise<void>,
): void {
  containerTest(name, async (images) => {
    const image = testName(label);
    try {
      await fn(images, image);
    } finally {
      // by tag: the fixture stages share parents, the build cache of the next test
      await removeByName(image, { keepCache: true });
    }
  });
}

fixtureTest(
  "verify: a good multi-stage image passes every check and leaves nothing behind",
  "verify-good",
  async (images, image) => {
    // a release's build argument: the runtime image is then built as the release builds it
    const epoch = ["--build-arg", "SOURCE_DATE_EPOCH=1796609368"];
    const { code, text, report } = await verify(fixtureArgs(images, "runtime", epoch), image);
    assert.deepEqual(failed(report), [], text);
    // the image verify tested is the one two clean builds agree on (the digest a push keeps)
    assert.equal(report.builds.reproducible?.epoch, 1796609368);
    assert.equal(report.images.runtime.id, report.builds.reproducible?.digests[0], text);
    assert.ok(report.checks.every((c) => c.status === "pass"), text);
    assert.equal(code, 0);
    assert.equal(report.ok, true);
    assert.ok(report.checks.length >= 24);
    assert.ok(
      report.images.runtime.bytes! > 0 &&
        report.images.runtime.bytes! < report.images.builder.bytes!,
    );
    for (const key of ["builderMs", "runtimeMs", "rebuildMs"] as const) {
      assert.ok(report.builds[key]! >= 0, key);
    }
    for (const key of ["startupMs", "memoryBytes", "stopMs"] as const) {
      assert.ok(report.container[key]! > 0, key);
    }
    assert.equal(report.container.exitCode, 0);
    assert.match(text, /^VERIFIED: \d+ passed, 0 failed, 0 skipped/m);
    assert.equal(await leftovers(image), "", "containers and tags are removed");
  },
);

fixtureTest(
  "verify: a foreign app (other stages, port, endpoints, text) passes with its own config",
  "verify-foreign",
  async (images, image) => {
    const { code, text, report } = await verify([
      "--context",
      `${FIXTURES}/foreign`,
      "--target",
      "final",
      "--builder-target",
      "build",
      "--config",
      `${FIXTURES}/foreign/verify.json`,
      ...baseImageFlags(images),
    ], image);
    assert.deepEqual(failed(report), [], text);
    assert.equal(code, 0, text);
    const ids = report.checks.map((c) => c.id);
    for (const id of ["page", "api-ping", "asset", "missing-page"]) {
      assert.ok(ids.includes(id), id);
    }
    assert.ok(!ids.includes("http-root"), "SWFT's probes are not asked of another app");
    assert.equal(report.container.port, 3000);
  },
);

const BAD: [target: string, failing: string[], extra?: string[]][] = [
  ["bad-root", ["dockerfile-lint", "runtime-user-nonroot"]],
  ["bad-shell", ["runtime-no-shell"]],
  ["bad-compiler", ["runtime-no-build-tools"]],
  ["bad-secret", ["runtime-no-secrets"]],
  ["bad-no-healthcheck", ["dockerfile-lint", "healthcheck-defined"]],
  // failures only count after the start period (= --start-timeout): keep it short here
  ["bad-unhealthy", ["container-healthy", "http-health"], ["--start-timeout", "5"]],
  ["bad-content", ["http-root"]],
  ["bad-headers", ["http-security-headers"]],
  ["bad-labels", ["image-labels"]],
  ["bad-slow-stop", ["graceful-stop"], ["--stop-timeout", "2"]],
];

for (const [target, failing, extra = []] of BAD) {
  fixtureTest(
    `verify: --target ${target} fails ${failing.join(" and ")}`,
    `verify-${target}`,
    async (images, image) => {
      // rebuild-cache and reproducible are skipped (not what these fixtures break); the skip
      // itself keeps the exit code non-zero
      const { code, text, report } = await verify(
        fixtureArgs(images, target, [
          "--skip",
          "rebuild-cache",
          "--skip",
          "reproducible",
          ...extra,
        ]),
        image,
      );
      assert.deepEqual(failed(report), failing, text);
      const status = Object.fromEntries(report.checks.map((c) => [c.id, c.status]));
      for (const id of ["engine", "build-builder", "build-runtime", "image-size"]) {
        assert.equal(status[id], "pass", id);
      }
      assert.equal(status["rebuild-cache"], "skip");
      assert.equal(status["reproducible"], "skip");
      assert.equal(code, 1);
      assert.equal(report.ok, false);
    },
  );
}

fixtureTest(
  "verify: a build that writes a random file fails reproducible, naming the layer and the file",
  "verify-unreproducible",
  async (images, image) => {
    const { code, text, report } = await verify(
      fixtureArgs(images, "bad-unreproducible", ["--skip", "rebuild-cache"]),
      image,
    );
    assert.deepEqual(failed(report), ["reproducible"], text);
    const detail = report.checks.find((c) => c.id === "reproducible")!.detail;
    assert.match(
      detail,
      /^not reproducible: sha256:\S+ vs sha256:\S+; first differing layer \d+ of \d+ \(COPY \/build-id \/app\/build-id/,
    );
    assert.match(
      detail,
      /\/app\/build-id: file 32 B sha256:[0-9a-f]{12} mode 644 0:0 mtime \S+ vs file 32 B sha256:/,
    );
    assert.doesNotMatch(detail, /more files/, "only the random file differs");
    const [a, b] = report.builds.reproducible!.digests;
    assert.notEqual(a, b);
    assert.equal(code, 1);
  },
);

fixtureTest(
  "verify: copying sources before the dependency step fails rebuild-cache",
  "verify-cache-busting",
  async (images, image) => {
    const { code, text, report } = await verify(
      fixtureArgs(images, "runtime", [
        "--file",
        `${FIXTURES}/Dockerfile.cache-busting`,
        "--skip",
        "reproducible",
      ]),
      image,
    );
    assert.deepEqual(failed(report), ["rebuild-cache"], text);
    assert.match(
      report.checks.find((c) => c.id === "rebuild-cache")!.detail,
      /no dependency step came from cache/,
    );
    assert.equal(code, 1);
  },
);

fixtureTest(
  "verify: budgets fail when exceeded; --keep keeps the run's documented tags",
  "verify-budget",
  async (images, image) => {
    const { code, text, report } = await verify(
      fixtureArgs(images, "runtime", [
        "--skip",
        "rebuild-cache",
        "--skip",
        "reproducible",
        "--size-budget",
        "1MB",
        "--memory-budget",
        "1MB",
        "--keep",
      ]),
      image,
    );
    assert.deepEqual(failed(report), ["image-size", "resource-usage"], text);
    assert.match(
      report.checks.find((c) => c.id === "image-size")!.detail,
      /exceeds its budget 1\.00 MB/,
    );
    assert.equal(code, 1);
    assert.match(report.images.runtime.ref, new RegExp(`^${image}:verify-[a-z0-9]+-runtime$`));
    assert.ok(await imageId(report.images.runtime.ref), "--keep keeps the runtime tag");
    assert.match(text, new RegExp(`kept \\(--keep\\): .*${report.images.runtime.ref}`));
  },
);

fixtureTest(
  "verify: a pre-existing IMAGE:TARGET tag survives a run",
  "verify-pre",
  async (images, image) => {
    const mine = `${image}:runtime`;
    // the user's own tag, on an image verify does not build
    assert.equal((await docker(["tag", images.runtime, mine])).code, 0);
    const before = await imageId(mine);
    const { text, report } = await verify(
      fixtureArgs(images, "runtime", [
        "--skip",
        "rebuild-cache",
        "--skip",
        "reproducible",
        "--skip",
        "container-start",
      ]),
      image,
    );
    assert.equal(report.checks.find((c) => c.id === "build-runtime")?.status, "pass", text);
    assert.equal(await imageId(mine), before, "the user's tag still names the same image");
    assert.equal(await leftovers(image), mine, "only the user's tag is left");
  },
);

fixtureTest(
  "verify: Ctrl-C stops the run, removes its container and tags, exits 130",
  "verify-sigint",
  async (images, image) => {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "tasks/verify.ts",
        "--image",
        image,
        ...fixtureArgs(images, "runtime", ["--skip", "rebuild-cache", "--skip", "reproducible"]),
      ],
      cwd: ROOT,
      env: { NO_COLOR: "1" },
      stdout: "null",
      stderr: "piped",
    }).spawn();
    let text = "";
    const decoder = new TextDecoder();
    const reader = child.stderr.getReader();
    // interrupt once the container is running (progress is on stderr)
    while (!/container-start/.test(text)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value);
    }
    child.kill("SIGINT");
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value);
    }
    const status = await child.status;
    assert.match(text, /SIGINT, cleaning up/);
    assert.equal(status.code, 130);
    assert.equal(await leftovers(image), "", "containers and tags are removed");
  },
);
