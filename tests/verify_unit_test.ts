// Unit tests for `deno task verify`: everything that needs no Docker engine.
import assert from "node:assert/strict";
import { tarStream } from "../tasks/_lib/deps.ts";
import { type Fetched, parseMemUsage, UsageError } from "../tasks/_lib/mod.ts";
import { HELP, parseVerifyArgs, type VerifyOptions } from "../tasks/verify/args.ts";
import { judgeCacheReuse, parseBuildLog } from "../tasks/verify/build_log.ts";
import { settleCacheProbe } from "../tasks/verify/checks_build.ts";
import { type Check, type Context, fail, pass, runChecks } from "../tasks/verify/check.ts";
import { missingLabels } from "../tasks/verify/checks_image.ts";
import { parseConfig } from "../tasks/verify/config.ts";
import { pickProbeFile, probeSuffix } from "../tasks/verify/context.ts";
import {
  builderStageOf,
  expandArgs,
  findStage,
  lintDockerfile,
  parseDockerfile,
  parseImageRef,
} from "../tasks/verify/dockerfile.ts";
import { parseDockerIgnore } from "../tasks/_lib/dockerignore.ts";
import { errorLines, judgeProbe, judgeSecurityHeaders } from "../tasks/verify/http.ts";
import { findSecrets, readLayer } from "../tasks/verify/image_fs.ts";
import { createRun, imageOnlyChecks, registry } from "../tasks/verify/mod.ts";
import { type CheckResult, exitCode, renderSummary } from "../tasks/verify/report.ts";
import {
  BUILD_TOOLS,
  findPrograms,
  findSetuid,
  type FsEntry,
  linksInReadPaths,
  mergeLayers,
  PACKAGE_MANAGERS,
  readPaths,
  resolveUser,
  secretByContent,
  secretByPath,
  SHELLS,
  wastedBytes,
} from "../tasks/verify/scan.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const PROJECT_CONFIG = parseConfig(JSON.parse(Deno.readTextFileSync(`${ROOT}verify.config.json`)));

function options(argv: string[] = []): VerifyOptions {
  const parsed = parseVerifyArgs(argv);
  assert.notEqual(parsed, "help");
  return parsed as VerifyOptions;
}

// ---- args

Deno.test("verify args: defaults verify this project", () => {
  const o = options();
  assert.equal(o.context, ".");
  assert.equal(o.file, "./Dockerfile");
  assert.equal(o.target, "runtime");
  assert.equal(o.builderTarget, "builder");
  assert.equal(o.image, "swft");
  assert.deepEqual(o.buildArgs, {});
  assert.equal(o.port, undefined);
  assert.equal(o.keep, false);
  assert.match(o.config, /\/verify\.config\.json$/);
  assert.equal(o.memoryBudget, 256e6);
});

Deno.test("verify args: --file defaults to DIR/Dockerfile and build args repeat", () => {
  const o = options([
    "--context",
    "ctx/",
    "--build-arg",
    "DENO_IMAGE=a:1",
    "--build-arg",
    "X=y=z",
    "--port",
    "8080",
    "--size-budget",
    "150MB",
    "--size-budget",
    "builder=1GB",
    "--skip",
    "rebuild-cache,http-time",
  ]);
  assert.equal(o.file, "ctx/Dockerfile");
  assert.deepEqual(o.buildArgs, { DENO_IMAGE: "a:1", X: "y=z" });
  assert.equal(o.port, 8080);
  assert.deepEqual(o.sizeBudgets, { runtime: 150e6, builder: 1e9 });
  assert.deepEqual(o.skip, ["rebuild-cache", "http-time"]);
});

Deno.test("verify args: mistakes are usage errors and --help is recognised", () => {
  assert.throws(() => parseVerifyArgs(["--port", "0"]), UsageError);
  assert.throws(() => parseVerifyArgs(["--port", "http"]), UsageError);
  assert.throws(() => parseVerifyArgs(["--build-arg", "NOVALUE"]), UsageError);
  assert.throws(() => parseVerifyArgs(["--size-budget", "big"]), UsageError);
  assert.throws(() => parseVerifyArgs(["--bogus"]), UsageError);
  assert.throws(() => parseVerifyArgs(["positional"]), UsageError);
  assert.throws(() => parseVerifyArgs(["--image", "Swft"]), /lower-case repository/);
  assert.equal(parseVerifyArgs(["--help"]), "help");
  for (
    const flag of [
      "--context",
      "--file",
      "--target",
      "--builder-target",
      "--image",
      "--build-arg",
      "--port",
      "--json",
      "--keep",
      "--config",
    ]
  ) {
    assert.ok(HELP.includes(flag), `help documents ${flag}`);
  }
});

Deno.test("verify labels: required OCI labels must be present and not empty", () => {
  const required = options().requireLabels;
  assert.deepEqual(required, [
    "org.opencontainers.image.title",
    "org.opencontainers.image.version",
    "org.opencontainers.image.revision",
  ]);
  const full = {
    "org.opencontainers.image.title": "swft",
    "org.opencontainers.image.version": "1",
    "org.opencontainers.image.revision": "abc",
  };
  assert.deepEqual(missingLabels(full, required), []);
  assert.deepEqual(missingLabels({ ...full, "org.opencontainers.image.revision": " " }, required), [
    "org.opencontainers.image.revision",
  ]);
  assert.deepEqual(missingLabels(null, ["a"]), ["a"]);
  assert.deepEqual(options(["--require-label", "none"]).requireLabels, []);
});

