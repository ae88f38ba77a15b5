// Unit tests for `deno task verify`: everything that needs no Docker engine.
import assert from "node:assert/strict";
import { HELP, parseVerifyArgs, UsageError, type VerifyOptions } from "../tasks/verify/args.ts";
import { judgeCacheReuse, parseBuildLog } from "../tasks/verify/build_log.ts";
import { pickProbeFile, probeSuffix } from "../tasks/verify/context.ts";
import {
  expandArgs,
  lintDockerfile,
  parseDockerfile,
  parseImageRef,
} from "../tasks/verify/dockerfile.ts";
import { parseDockerIgnore } from "../tasks/verify/dockerignore.ts";
import {
  errorLines,
  type Fetched,
  judgeHealth,
  judgeRoot,
  judgeSecurityHeaders,
  judgeStatic,
  judgeTime,
  parseMemUsage,
} from "../tasks/verify/http.ts";
import { findSecrets, type ImageFs } from "../tasks/verify/image_fs.ts";
import { missingLabels } from "../tasks/verify/checks_image.ts";
import { createRun } from "../tasks/verify/mod.ts";
import { CHECK_IDS, type CheckResult, exitCode, renderSummary } from "../tasks/verify/report.ts";
import { fail, pass, step } from "../tasks/verify/runner.ts";
import {
  BUILD_TOOLS,
  findPrograms,
  findSetuid,
  type FsEntry,
  mergeLayers,
  PACKAGE_MANAGERS,
  resolveUser,
  secretByContent,
  secretByPath,
  SHELLS,
  wastedBytes,
} from "../tasks/verify/scan.ts";
import { bytesAccess, readTar } from "../tasks/verify/tar.ts";
import { formatBytes, parseSize } from "../tasks/verify/units.ts";

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
  assert.deepEqual(o.expectText, ["Hello World!"]);
  assert.equal(o.staticPath, "/static/style.css");
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
  assert.throws(() => parseVerifyArgs(["--static-path", "style.css"]), UsageError);
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

Deno.test("verify units: sizes parse in decimal and binary units", () => {
  assert.equal(parseSize("150MB"), 150_000_000);
  assert.equal(parseSize("1.5 GiB"), 1.5 * 1024 ** 3);
  assert.equal(parseSize("4096"), 4096);
  assert.throws(() => parseSize("12 parsecs"));
  assert.equal(formatBytes(99045559), "99.0 MB");
  assert.equal(formatBytes(512), "512 B");
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

// ---- tar and layers

function tarHeader(
  name: string,
  options: { size?: number; type?: string; mode?: number; linkname?: string },
): Uint8Array {
  const h = new Uint8Array(512);
  const put = (text: string, at: number) => h.set(new TextEncoder().encode(text), at);
  put(name.slice(0, 99), 0);
  put((options.mode ?? 0o644).toString(8).padStart(7, "0"), 100);
  put("0000000", 108);
  put("0000000", 116);
  put((options.size ?? 0).toString(8).padStart(11, "0"), 124);
  put("00000000000", 136);
  put(options.type ?? "0", 156);
  put(options.linkname ?? "", 157);
  put("ustar\u000000", 257);
  put("        ", 148);
  const sum = h.reduce((a, b) => a + b, 0);
  put(sum.toString(8).padStart(6, "0") + "\u0000 ", 148);
  return h;
}

function tar(
  entries: { name: string; data?: string; type?: string; mode?: number; linkname?: string }[],
): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const e of entries) {
    const data = new TextEncoder().encode(e.data ?? "");
    if (e.name.length > 99) {
      const record = (n: string) => {
        const body = ` path=${n}\n`;
        let length = body.length + 2;
        if (String(length).length + body.length !== length) length++;
        return `${length}${body}`;
      };
      const pax = new TextEncoder().encode(record(e.name));
      parts.push(
        tarHeader("PaxHeader", { size: pax.length, type: "x" }),
        pax,
        new Uint8Array((512 - pax.length % 512) % 512),
      );
    }
    parts.push(
      tarHeader(e.name, { size: data.length, type: e.type, mode: e.mode, linkname: e.linkname }),
    );
    parts.push(data, new Uint8Array((512 - data.length % 512) % 512));
  }
  parts.push(new Uint8Array(1024));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

Deno.test("verify tar: reads names, types, modes, links, PAX long names and data offsets", async () => {
  const long = "deep/" + "x".repeat(120) + "/file.txt";
  const bytes = tar([
    { name: "usr/bin/", type: "5", mode: 0o755 },
    { name: "usr/bin/busybox", data: "BB", mode: 0o4755 },
    { name: "bin/sh", type: "2", linkname: "/usr/bin/busybox", mode: 0o777 },
    { name: long, data: "long" },
  ]);
  const entries = [];
  for await (const e of readTar(bytesAccess(bytes), 0, bytes.length)) entries.push(e);
  assert.deepEqual(entries.map((e) => [e.name, e.type]), [
    ["usr/bin/", "dir"],
    ["usr/bin/busybox", "file"],
    ["bin/sh", "symlink"],
    [long, "file"],
  ]);
  assert.equal(entries[1].mode, 0o4755);
  assert.equal(entries[2].linkname, "/usr/bin/busybox");
  assert.equal(
    new TextDecoder().decode(bytes.subarray(entries[3].dataOffset, entries[3].dataOffset + 4)),
    "long",
  );
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

const PEM = "-----BEGIN " + "RSA PRIVATE KEY-----\n" + "MIIEpAIBAAKCAQEA".repeat(5) +
  "\n-----END RSA PRIVATE KEY-----\n";

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
    secretByContent("/app/.npmrc", "//registry.npmjs.org/:_authToken=abc\n"),
    ".npmrc with an auth token",
  );
  assert.equal(secretByContent("/app/.npmrc", "registry=https://r\n"), undefined);
});

