/**
 * The podman round of tests/kubernetes_test.ts: the rendered Deployment run by
 * `podman kube play` (Debian 12's podman 4.3.1) from the image built here.
 *
 * podman is the closest thing to a kubelet this machine can run. It honours runAsUser,
 * readOnlyRootFilesystem, allowPrivilegeEscalation, capabilities and resource limits; it ignores
 * runAsNonRoot, seccompProfile (it applies its own default profile), readiness and startup
 * probes and Services, and turns an httpGet liveness probe into a `curl` healthcheck, which a
 * shell-less image cannot run: the liveness probe is removed for this run only.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { KubeObject } from "./_kubernetes.ts";
import { BASES, testName } from "./_container.ts";
import {
  baseImageArgs,
  CleanupStack,
  dockerBuildArgs,
  dockerOk,
  freePort,
  poll,
  ROOT,
  run,
  runOk,
  sizeInBytes,
  spawn,
  succeeds,
  tempDir,
} from "../tasks/_lib/mod.ts";

const NAME = testName("k8s");
const IMAGE = `${NAME}:latest`;
const PAUSE_IMAGE = "localhost/podman-pause:4.3.1-0";

// Debian's podman on this host's hybrid cgroups: crun fails to start containers, and the
// default ulimits are above what an unprivileged runtime may set. A temp file, not /etc.
const CONTAINERS_CONF = `[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]

[engine]
runtime = "runc"
`;

/** Why the podman round cannot run here, with the commands that fix it; undefined when it can. */
export async function podmanSkipReason(): Promise<string | undefined> {
  const missing = [];
  if (!await succeeds("podman", ["--version"])) missing.push("podman");
  if (!await succeeds("runc", ["--version"])) missing.push("runc");
  // podman 4.3 builds its pause image around catatonit (a Recommends of Debian's podman).
  if (!await succeeds("catatonit", ["--version"])) missing.push("catatonit");
  if (missing.length) {
    return `${missing.join(", ")} not found; apt-get install ${missing.join(" ")}, then: ` +
      "deno test --allow-all tests/kubernetes_test.ts";
  }
  // The image is built from the container tests' bases, by their one rule.
  return BASES.ignore;
}

/** A port for the pod on 127.0.0.1: SWFT_TEST_PODMAN_PORT, or one the system finds free. */
function hostPort(): number {
  const chosen = Deno.env.get("SWFT_TEST_PODMAN_PORT");
  return chosen ? Number(chosen) : freePort();
}

/** The Deployment and its ConfigMap as podman gets them: renamed, local image, one replica. */
export function podmanManifest(
  objects: KubeObject[],
  options: { image: string; port: number; message: string },
): KubeObject[] {
  const deployment = structuredClone(objects.find((object) => object.kind === "Deployment")!);
  const config = structuredClone(objects.find((object) => object.kind === "ConfigMap")!);
  deployment.metadata.name = NAME;
  deployment.spec.replicas = 1;
  config.metadata.name = `${NAME}-config`;
  config.data.CUSTOM_MESSAGE = options.message;
  const container = deployment.spec.template.spec.containers[0];
  container.image = options.image;
  container.imagePullPolicy = "Never";
  container.envFrom = [{ configMapRef: { name: config.metadata.name } }];
  // podman runs an httpGet liveness probe as `curl`, which the image does not have.
  delete container.livenessProbe;
  // podman restarts an exited container of a Deployment (Always); the kubelet does not restart
  // a deleted pod's, so Never matches a drain and lets the test read the exit code.
  deployment.spec.template.spec.restartPolicy = "Never";
  container.ports = [{ ...container.ports[0], hostPort: options.port, hostIP: "127.0.0.1" }];
  return [config, deployment];
}

/** A GET that gives up after 5 s, so a stuck pod fails the test instead of hanging it. */
function get(url: string): Promise<Response> {
  return fetch(url, { signal: AbortSignal.timeout(5000) });
}

/** The first answer of `url` with `status`, polled for up to 30 s. */
async function waitFor(url: string, status: number): Promise<Response> {
  let last = "no answer";
  const response = await poll(async () => {
    try {
      const response = await get(url);
      if (response.status === status) return response;
      last = `HTTP ${response.status}`;
      await response.body?.cancel();
    } catch (error) {
      last = (error as Error).message;
    }
  }, { timeoutMs: 30_000, intervalMs: 200 });
  if (!response) throw new Error(`Cannot see ${url} answer ${status} within 30 s: ${last}`);
  return response;
}

function statusField(status: string, field: string): string {
  const line = status.split("\n").find((entry) => entry.startsWith(`${field}:`));
  assert.ok(line, `/proc status has ${field}`);
  return line.slice(field.length + 1).trim();
}