// ---- Dockerfile

const GOOD = `# escape=\\
ARG DENO_IMAGE=denoland/deno:2.9.6
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian13:nonroot

FROM \${DENO_IMAGE} AS builder
# a comment
RUN apt-get update && \\
    # comment inside a continuation
    apt-get install -y gcc
COPY deno.json deno.lock ./
RUN deno install
COPY . .

FROM \${RUNTIME_IMAGE} AS runtime
COPY --from=builder /app /app
USER 65532:65532
EXPOSE 8080
HEALTHCHECK --interval=30s CMD ["/deno", "run", "main.ts", "healthcheck"]

FROM runtime AS runtime-deno
ENV X=1
`;
const IGNORE = parseDockerIgnore(".git\n.env\n");

Deno.test("verify dockerfile: stages, global ARGs and continuations parse", () => {
  const df = parseDockerfile(GOOD);
  assert.deepEqual(df.stages.map((s) => s.name), ["builder", "runtime", "runtime-deno"]);
  assert.equal(df.globalArgs.DENO_IMAGE, "denoland/deno:2.9.6");
  assert.equal(df.stages[0].instructions[0].keyword, "RUN");
  assert.match(df.stages[0].instructions[0].args, /apt-get update &&\s+apt-get install -y gcc/);
  assert.equal(expandArgs("${A:-x}-$B-${C:+y}", { B: "b", C: "c" }), "x-b-y");
  const project = parseDockerfile(Deno.readTextFileSync(new URL("../Dockerfile", import.meta.url)));
  const copy = findStage(project, "runtime")!.instructions.find((i) => i.keyword === "COPY")!;
  assert.deepEqual([copy.flags.from, copy.args], ["builder", "/app/dist/swft /app/swft"]);
  // The builder of a target: the last stage it copies from (runtime-deno also copies from deps).
  assert.equal(builderStageOf(project, findStage(project, "runtime-deno")!), "app");
  assert.equal(builderStageOf(project, findStage(project, "runtime")!), "builder");
  assert.equal(builderStageOf(project, findStage(project, "app")!), undefined);
  // A stage built on another ships what that one copied.
  const chained = parseDockerfile(
    "FROM d AS build\nFROM r AS run\nCOPY --from=build /a /a\nFROM run AS hardened\nUSER 1\n",
  );
  assert.equal(builderStageOf(chained, findStage(chained, "hardened")!), "build");
  // verify's default --builder-target: the stage the target ships from, else builder.
  const runtimeDeno = options(["--context", ROOT, "--target", "runtime-deno"]);
  assert.equal(runtimeDeno.builderTarget, "app");
  assert.equal(
    options(["--context", ROOT, "--target", "runtime-deno", "--builder-target", "x"]).builderTarget,
    "x",
  );
  assert.equal(options(["--context", "/nonexistent"]).builderTarget, "builder");
});

Deno.test("verify dockerfile-lint: a pinned, non-root, healthchecked runtime passes", () => {
  const lint = lintDockerfile(parseDockerfile(GOOD), {
    target: "runtime",
    builderTarget: "builder",
    dockerignore: IGNORE,
  });
  assert.deepEqual(lint.problems, []);
  assert.deepEqual(lint.bases.map((b) => b.image), [
    "denoland/deno:2.9.6",
    "gcr.io/distroless/cc-debian13:nonroot",
  ]);
  assert.deepEqual(lint.exposed, [8080]);
  // a stage built on `runtime` inherits USER, HEALTHCHECK and EXPOSE
  const derived = lintDockerfile(parseDockerfile(GOOD), {
    target: "runtime-deno",
    dockerignore: IGNORE,
  });
  assert.deepEqual(derived.problems, []);
});

Deno.test("verify dockerfile-lint: build args resolve ARG-defaulted FROMs", () => {
  const lint = lintDockerfile(parseDockerfile(GOOD), {
    target: "runtime",
    buildArgs: { DENO_IMAGE: "swft-standin/deno:latest" },
    dockerignore: IGNORE,
  });
  assert.deepEqual(lint.problems, [
    'stage builder: base swft-standin/deno:latest uses the floating tag "latest"',
  ]);
  const missing = lintDockerfile(
    parseDockerfile("ARG BASE\nFROM ${BASE}\nUSER 1\nEXPOSE 1\nHEALTHCHECK CMD x\n"),
    {
      target: "0",
      dockerignore: IGNORE,
    },
  );
  assert.match(missing.problems.join(), /uses BASE without a value/);
});