Deno.test("verify scan: a secret deleted in a later layer is still reported", async () => {
  const bytes = new TextEncoder().encode(PEM);
  const layers = [
    [
      entry("/app/server.key", 0, { size: bytes.length, dataOffset: 0 }),
      entry("/app/main.ts", 0, { size: 0 }),
    ],
    [entry("/app/.wh.server.key", 1)],
  ];
  const fs: ImageFs = {
    layers,
    merged: mergeLayers(layers),
    createdBy: ["COPY . /app", "RUN rm server.key"],
    readFile: (e) => Promise.resolve(e.path === "/app/server.key" ? bytes : new Uint8Array()),
    close: () => {},
  };
  assert.deepEqual(await findSecrets(fs), [{
    path: "/app/server.key",
    layer: 0,
    reason: "PEM private key",
    present: false,
  }]);
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
  assert.match(v.detail, /no dependency step came from cache; first rebuilt: COPY \. \./);
  const nothing = judgeCacheReuse(
    parseBuildLog("Step 1/2 : FROM a:1\nStep 2/2 : COPY x .\n ---> Using cache\n"),
  );
  assert.equal(nothing.ok, false);
  assert.match(nothing.detail, /nothing was rebuilt/);
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

Deno.test("verify http: each endpoint's rule passes and fails where it should", () => {
  assert.equal(
    judgeRoot(res(200, "text/html; charset=utf-8", "<h1>Hello World!</h1>"), ["Hello World!"]).ok,
    true,
  );
  assert.match(
    judgeRoot(res(200, "text/html", "<h1>Bye</h1>"), ["Hello World!"]).detail,
    /lacks "Hello World!"/,
  );
  assert.match(
    judgeRoot(res(200, "application/json", "Hello World!"), ["Hello World!"]).detail,
    /expected text\/html/,
  );
  assert.match(judgeRoot(res(500, "text/html", ""), []).detail, /status 500/);
  assert.equal(judgeHealth(res(200, "application/json", '{"status":"ok"}')).ok, true);
  assert.equal(judgeHealth(res(503, "application/json", '{"status":"ok"}')).ok, false);
  assert.equal(judgeHealth(res(200, "application/json", '{"status":"degraded"}')).ok, false);
  const now = new Date("2026-01-02T03:04:05Z");
  assert.equal(
    judgeTime(res(200, "application/json", '{"time":"2026-01-02 03:04:05"}'), now).ok,
    true,
  );
  assert.equal(
    judgeTime(res(200, "application/json", '{"time":"2026-01-02 12:04:05"}'), now).ok,
    true,
    "UTC+9 is fine",
  );
  assert.equal(
    judgeTime(res(200, "application/json", '{"time":"2025-01-02 03:04:05"}'), now).ok,
    false,
  );
  assert.equal(judgeTime(res(200, "application/json", '{"time":"03:04:05"}'), now).ok, false);
  assert.equal(
    judgeStatic(res(200, "text/css; charset=utf-8", "a{}"), "/static/style.css").ok,
    true,
  );
  assert.equal(judgeStatic(res(200, "text/plain", "a{}"), "/static/style.css").ok, false);
  assert.equal(judgeStatic(res(404, "text/css", "a{}"), "/static/style.css").ok, false);
  assert.equal(judgeStatic(res(200, "text/css", ""), "/static/style.css").ok, false);
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
    [
      '{"level":"error","msg":"boom"}',
      "error: Uncaught x",
    ],
  );
  assert.deepEqual(errorLines('{"level":"info","msg":"GET /error 404"}\n'), []);
});

// ---- report, progress and exit code

function checks(statuses: ("pass" | "fail" | "skip")[]): CheckResult[] {
  return statuses.map((status, i) => ({ id: CHECK_IDS[i], status, detail: `d${i}`, ms: i }));
}

Deno.test("verify exit code: 0 only when every check passed; a skip is not a pass", () => {
  assert.equal(exitCode(checks(["pass", "pass"])), 0);
  assert.equal(exitCode(checks(["pass", "skip"])), 1);
  assert.equal(exitCode(checks(["fail", "pass"])), 1);
  assert.equal(exitCode([]), 1);
});

Deno.test("verify report: JSON shape and summary table", () => {
  const run = createRun(options(["--image", "x"]), { write: () => {} });
  const report = run.report;
  report.checks.push(...checks(["pass", "fail", "skip"]));
  report.images.builder.bytes = 400e6;
  report.images.runtime.bytes = 100e6;
  report.images.reductionPercent = 75;
  const json = JSON.parse(JSON.stringify(report));
  assert.deepEqual(Object.keys(json.checks[0]).sort(), ["detail", "id", "ms", "status"]);
  assert.equal(json.images.builder.bytes, 400e6);
  assert.equal(json.images.runtime.bytes, 100e6);
  assert.equal(json.images.runtime.ref, "x:runtime");
  const plain = renderSummary(report, { color: false });
  assert.match(plain, /^CHECK\s+STATUS\s+TIME\s+DETAIL$/m);
  assert.match(plain, /^engine\s+PASS\s+0 ms\s+d0$/m);
  assert.match(plain, /^dockerfile-lint\s+FAIL/m);
  assert.match(plain, /images: builder 400 MB, runtime 100 MB \(-75\.0%\)/);
  assert.match(plain, /NOT VERIFIED: 1 passed, 1 failed, 1 skipped/);
  assert.ok(!plain.includes("\x1b["), "no ANSI codes without colour");
  assert.ok(renderSummary(report, { color: true }).includes("\x1b[31mFAIL"));
});

Deno.test("verify step: --skip and thrown errors become skip and fail, and progress prints plain lines", async () => {
  let out = "";
  const run = createRun(options(["--skip", "engine"]), { write: (s) => out += s });
  await step(run, "engine", () => Promise.resolve(pass("never")));
  await step(run, "dockerfile-lint", () => Promise.reject(new Error("Dockerfile not found")));
  await step(run, "build-builder", () => Promise.resolve(fail("x")), "engine unreachable");
  await step(run, "build-runtime", () => Promise.resolve(pass("ok")));
  assert.deepEqual(run.report.checks.map((c) => [c.id, c.status, c.detail]), [
    ["engine", "skip", "skipped by --skip"],
    ["dockerfile-lint", "fail", "Dockerfile not found"],
    ["build-builder", "skip", "engine unreachable"],
    ["build-runtime", "pass", "ok"],
  ]);
  assert.match(out, /^SKIP {2}engine\s/m);
  assert.match(out, /^PASS {2}build-runtime\s/m);
  assert.ok(!out.includes("\x1b["));
});

Deno.test("verify cli: --help exits 0 and a usage error exits 2 with a hint", async () => {
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
    /unknown check no-such-check\nRun with --help/,
  );
});
