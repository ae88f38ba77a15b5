// The rule of verify's `reproducible` check, without an engine: two OCI archives agree only when
// their manifest digests do, and when they differ the first differing layer and its files are
// named with size, content hash and mtime (the container round is tests/verify_fixtures_test.ts).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { tarStream } from "../tasks/_lib/deps.ts";
import { buildEpoch } from "../tasks/verify/checks_reproducible.ts";
import { epochContext } from "../tasks/_lib/build_context.ts";
import { CleanupStack, tempDir } from "../tasks/_lib/mod.ts";
import {
  describeDiff,
  diffJson,
  diffLayerFiles,
  diffOciArchives,
  type LayerFile,
} from "../tasks/verify/oci_diff.ts";

type File = { name: string; content: string | Uint8Array; mtime?: Date };

type Bytes = Uint8Array<ArrayBuffer>;

async function tarOf(files: File[]): Promise<Bytes> {
  const pack = tarStream.pack();
  for (const { name, content, mtime } of files) {
    pack.entry({ name, mtime: mtime ?? new Date(0) }, content);
  }
  pack.finalize();
  const chunks: Bytes[] = [];
  for await (const chunk of pack as AsyncIterable<Bytes>) chunks.push(chunk);
  return new Uint8Array(await new Blob(chunks).arrayBuffer());
}

async function gzip(bytes: Bytes): Promise<Bytes> {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

const sha256 = (bytes: Uint8Array | string) =>
  `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

/** An OCI archive as BuildKit writes it: index.json, manifest, config, gzip layers. */
async function ociArchive(path: string, layers: File[][]): Promise<string> {
  const blobs: File[] = [];
  const descriptors = [];
  for (const files of layers) {
    const blob = await gzip(await tarOf(files));
    descriptors.push({
      mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
      digest: sha256(blob),
      size: blob.length,
    });
    blobs.push({ name: `blobs/sha256/${sha256(blob).slice(7)}`, content: blob });
  }
  const config = JSON.stringify({
    architecture: "amd64",
    os: "linux",
    history: layers.map((_, i) => ({ created_by: `RUN step ${i + 1}` })),
  });
  const manifest = JSON.stringify({
    schemaVersion: 2,
    config: { digest: sha256(config), size: config.length },
    layers: descriptors,
  });
  blobs.push({ name: `blobs/sha256/${sha256(config).slice(7)}`, content: config });
  blobs.push({ name: `blobs/sha256/${sha256(manifest).slice(7)}`, content: manifest });
  const index = JSON.stringify({
    schemaVersion: 2,
    manifests: [{
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest: sha256(manifest),
      platform: { os: "linux", architecture: "amd64" },
    }],
  });
  await Deno.writeFile(path, await tarOf([{ name: "index.json", content: index }, ...blobs]));
  return path;
}

const BASE: File[] = [{ name: "usr/bin/deno", content: "deno" }];
const APP = (id: string): File[] => [
  { name: "app/main.ts", content: "serve()" },
  { name: "app/build-id", content: id, mtime: new Date(1_796_609_368_000) },
];

Deno.test("reproducible: two archives of the same layers agree on the digest", async () => {
  await using cleanup = new CleanupStack();
  const dir = await tempDir(cleanup, "swft-repro-test-");
  const a = await ociArchive(`${dir}/a.tar`, [BASE, APP("1")]);
  const b = await ociArchive(`${dir}/b.tar`, [BASE, APP("1")]);
  const diff = await diffOciArchives(a, b);
  assert.equal(diff.same, true);
  assert.equal(diff.digests[0], diff.digests[1]);
  assert.equal(diff.layer, undefined);
});

Deno.test("reproducible: a random file names the first differing layer and the file", async () => {
  await using cleanup = new CleanupStack();
  const dir = await tempDir(cleanup, "swft-repro-test-");
  const a = await ociArchive(`${dir}/a.tar`, [BASE, APP("4f1c")]);
  const b = await ociArchive(`${dir}/b.tar`, [BASE, APP("9b2e")]);
  const diff = await diffOciArchives(a, b);
  assert.equal(diff.same, false);
  assert.equal(diff.layer?.index, 1, "layer 1 (the base layer agrees)");
  assert.deepEqual(diff.layer?.files.map((f) => f.path), ["app/build-id"]);
  const text = describeDiff(diff);
  assert.match(text, /first differing layer 2 of 2 \(RUN step 2\)/);
  assert.match(
    text,
    /\/app\/build-id: file 4 B sha256:[0-9a-f]{12} mode 644 0:0 mtime 2026-12-07T\d\d:\d\d:\d\dZ vs file 4 B sha256:/,
  );
});

Deno.test("reproducible: a file's size, hash, mtime or presence each count as a difference", () => {
  const file: LayerFile = {
    path: "deno-dir/dep_analysis_cache_v2",
    type: "file",
    size: 4096,
    mode: "644",
    owner: "0:0",
    mtime: 1,
    linkname: "",
    sha256: "aa",
  };
  const map = (...files: LayerFile[]) => new Map(files.map((f) => [f.path, f]));
  assert.deepEqual(diffLayerFiles(map(file), map({ ...file })), []);
  for (const change of [{ size: 28672 }, { sha256: "bb" }, { mtime: 2 }, { mode: "600" }]) {
    const diff = diffLayerFiles(map(file), map({ ...file, ...change }));
    assert.deepEqual(diff.map((d) => d.path), [file.path], JSON.stringify(change));
  }
  const only = diffLayerFiles(map(file), map());
  assert.equal(only[0].b, undefined, "only in the first build");
  assert.deepEqual(
    diffJson({ created: "a", config: { Labels: { x: "1" } } }, {
      created: "a",
      config: { Labels: { x: "2" } },
    }),
    ["config.Labels.x"],
  );
});

Deno.test("reproducible: SOURCE_DATE_EPOCH is used when it is a number, else 0", () => {
  assert.equal(buildEpoch("1796609368"), "1796609368");
  assert.equal(buildEpoch(undefined), "0");
  assert.equal(buildEpoch("yesterday"), "0");
});

Deno.test("reproducible: the build context is copied with every time set to the epoch", async () => {
  await using cleanup = new CleanupStack();
  const dir = await tempDir(cleanup, "swft-repro-test-");
  const root = `${dir}/src`;
  await Deno.mkdir(`${root}/routes/api`, { recursive: true });
  await Deno.writeTextFile(`${root}/main.ts`, "serve()");
  await Deno.writeTextFile(`${root}/routes/api/time.ts`, "time()");
  await Deno.writeTextFile(`${root}/.env`, "SECRET=1");
  await Deno.writeTextFile(`${root}/.dockerignore`, ".env\n");
  const copy = await epochContext(root, `${dir}/copy/deeper`, 1_796_609_368);
  const times = [];
  for (const path of ["main.ts", "routes/api/time.ts", "routes/api", "routes", ""]) {
    times.push((await Deno.stat(`${copy}/${path}`)).mtime!.getTime() / 1000);
  }
  assert.deepEqual(times, [
    1_796_609_368,
    1_796_609_368,
    1_796_609_368,
    1_796_609_368,
    1_796_609_368,
  ]);
  await assert.rejects(Deno.stat(`${copy}/.env`), Deno.errors.NotFound, ".dockerignore holds");
});