Deno.test("verify dockerfile-lint: unpinned bases, root, no healthcheck, no expose, weak .dockerignore fail", () => {
  const text =
    "FROM debian\nFROM node:lts AS b\nFROM alpine:3.20@sha256:abc AS runtime\nUSER root\nHEALTHCHECK NONE\n";
  const lint = lintDockerfile(parseDockerfile(text), {
    target: "runtime",
    dockerignore: parseDockerIgnore(".git\n"),
  });
  const all = lint.problems.join("\n");
  assert.match(all, /debian has no tag/);
  assert.match(all, /node:lts uses the floating tag "lts"/);
  assert.doesNotMatch(all, /alpine/); // pinned by digest
  assert.match(all, /runs as root/);
  assert.match(all, /disables HEALTHCHECK/);
  assert.match(all, /no EXPOSE/);
  assert.match(all, /does not exclude \.env/);
  const noUser = lintDockerfile(
    parseDockerfile("FROM a:1 AS runtime\nEXPOSE 80\nHEALTHCHECK CMD x\n"),
    { target: "runtime" },
  );
  assert.match(noUser.problems.join(), /sets no USER/);
  assert.match(noUser.problems.join(), /\.dockerignore is missing/);
  const digest = lintDockerfile(parseDockerfile(GOOD), {
    target: "runtime",
    dockerignore: IGNORE,
    requireDigest: true,
  });
  assert.equal(digest.problems.length, 2);
  assert.match(
    lintDockerfile(parseDockerfile(GOOD), { target: "nope" }).problems.join(),
    /target stage "nope" not found/,
  );
});

Deno.test("verify dockerfile: image references split into repository, tag and digest", () => {
  assert.deepEqual(parseImageRef("localhost:5000/a/b:1.2"), {
    repository: "localhost:5000/a/b",
    tag: "1.2",
    digest: undefined,
  });
  assert.deepEqual(parseImageRef("localhost:5000/a"), {
    repository: "localhost:5000/a",
    digest: undefined,
  });
  assert.equal(parseImageRef("a@sha256:ff").digest, "sha256:ff");
});

// ---- .dockerignore

Deno.test("verify dockerignore: Docker's matching rules", () => {
  const ig = parseDockerIgnore(
    "# comment\n.git\n/.env\n**/*.log\nnode_modules/\ndocs/*.md\n!docs/KEEP.md\n",
  );
  assert.ok(ig.excludes(".git"));
  assert.ok(ig.excludes(".git/HEAD"));
  assert.ok(ig.excludes(".env"));
  assert.ok(!ig.excludes("app/.env"));
  assert.ok(ig.excludes("a/b/c.log"));
  assert.ok(ig.excludes("x.log"));
  assert.ok(ig.excludes("node_modules/x/y.js"));
  assert.ok(ig.excludes("docs/a.md"));
  assert.ok(!ig.excludes("docs/KEEP.md"));
  assert.ok(!ig.excludes("docs/sub/a.md"));
  assert.ok(!ig.excludes("main.ts"));
  assert.ok(parseDockerIgnore("*\n!main.ts\n").excludes("deno.json"));
  assert.ok(!parseDockerIgnore("*\n!main.ts\n").excludes("main.ts"));
  assert.ok(parseDockerIgnore(".env*\n").excludes(".env.local"));
});

// ---- layers

/** A layer tar made with tar-stream's packer, as docker save holds them. */
async function layerTar(
  entries: {
    name: string;
    data?: string;
    type?: "file" | "directory" | "symlink";
    mode?: number;
    linkname?: string;
  }[],
): Promise<AsyncIterable<Uint8Array>> {
  const pack = tarStream.pack();
  for (const e of entries) {
    pack.entry({
      name: e.name,
      type: e.type ?? "file",
      mode: e.mode ?? 0o644,
      linkname: e.linkname,
    }, e.data ?? "");
  }
  pack.finalize();
  const chunks: Uint8Array[] = [];
  for await (const chunk of pack as AsyncIterable<Uint8Array>) chunks.push(chunk);
  return ReadableStream.from(chunks);
}

const PEM = "-----BEGIN " + "RSA PRIVATE KEY-----\n" + "MIIEpAIBAAKCAQEA".repeat(5) +
  "\n-----END RSA PRIVATE KEY-----\n";

Deno.test("verify layers: names, types, modes, links, long names, secrets by content and /etc/passwd", async () => {
  const long = "deep/" + "x".repeat(120) + "/file.txt";
  const { entries, kept } = await readLayer(
    await layerTar([
      { name: "usr/bin/", type: "directory", mode: 0o755 },
      { name: "usr/bin/busybox", data: "BB", mode: 0o4755 },
      { name: "bin/sh", type: "symlink", linkname: "/usr/bin/busybox", mode: 0o777 },
      { name: long, data: "long" },
      { name: "app/server.key", data: PEM },
      { name: "etc/passwd", data: "nonroot:x:65532:65532::/home/nonroot:/sbin/nologin\n" },
    ]),
    3,
  );
  assert.deepEqual(entries.map((e) => [e.path, e.type]), [
    ["/usr/bin", "dir"],
    ["/usr/bin/busybox", "file"],
    ["/bin/sh", "symlink"],
    [`/${long}`, "file"],
    ["/app/server.key", "file"],
    ["/etc/passwd", "file"],
  ]);
  assert.equal(entries[1].mode, 0o4755);
  assert.equal(entries[2].linkname, "/usr/bin/busybox");
  assert.equal(entries[3].size, 4);
  assert.equal(entries[4].contentSecret, "PEM private key");
  assert.ok(entries.every((e) => e.layer === 3));
  assert.match(kept.get("/etc/passwd") ?? "", /^nonroot:x:65532/);
});

function entry(path: string, layer: number, extra: Partial<FsEntry> = {}): FsEntry {
  return { path, type: "file", mode: 0o644, size: 10, linkname: "", layer, ...extra };
}