/** What the phases of a round share. */
interface Round {
  /** Removes what the round created, newest first. */
  cleanup: CleanupStack;
  /** The round's temp folder: containers.conf and the manifest. */
  dir: string;
  /** The environment podman runs with (the temp containers.conf). */
  env: Record<string, string>;
  /** One entry per phase: `NAME N.N s`. */
  timings: string[];
}

/** The pod as played: what the checks after `kube play` read. */
interface Played {
  /** The manifest file given to podman. */
  file: string;
  /** The objects in it: the ConfigMap, then the Deployment. */
  manifest: KubeObject[];
  /** The app container's id. */
  containerId: string;
  /** `http://127.0.0.1:PORT`, the published port. */
  base: string;
  /** The CUSTOM_MESSAGE the ConfigMap sets. */
  message: string;
  /** The first 200 of /health. */
  health: Response;
}

function podman(r: Round, ...args: string[]): Promise<string> {
  return runOk("podman", args, { env: r.env });
}

/** Runs one phase of the round and records its time under `label`. */
async function timed<T>(r: Round, label: string, phase: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const value = await phase();
  r.timings.push(`${label} ${seconds(started)}`);
  return value;
}

function seconds(from: number): string {
  return `${((performance.now() - from) / 1000).toFixed(1)} s`;
}

/** The temp folder and containers.conf; the pause image podman builds is removed last. */
async function setUp(cleanup: CleanupStack, timings: string[]): Promise<Round> {
  const dir = await tempDir(cleanup, `${NAME}-`);
  const r: Round = { cleanup, dir, env: { CONTAINERS_CONF: `${dir}/containers.conf` }, timings };
  await Deno.writeTextFile(r.env.CONTAINERS_CONF, CONTAINERS_CONF);
  // The pause image podman builds for the pod, unless it was here before (or is in use).
  if ((await run("podman", ["image", "exists", PAUSE_IMAGE], { env: r.env })).code !== 0) {
    cleanup.defer(async () => void await run("podman", ["rmi", PAUSE_IMAGE], { env: r.env }));
  }
  return r;
}

/** `docker build` of runtime-deno from the container tests' bases, by their one rule. */
async function buildImage(r: Round): Promise<void> {
  r.cleanup.defer(async () => void await run("docker", ["rmi", "--force", IMAGE]));
  const build = { context: ROOT, target: "runtime-deno", tag: IMAGE, quiet: true };
  await dockerOk(dockerBuildArgs({ ...build, buildArgs: baseImageArgs(BASES.images!) }), {
    env: { DOCKER_BUILDKIT: "0" },
  });
}

/**
 * `docker save | podman load`: podman reads no docker images. Resolves to the name podman gave
 * it (`localhost/NAME` from the legacy image store, `docker.io/library/NAME` from containerd's).
 */
async function loadIntoPodman(r: Round): Promise<string> {
  const save = spawn("docker", { args: ["save", IMAGE], stderr: "inherit" });
  const load = spawn("podman", { args: ["load"], env: r.env, stdin: "piped" });
  await save.stdout.pipeTo(load.stdin);
  const [saved, loaded] = await Promise.all([save.status, load.output()]);
  const said = new TextDecoder().decode(loaded.stdout);
  const name = said.match(/^Loaded image(?:\(s\))?: (\S+)$/m)?.[1];
  if (name) {
    r.cleanup.defer(async () => void await run("podman", ["rmi", "--force", name], { env: r.env }));
  }
  assert.ok(saved.success, "docker save succeeds");
  assert.ok(loaded.success, `podman load succeeds: ${new TextDecoder().decode(loaded.stderr)}`);
  assert.ok(name?.endsWith(`/${IMAGE}`), `podman load names the image: ${said}`);
  return name!;
}

/** The manifest played on a network of its own, up to the first 200 of /health. */
async function play(r: Round, objects: KubeObject[], image: string): Promise<Played> {
  const port = hostPort();
  const message = `Played by podman ${NAME}`;
  const manifest = podmanManifest(objects, { image, port, message });
  const file = `${r.dir}/manifest.json`;
  // YAML is a superset of JSON: podman reads the documents as a YAML stream.
  await Deno.writeTextFile(file, manifest.map((object) => JSON.stringify(object)).join("\n---\n"));
  await podman(r, "network", "create", NAME);
  r.cleanup.defer(async () => {
    await run("podman", ["network", "rm", "--force", NAME], { env: r.env });
  });
  r.cleanup.defer(async () => void await run("podman", ["kube", "down", file], { env: r.env }));
  const played = await podman(r, "kube", "play", "--network", NAME, file);
  const base = `http://127.0.0.1:${port}`;
  const health = await waitFor(`${base}/health`, 200);
  return { file, manifest, containerId: played.split("\n").at(-1)!, base, message, health };
}