Deno.test("verify scan: whiteouts and opaque directories hide lower layers", () => {
  const layers = [
    [
      entry("/bin/sh", 0, { mode: 0o755 }),
      entry("/app/.env", 0),
      entry("/cache/a", 0),
      entry("/cache/b", 0),
    ],
    [entry("/bin/.wh.sh", 1), entry("/cache/.wh..wh..opq", 1), entry("/cache/c", 1)],
    [entry("/app/.wh..env", 2)],
  ];
  const fs = mergeLayers(layers);
  assert.deepEqual([...fs.keys()].sort(), ["/cache/c"]);
  assert.equal(wastedBytes(layers, fs), 40);
});

Deno.test("verify scan: finds shells, build tools and package managers by name, not by which", () => {
  const fs = mergeLayers([[
    entry("/bin/sh", 0, { type: "symlink", linkname: "busybox" }),
    entry("/bin/busybox", 0, { mode: 0o755 }),
    entry("/usr/bin/x86_64-linux-gnu-gcc-12", 0, { mode: 0o755 }),
    entry("/usr/bin/make", 0, { mode: 0o755 }),
    entry("/usr/bin/apt-get", 0, { mode: 0o755 }),
    entry("/usr/local/bin/pip3.11", 0, { mode: 0o755 }),
    entry("/usr/share/doc/bash", 0, { type: "dir", mode: 0o755 }),
    entry("/usr/share/man/sh", 0, { mode: 0o644 }),
    entry("/usr/local/bin/deno", 0, { mode: 0o755 }),
  ]]);
  assert.deepEqual(findPrograms(fs, SHELLS), ["/bin/busybox", "/bin/sh"]);
  assert.deepEqual(findPrograms(fs, BUILD_TOOLS), [
    "/usr/bin/make",
    "/usr/bin/x86_64-linux-gnu-gcc-12",
  ]);
  assert.deepEqual(findPrograms(fs, PACKAGE_MANAGERS), [
    "/usr/bin/apt-get",
    "/usr/local/bin/pip3.11",
  ]);
  assert.deepEqual(findSetuid(fs), []);
  assert.deepEqual(findSetuid(mergeLayers([[entry("/usr/bin/su", 0, { mode: 0o4755 })]])), [
    "/usr/bin/su",
  ]);
});

Deno.test("verify scan: the configured user resolves through /etc/passwd", () => {
  const passwd =
    "root:x:0:0::/root:/sbin/nologin\nnonroot:x:65532:65532::/home/nonroot:/sbin/nologin\n";
  assert.equal(resolveUser("", passwd).uid, 0);
  assert.equal(resolveUser("65532", passwd).uid, 65532);
  assert.equal(resolveUser("0:0", passwd).uid, 0);
  assert.equal(resolveUser("nonroot:nonroot", passwd).uid, 65532);
  assert.equal(resolveUser("root", passwd).uid, 0);
  assert.match(resolveUser("ghost", passwd).problem ?? "", /not in the image's \/etc\/passwd/);
});

Deno.test("verify scan: secrets by name and by content, without flagging library strings", () => {
  assert.equal(secretByPath("/app/.env"), ".env file");
  assert.equal(secretByPath("/app/.env.production"), ".env file");
  assert.equal(secretByPath("/app/.env.example"), undefined);
  assert.equal(secretByPath("/root/.ssh/id_ed25519"), "SSH private key file");
  assert.equal(secretByPath("/root/.ssh/id_ed25519.pub"), undefined);
  assert.equal(secretByPath("/home/u/.aws/credentials"), "AWS credentials file");
  assert.equal(secretByPath("/root/.config/gcloud/credentials.db"), "gcloud credentials");
  assert.equal(secretByPath("/app/.npmrc"), "content");
  assert.equal(secretByContent("/x/key.pem", PEM), "PEM private key");
  assert.equal(
    secretByContent("/lib/tls.js", 'const h = "-----BEGIN ' + 'PRIVATE KEY-----";'),
    undefined,
  );
  assert.equal(
    secretByContent("/app/.npmrc", "//registry.example/:_authToken=abc\n"),
    ".npmrc with an auth token",
  );
  assert.equal(secretByContent("/app/.npmrc", "registry=https://r\n"), undefined);
});

Deno.test("verify scan: a secret deleted in a later layer is still reported", () => {
  const layers = [
    [
      entry("/app/server.key", 0, { contentSecret: "PEM private key" }),
      entry("/app/.env", 0),
      entry("/app/main.ts", 0),
    ],
    [entry("/app/.wh.server.key", 1)],
  ];
  assert.deepEqual(findSecrets({ layers, merged: mergeLayers(layers) }), [
    { path: "/app/server.key", layer: 0, reason: "PEM private key", present: false },
    { path: "/app/.env", layer: 0, reason: ".env file", present: true },
  ]);
});

// ---- build output and the cache probe

const LEGACY = `Sending build context to Docker daemon  10kB
Step 1/9 : ARG BASE=x
Step 2/9 : FROM \${BASE} AS builder
 ---> df1e6120b85e
Step 3/9 : WORKDIR /app
 ---> Using cache
 ---> 1
Step 4/9 : COPY deno.json deno.lock ./
 ---> Using cache
 ---> 2
Step 5/9 : RUN deno install
 ---> Using cache
 ---> 3
Step 6/9 : COPY . .
 ---> 4
Step 7/9 : RUN deno compile main.ts
 ---> Running in abc
Removing intermediate container abc
 ---> 5
Step 8/9 : FROM scratch AS runtime
 ---> 
Step 9/9 : COPY --from=builder /app/swft /swft
 ---> 6
Successfully built 6
`;

Deno.test("verify build log: legacy steps and cache hits parse", () => {
  const steps = parseBuildLog(LEGACY);
  assert.equal(steps.length, 8);
  assert.deepEqual(steps.map((s) => s.cached), [
    undefined,
    true,
    true,
    true,
    false,
    false,
    undefined,
    false,
  ]);
  assert.deepEqual(steps.map((s) => s.stage), ["0", "0", "0", "0", "0", "0", "1", "1"]);
  const verdict = judgeCacheReuse(steps);
  assert.equal(verdict.ok, true);
  assert.match(verdict.detail, /RUN deno install/);
});

Deno.test("verify build log: BuildKit plain progress parses", () => {
  const log = `#1 [internal] load build definition from Dockerfile
#5 [builder 1/4] FROM docker.io/denoland/deno:2.9.6
#6 [builder 2/4] COPY deno.json ./
#6 CACHED
#7 [builder 3/4] RUN deno install
#7 CACHED
#8 [builder 4/4] COPY . .
#8 DONE 0.1s
#9 [runtime 1/2] FROM gcr.io/distroless/cc
#10 [runtime 2/2] COPY --from=builder /app /app
#10 DONE 0.2s
`;
  const steps = parseBuildLog(log);
  assert.deepEqual(steps.map((s) => [s.stage, s.cached]), [
    ["builder", undefined],
    ["builder", true],
    ["builder", true],
    ["builder", false],
    ["runtime", undefined],
    ["runtime", false],
  ]);
  assert.equal(judgeCacheReuse(steps).ok, true);
});

Deno.test("verify rebuild-cache: installing after copying all sources fails, as does a no-op change", () => {
  const busting = parseBuildLog(
    "Step 1/4 : FROM a:1\n ---> 0\nStep 2/4 : RUN apt-get install -y x\n ---> Using cache\nStep 3/4 : COPY . .\n ---> 1\nStep 4/4 : RUN deno install\n ---> Running in x\n",
  );
  const v = judgeCacheReuse(busting);
  assert.equal(v.ok, false);
  assert.match(
    v.detail,
    /no dependency step came from cache; RUN deno install ran again, after a copy that was rebuilt/,
  );
  assert.equal(v.dependencyRerun, true);
  const nothing = judgeCacheReuse(
    parseBuildLog("Step 1/2 : FROM a:1\nStep 2/2 : COPY x .\n ---> Using cache\n"),
  );
  assert.equal(nothing.ok, false);
  assert.match(nothing.detail, /nothing was rebuilt/);
  assert.equal(nothing.dependencyRerun, false);
});

/** BuildKit's log of a warm rebuild of a good Dockerfile; `installCached` false: the engine missed. */
function warmRebuildLog(installCached: boolean): string {
  return `#5 [deps 1/3] FROM docker.io/denoland/deno:2.9.6
#6 [deps 2/3] COPY deno.json deno.lock ./
#6 CACHED
#7 [deps 3/3] RUN deno install --frozen
${installCached ? "#7 CACHED" : "#7 DONE 6.1s"}
#8 [app 1/2] COPY main.ts ./
#8 DONE 0.1s
#9 [app 2/2] RUN deno run --cached-only main.ts --version
#9 DONE 1.0s
`;
}

Deno.test("verify rebuild-cache: an install that ran again after a cached copy is named as such", () => {
  const v = judgeCacheReuse(parseBuildLog(warmRebuildLog(false)));
  assert.equal(v.ok, false);
  assert.equal(v.dependencyRerun, true);
  assert.match(v.detail, /RUN deno install --frozen ran again, after a copy that came from cache/);
  assert.equal(judgeCacheReuse(parseBuildLog(warmRebuildLog(true))).ok, true);
});

Deno.test("verify rebuild-cache: an engine's one miss is settled by a second change; a bad order fails both", async () => {
  const probes = (logs: string[]) => {
    let calls = 0;
    return {
      probe: () => {
        const log = logs[calls++];
        return Promise.resolve({ cache: judgeCacheReuse(parseBuildLog(log)), ms: 1000 });
      },
      calls: () => calls,
    };
  };
  const missOnce = probes([warmRebuildLog(false), warmRebuildLog(true)]);
  const settled = await settleCacheProbe(missOnce.probe);
  assert.ok(typeof settled !== "string");
  assert.equal(settled.cache.ok, true);
  assert.match(settled.note, /a first rebuild missed: RUN deno install --frozen ran again/);
  assert.equal(missOnce.calls(), 2);

  const busting =
    "Step 1/3 : FROM a:1\nStep 2/3 : COPY . .\n ---> 1\nStep 3/3 : RUN deno install\n";
  const bad = probes([busting, busting]);
  const refused = await settleCacheProbe(bad.probe);
  assert.ok(typeof refused !== "string");
  assert.equal(refused.cache.ok, false);
  assert.equal(bad.calls(), 2);

  const good = probes([warmRebuildLog(true)]);
  const once = await settleCacheProbe(good.probe);
  assert.ok(typeof once !== "string" && once.cache.ok && once.note === "");
  assert.equal(good.calls(), 1, "a good first probe is not repeated");
  const unchanged = probes(["Step 1/2 : FROM a:1\nStep 2/2 : COPY x .\n ---> Using cache\n"]);
  await settleCacheProbe(unchanged.probe);
  assert.equal(unchanged.calls(), 1, "nothing rebuilt is not a miss a second probe can settle");
});

Deno.test("verify rebuild-cache: the probe changes an entry point the build copies after its manifests", () => {
  const df = parseDockerfile(GOOD);
  const files = [
    ".dockerignore",
    "README.md",
    "deno.json",
    "deno.lock",
    "main.ts",
    "routes/a.ts",
    "static/style.css",
  ];
  assert.equal(pickProbeFile(df, files), "main.ts");
  const fixture = parseDockerfile(
    "FROM d:1 AS builder\nCOPY app/deps.ts ./\nRUN deno cache deps.ts\nCOPY app/ ./\nRUN x\nFROM r:1\nCOPY secret.txt /x\n",
  );
  assert.equal(
    pickProbeFile(fixture, ["app/deps.ts", "app/server.ts", "app/static/s.css", "secret.txt"]),
    "app/server.ts",
  );
  assert.equal(
    pickProbeFile(parseDockerfile("FROM a:1\nCOPY deno.json ./\n"), ["main.ts"]),
    undefined,
  );
  // the project's shape: manifests + install in `deps`, sources in `app` built on it
  const project = parseDockerfile(
    "FROM d:1 AS deps\nCOPY deno.json deno.lock ./\nRUN deno install\nFROM deps AS app\nCOPY *.ts ./\nCOPY routes/ ./routes/\nRUN x\n",
  );
  assert.equal(
    pickProbeFile(project, ["config.ts", "deno.json", "deno.lock", "main.ts", "routes/a.ts"]),
    "main.ts",
  );
  assert.equal(
    pickProbeFile(project, ["deno.json", "deno.lock", "routes/a.ts"]),
    "routes/a.ts",
    "never a dependency manifest",
  );
  // A copy from another stage reads nothing of the context: /app/ there is the build's output.
  const staged = parseDockerfile(
    "FROM b:1 AS build\nCOPY src/ ./\nRUN make\nFROM r:1\nCOPY --from=build /app/ /app/\n",
  );
  assert.equal(pickProbeFile(staged, ["app/main.ts", "src/util.ts"]), "src/util.ts");
  assert.match(probeSuffix("main.ts", "t"), /^\n\/\/ verify cache probe t\n$/);
  assert.equal(probeSuffix("data.bin", "t"), "\n");
});

// ---- HTTP rules

function res(
  status: number,
  type: string,
  body: string,
  headers: Record<string, string> = {},
): Fetched {
  return { status, headers: new Headers({ "content-type": type, ...headers }), body, ms: 1 };
}

const probe = (id: string) => PROJECT_CONFIG.probes.find((p) => p.id === id)!;

Deno.test("verify config: the project's probes pass and fail where they should", () => {
  const root = probe("http-root");
  assert.equal(
    judgeProbe(res(200, "text/html; charset=utf-8", "<h1>Hello World!</h1>"), root).ok,
    true,
  );
  assert.match(
    judgeProbe(res(200, "text/html", "<h1>Bye</h1>"), root).detail,
    /lacks "Hello World!"/,
  );
  assert.match(
    judgeProbe(res(200, "application/json", "Hello World!"), root).detail,
    /expected text\/html/,
  );
  assert.match(judgeProbe(res(500, "text/html", ""), root).detail, /status 500, expected 200/);
  const health = probe("http-health");
  assert.equal(judgeProbe(res(200, "application/json", '{"status":"ok","x":1}'), health).ok, true);
  assert.equal(judgeProbe(res(503, "application/json", '{"status":"ok"}'), health).ok, false);
  assert.equal(judgeProbe(res(200, "application/json", '{"status":"degraded"}'), health).ok, false);
  assert.equal(judgeProbe(res(200, "application/json", "not json"), health).ok, false);
  const time = probe("http-time");
  assert.equal(
    judgeProbe(res(200, "application/json", '{"time":"2026-01-02 03:04:05"}'), time).ok,
    true,
  );
  assert.equal(judgeProbe(res(200, "application/json", '{"time":"03:04:05"}'), time).ok, false);
  const css = probe("http-static");
  assert.equal(judgeProbe(res(200, "text/css; charset=utf-8", "a{}"), css).ok, true);
  assert.equal(judgeProbe(res(200, "text/plain", "a{}"), css).ok, false);
  assert.equal(judgeProbe(res(404, "text/css", "a{}"), css).ok, false);
});

Deno.test("verify config: mistakes are one line naming the field", () => {
  assert.equal(parseConfig({ probes: [{ id: "a", path: "/" }] }).probes[0].status, 200);
  assert.equal(parseConfig({ probes: [{ id: "a", path: "/" }] }).startupLog, "listening");
  assert.throws(
    () => parseConfig({ probes: [] }),
    /Invalid config: probes must hold at least one probe/,
  );
  assert.throws(
    () => parseConfig({ probes: [{ id: "a", path: "x" }] }),
    /probes\.0\.path must start with \//,
  );
  assert.throws(
    () => parseConfig({ probes: [{ id: "a", path: "/", matches: "(" }] }),
    /valid regular expression/,
  );
  assert.throws(
    () => parseConfig({ probes: [{ id: "a", path: "/" }], extra: 1 }),
    /Invalid config/,
  );
  assert.throws(
    () => parseConfig({ probes: [{ id: "a", path: "/" }, { id: "a", path: "/b" }] }),
    /probe id "a" is used twice/,
  );
});

Deno.test("verify scan: a symlink or hard link inside an --allow-read path is found; --allow-all reads all", () => {
  const fs = mergeLayers([[
    entry("/app/static/app.css", 0),
    entry("/app/static/passwd", 0, { type: "symlink", linkname: "/etc/passwd" }),
    entry("/app/templates/shadow", 0, { type: "hardlink", linkname: "etc/shadow" }),
    entry("/usr/lib/libc.so", 0, { type: "symlink", linkname: "libc.so.6" }),
  ]]);
  const paths = readPaths(["--allow-net", "--allow-read=/app/static,/app/templates/"]);
  assert.deepEqual(paths, ["/app/static", "/app/templates"]);
  assert.deepEqual(linksInReadPaths(fs, paths), [
    "/app/static/passwd -> /etc/passwd",
    "/app/templates/shadow -> etc/shadow",
  ]);
  const folder = mergeLayers([[entry("/app", 0, { type: "symlink", linkname: "/" })]]);
  assert.deepEqual(linksInReadPaths(folder, paths), ["/app -> /"], "a folder above a read path");
  assert.deepEqual(readPaths(["--allow-all"]), ["/"]);
  assert.equal(linksInReadPaths(fs, ["/"]).length, 3);
  assert.deepEqual(linksInReadPaths(fs, []), []);
});

const CONTRACT_IDS = [
  "engine",
  "dockerfile-lint",
  "build-builder",
  "build-runtime",
  "rebuild-cache",
  "reproducible",
  "image-size",
  "image-labels",
  "runtime-no-shell",
  "runtime-no-build-tools",
  "runtime-no-package-manager",
  "runtime-no-setuid",
  "runtime-read-no-links",
  "runtime-user-nonroot",
  "runtime-no-secrets",
  "healthcheck-defined",
  "container-start",
  "container-healthy",
  "http-root",
  "http-health",
  "http-time",
  "http-static",
  "http-security-headers",
  "container-logs",
  "resource-usage",
  "graceful-stop",
];

Deno.test("verify registry: the project's config yields today's check ids in order", () => {
  assert.deepEqual(registry(PROJECT_CONFIG).map((c) => c.id), CONTRACT_IDS);
  const other = registry(parseConfig({ probes: [{ id: "api-ping", path: "/api/ping" }] }));
  assert.ok(other.some((c) => c.id === "api-ping"));
  assert.ok(!other.some((c) => c.id === "http-root"));
  // every need is provided by an earlier check
  for (const [i, check] of other.entries()) {
    for (const need of check.needs) {
      assert.ok(
        other.slice(0, i).some((c) => c.provides?.includes(need)),
        `${check.id} needs ${need}`,
      );
    }
  }
});

Deno.test("verify http: security headers are required with meaningful values", () => {
  const good = new Headers({
    "content-security-policy": "default-src 'self'",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
  });
  assert.equal(judgeSecurityHeaders(good).ok, true);
  const weak = new Headers({ "x-content-type-options": "sniff", "x-powered-by": "Hono" });
  const detail = judgeSecurityHeaders(weak).detail;
  for (
    const part of [
      "Content-Security-Policy",
      "nosniff",
      "X-Frame-Options",
      "Referrer-Policy",
      "X-Powered-By",
    ]
  ) {
    assert.ok(detail.includes(part), `${part} in "${detail}"`);
  }
});

Deno.test("verify stats and logs: docker stats memory and error lines parse", () => {
  assert.equal(parseMemUsage("23.5MiB / 23.59GiB"), Math.round(23.5 * 1024 ** 2));
  assert.equal(parseMemUsage("812kB / 1GB"), 812_000);
  assert.equal(parseMemUsage("--"), undefined);
  assert.deepEqual(
    errorLines(
      '{"level":"info","msg":"listening"}\n{"level":"error","msg":"boom"}\nerror: Uncaught x\n',
    ),
    ['{"level":"error","msg":"boom"}', "error: Uncaught x"],
  );
  assert.deepEqual(errorLines('{"level":"info","msg":"GET /error 404"}\n'), []);
});

// ---- report, runner and exit code

function checks(statuses: ("pass" | "fail" | "skip")[]): CheckResult[] {
  return statuses.map((status, i) => ({ id: CONTRACT_IDS[i], status, detail: `d${i}`, ms: i }));
}

Deno.test("verify exit code: 0 only when every check passed; a skip is not a pass", () => {
  assert.equal(exitCode(checks(["pass", "pass"])), 0);
  assert.equal(exitCode(checks(["pass", "skip"])), 1);
  assert.equal(exitCode(checks(["fail", "pass"])), 1);
  assert.equal(exitCode([]), 1);
});

Deno.test("verify report: JSON shape, tags unique to the run, summary table", async () => {
  const a = await createRun(options(["--image", "x"]), { write: () => {} });
  const b = await createRun(options(["--image", "x"]), { write: () => {} });
  const report = a.ctx.report;
  report.checks.push(...checks(["pass", "fail", "skip"]));
  report.images.builder.bytes = 400e6;
  report.images.runtime.bytes = 100e6;
  report.images.reductionPercent = 75;
  const json = JSON.parse(JSON.stringify(report));
  assert.deepEqual(Object.keys(json).slice(0, 3), ["tool", "ok", "startedAt"]);
  assert.deepEqual(Object.keys(json.checks[0]).sort(), ["detail", "id", "ms", "status"]);
  assert.equal(json.images.builder.bytes, 400e6);
  // never IMAGE:TARGET, which may be the user's own tag
  assert.match(json.images.runtime.ref, /^x:verify-[a-z0-9]+-runtime$/);
  assert.notEqual(json.images.runtime.ref, b.ctx.report.images.runtime.ref);
  const plain = renderSummary(report, { color: false });
  assert.match(plain, /^CHECK\s+STATUS\s+TIME\s+DETAIL$/m);
  assert.match(plain, /^engine\s+PASS\s+0 ms\s+d0$/m);
  assert.match(plain, /^dockerfile-lint\s+FAIL/m);
  assert.match(plain, /images: builder 400 MB, runtime 100 MB \(-75\.0%\)/);
  assert.match(plain, /NOT VERIFIED: 1 passed, 1 failed, 1 skipped/);
  assert.ok(!plain.includes("\x1b["), "no ANSI codes without colour");
  assert.ok(renderSummary(report, { color: true }).includes("\x1b[31mFAIL"));
});

Deno.test("verify runner: --skip, missing needs and thrown errors become skip and fail", async () => {
  let out = "";
  const run = await createRun(options(["--skip", "engine"]), { write: (s) => out += s });
  const ctx: Context = run.ctx;
  const registry: Check[] = [
    { id: "engine", needs: [], provides: ["engine"], run: () => Promise.resolve(pass("never")) },
    {
      id: "dockerfile-lint",
      needs: [],
      run: () => Promise.reject(new Error("Dockerfile not found")),
    },
    { id: "build-builder", needs: ["engine"], run: () => Promise.resolve(fail("x")) },
    {
      id: "build-runtime",
      needs: [],
      provides: ["runtimeImage"],
      run(c) {
        c.facts.runtimeImage = "x:1";
        return Promise.resolve(pass("ok"));
      },
    },
    { id: "image-labels", needs: ["runtimeImage"], run: () => Promise.resolve(pass("labels")) },
  ];
  await runChecks(registry, ctx);
  assert.deepEqual(ctx.report.checks.map((c) => [c.id, c.status, c.detail]), [
    ["engine", "skip", "skipped by --skip"],
    ["dockerfile-lint", "fail", "Dockerfile not found"],
    ["build-builder", "skip", "needs engine (engine did not pass)"],
    ["build-runtime", "pass", "ok"],
    ["image-labels", "pass", "labels"],
  ]);
  assert.match(out, /^SKIP {2}engine\s/m);
  assert.match(out, /^PASS {2}build-runtime\s/m);
  assert.ok(!out.includes("\x1b["));
});

Deno.test("verify cli: --help exits 0 on stdout; usage and config errors exit 2 with one line", async () => {
  const cli = (args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-run=docker",
        "--allow-read",
        "--allow-write",
        "--allow-env",
        "--allow-net=127.0.0.1",
        new URL("../tasks/verify.ts", import.meta.url).pathname,
        ...args,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
  const help = await cli(["--help"]);
  assert.equal(help.code, 0);
  assert.match(new TextDecoder().decode(help.stdout), /^Usage: deno task verify/);
  const bad = await cli(["--skip", "no-such-check"]);
  assert.equal(bad.code, 2);
  assert.match(
    new TextDecoder().decode(bad.stderr),
    /^verify: --skip: unknown check no-such-check\nRun with --help/,
  );
  const config = await cli(["--config", "/nonexistent/verify.json"]);
  assert.equal(config.code, 2);
  assert.match(
    new TextDecoder().decode(config.stderr),
    /^verify: Cannot read \/nonexistent\/verify\.json: /,
  );
});

Deno.test("container-start names why a container exited: the error line, not its stack frame", async () => {
  const { exitCause } = await import("../tasks/verify/checks_container.ts");
  const crash = [
    'error: Uncaught (in promise) NotCapable: Requires env access to "GREETING", run again with the --allow-env flag',
    '  const greeting = Deno.env.get("GREETING");',
    "                           ^",
    "    at loadConfig (file:///app/main.ts:47:24)",
    "    at file:///app/main.ts:60:1",
  ].join("\n");
  assert.equal(
    exitCause(crash),
    'error: Uncaught (in promise) NotCapable: Requires env access to "GREETING", run again with the --allow-env flag',
  );
  // Without an error line: the last lines, stack frames left out.
  assert.equal(
    exitCause("starting\nbad thing happened\n    at f (file:///a.ts:1:1)\n"),
    "starting | bad thing happened",
  );
});

Deno.test("the image-only checks (what --verify-only re-runs on a pulled image) are the audit of the image itself, no build and no container", () => {
  const ids = imageOnlyChecks().map((c) => c.id);
  for (
    const id of [
      "image-labels",
      "runtime-no-shell",
      "runtime-no-build-tools",
      "runtime-no-package-manager",
      "runtime-no-setuid",
      "runtime-user-nonroot",
      "runtime-no-secrets",
      "healthcheck-defined",
    ]
  ) assert.ok(ids.includes(id), `${id} is re-run`);
  for (const id of ["image-size", "build-runtime", "container-start", "http-health"]) {
    assert.ok(!ids.includes(id), `${id} needs a build or a container`);
  }
});