/** What podman honours of the security context, read from the running process. */
async function checkHardening(r: Round, pod: Played): Promise<void> {
  const [inspected] = JSON.parse(await podman(r, "container", "inspect", pod.containerId));
  assert.equal(inspected.HostConfig.ReadonlyRootfs, true, "read-only root file system");
  const limits = pod.manifest[1].spec.template.spec.containers[0].resources.limits;
  const memory = sizeInBytes(limits.memory);
  assert.ok(memory, `memory limit ${limits.memory} is a quantity`);
  assert.equal(inspected.HostConfig.Memory, memory, "memory limit");
  // The server sizes MAX_CONNECTIONS from it (on a cgroup v1 node too: the v1 mount's own limit).
  const listening = (await podman(r, "logs", pod.containerId)).split("\n")
    .find((line) => line.includes('"msg":"listening"'));
  assert.match(
    listening ?? "no start-up line",
    new RegExp(`"maxConnectionsFrom":"memory limit ${memory! / 2 ** 20} MiB`),
  );
  const pid = inspected.State.Pid;
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  assert.deepEqual(statusField(status, "Uid").split(/\s+/), Array(4).fill("65532"), "uid 65532");
  assert.deepEqual(statusField(status, "Gid").split(/\s+/), Array(4).fill("65532"), "gid 65532");
  for (const set of ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"]) {
    assert.equal(statusField(status, set), "0000000000000000", `${set}: no capabilities`);
  }
  assert.equal(statusField(status, "NoNewPrivs"), "1", "no privilege escalation");
  // A seccomp filter is on: podman's default profile (it ignores seccompProfile itself).
  assert.equal(statusField(status, "Seccomp"), "2", "seccomp filter mode");
  const root = (await Deno.readTextFile(`/proc/${pid}/mountinfo`)).split("\n")
    .map((line) => line.split(" ")).find((fields) => fields[4] === "/");
  assert.ok(root, "the container has a root mount");
  assert.ok(root[5].split(",").includes("ro"), `root mounted read-only, got ${root[5]}`);
}

/** The endpoints the probes and users rely on, on the published port. */
async function checkEndpoints(pod: Played): Promise<void> {
  assert.equal(pod.health.headers.get("content-type"), "application/json");
  assert.deepEqual(await pod.health.json(), { status: "ok" });
  const ready = await get(`${pod.base}/ready`);
  await ready.body?.cancel();
  assert.equal(ready.status, 200, "/ready answers 200 while serving");
  const page = await get(`${pod.base}/`);
  assert.equal(page.status, 200);
  assert.ok(
    (await page.text()).includes(pod.message),
    "the ConfigMap's CUSTOM_MESSAGE reaches the page",
  );
}

/**
 * The drain: on SIGTERM /ready turns 503 while the server still answers for
 * SHUTDOWN_DELAY_MS, then it exits cleanly within the grace period.
 */
async function checkDrain(r: Round, pod: Played): Promise<void> {
  await podman(r, "kill", "--signal", "TERM", pod.containerId);
  await (await waitFor(`${pod.base}/ready`, 503)).body?.cancel();
  const during = await get(`${pod.base}/health`);
  await during.body?.cancel();
  assert.equal(during.status, 200, "still serving during SHUTDOWN_DELAY_MS");
  const state = await poll(async () => {
    const inspect = ["container", "inspect", "--format", "{{json .State}}", pod.containerId];
    const state = JSON.parse(await podman(r, ...inspect));
    return state.Status === "exited" || state.Status === "stopped" ? state : undefined;
  }, { timeoutMs: 60_000, intervalMs: 200 });
  assert.ok(state, `container ${pod.containerId} exits within 60 s of SIGTERM`);
  assert.equal(state.ExitCode, 0, "exits 0 after the drain");
}

/** `kube down` removes the pod. */
async function takeDown(r: Round, pod: Played): Promise<void> {
  await podman(r, "kube", "down", pod.file);
  const left = await run("podman", ["pod", "exists", `${NAME}-pod-0`], { env: r.env });
  assert.equal(left.code, 1, "kube down removes the pod");
}

/**
 * Build the runtime-deno image, hand it to podman, play the manifest, check what podman can
 * show, then take everything down. Throws on the first failed check; cleans up either way.
 */
export async function podmanRound(objects: KubeObject[]): Promise<void> {
  const started = performance.now();
  const timings: string[] = [];
  const cleanup = new CleanupStack();
  try {
    const r = await setUp(cleanup, timings);
    await timed(r, "build", () => buildImage(r));
    const image = await timed(r, "docker save | podman load", () => loadIntoPodman(r));
    const pod = await timed(r, "kube play to /health", () => play(r, objects, image));
    await checkHardening(r, pod);
    await checkEndpoints(pod);
    await timed(r, "SIGTERM to exit", () => checkDrain(r, pod));
    await timed(r, "kube down", () => takeDown(r, pod));
  } finally {
    await cleanup.disposeAsync();
    console.log(`podman round: ${timings.join(", ")}; total ${seconds(started)}`);
  }
}
