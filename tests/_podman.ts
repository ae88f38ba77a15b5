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
import { BASES, buildArgFlags } from "./_container.ts";
import { run as runProgram, succeeds } from "../tasks/_lib/mod.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const RUN_ID = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const NAME = `swft-k8s-test-${RUN_ID}`;
const IMAGE = `${NAME}:latest`;
const PAUSE_IMAGE = "localhost/podman-pause";

// Debian's podman on this host's hybrid cgroups: crun fails to start containers, and the
// default ulimits are above what an unprivileged runtime may set. A temp file, not /etc.
const CONTAINERS_CONF = `[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]

[engine]
runtime = "runc"
`;

/** Clean-up commands not yet run, newest first; run synchronously if the process unloads. */
const pending: [string, string[], Record<string, string>][] = [];

globalThis.addEventListener("unload", () => {
  for (const [command, args, env] of pending.splice(0)) {
    new Deno.Command(command, { args, env, stdout: "null", stderr: "null" }).outputSync();
  }
});

function undo(command: string, args: string[], env: Record<string, string> = {}): void {
  pending.unshift([command, args, env]);
}

async function undoAll(): Promise<void> {
  for (const [command, args, env] of pending.splice(0)) {
    await run(command, args, env).catch(() => undefined);
  }
}

/** The kernel's `run` with only an environment to add (the temp containers.conf). */
function run(command: string, args: string[], env: Record<string, string> = {}) {
  return runProgram(command, args, { env });
}

async function runOk(
  command: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<string> {
  const result = await run(command, args, env);
  if (result.code !== 0) {
    throw new Error(
      `${command} ${args.slice(0, 2).join(" ")} failed: ${(result.stderr || result.stdout).trim()}`,
    );
  }
  return result.stdout.trim();
}

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
  if (chosen) return Number(chosen);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
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

async function waitFor(url: string, status: number, attempts = 150): Promise<Response> {
  let last = "no answer";
  for (let attempt = 0; attempt < attempts; attempt++) {
    try {
      const response = await get(url);
      if (response.status === status) return response;
      last = `HTTP ${response.status}`;
      await response.body?.cancel();
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${url} did not answer ${status} after ${attempts} attempts: ${last}`);
}

/** The container's state once it has exited; polls a bounded number of times. */
async function waitForExit(
  podman: (...args: string[]) => Promise<string>,
  container: string,
  attempts = 300,
): Promise<{ Status: string; ExitCode: number }> {
  for (let attempt = 0; attempt < attempts; attempt++) {
    const state = JSON.parse(
      await podman("container", "inspect", "--format", "{{json .State}}", container),
    );
    if (state.Status === "exited" || state.Status === "stopped") return state;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`Container ${container} did not exit after SIGTERM within ${attempts} polls`);
}

function statusField(status: string, field: string): string {
  const line = status.split("\n").find((entry) => entry.startsWith(`${field}:`));
  assert.ok(line, `/proc status has ${field}`);
  return line.slice(field.length + 1).trim();
}

function seconds(from: number): string {
  return `${((performance.now() - from) / 1000).toFixed(1)} s`;
}

/**
 * Build the runtime-deno image, hand it to podman, play the manifest, check what podman can
 * show, then take everything down. Throws on the first failed check; cleans up either way.
 */
export async function podmanRound(objects: KubeObject[]): Promise<void> {
  const started = performance.now();
  const timings: string[] = [];
  const dir = await Deno.makeTempDir({ prefix: `${NAME}-` });
  const env = { CONTAINERS_CONF: `${dir}/containers.conf` };
  await Deno.writeTextFile(env.CONTAINERS_CONF, CONTAINERS_CONF);
  const podman = (...args: string[]) => runOk("podman", args, env);
  undo("rm", ["-rf", dir]);
  const pauseBefore =
    (await run("podman", ["image", "exists", `${PAUSE_IMAGE}:4.3.1-0`], env)).code === 0;
  try {
    let phase = performance.now();
    await runOk("docker", [
      "build",
      "--quiet",
      "--target",
      "runtime-deno",
      ...buildArgFlags(BASES.images!),
      "--tag",
      IMAGE,
      ROOT,
    ], { DOCKER_BUILDKIT: "0" });
    undo("docker", ["rmi", "--force", IMAGE]);
    timings.push(`build ${seconds(phase)}`);

    phase = performance.now();
    const save = new Deno.Command("docker", {
      args: ["save", IMAGE],
      stdin: "null",
      stdout: "piped",
    })
      .spawn();
    const load = new Deno.Command("podman", {
      args: ["load"],
      env,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    undo("podman", ["rmi", "--force", `localhost/${IMAGE}`], env);
    await save.stdout.pipeTo(load.stdin);
    const [saved, loaded] = await Promise.all([save.status, load.output()]);
    assert.ok(saved.success, "docker save succeeds");
    assert.ok(loaded.success, `podman load succeeds: ${new TextDecoder().decode(loaded.stderr)}`);
    timings.push(`docker save | podman load ${seconds(phase)}`);

    const port = hostPort();
    const message = `Played by podman ${RUN_ID}`;
    const manifest = podmanManifest(objects, { image: `localhost/${IMAGE}`, port, message });
    const file = `${dir}/manifest.json`;
    // YAML is a superset of JSON: podman reads the documents as a YAML stream.
    await Deno.writeTextFile(
      file,
      manifest.map((object) => JSON.stringify(object)).join("\n---\n"),
    );

    phase = performance.now();
    await podman("network", "create", NAME);
    undo("podman", ["network", "rm", "--force", NAME], env);
    undo("podman", ["kube", "down", file], env);
    const played = await podman("kube", "play", "--network", NAME, file);
    const containerId = played.split("\n").at(-1)!;
    const base = `http://127.0.0.1:${port}`;
    const health = await waitFor(`${base}/health`, 200);
    timings.push(`kube play to /health ${seconds(phase)}`);

    // What podman honours of the security context, read from the running process.
    const [inspected] = JSON.parse(await podman("container", "inspect", containerId));
    assert.equal(inspected.HostConfig.ReadonlyRootfs, true, "read-only root file system");
    const limits = manifest[1].spec.template.spec.containers[0].resources.limits;
    assert.equal(inspected.HostConfig.Memory, parseQuantity(limits.memory), "memory limit");
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

    // The endpoints the probes and users rely on, on the published port.
    assert.equal(health.headers.get("content-type"), "application/json");
    assert.deepEqual(await health.json(), { status: "ok" });
    const ready = await get(`${base}/ready`);
    await ready.body?.cancel();
    assert.equal(ready.status, 200, "/ready answers 200 while serving");
    const page = await get(`${base}/`);
    assert.equal(page.status, 200);
    assert.ok(
      (await page.text()).includes(message),
      "the ConfigMap's CUSTOM_MESSAGE reaches the page",
    );

    // The drain: on SIGTERM /ready turns 503 while the server still answers for
    // SHUTDOWN_DELAY_MS, then it exits cleanly within the grace period.
    phase = performance.now();
    await podman("kill", "--signal", "TERM", containerId);
    await (await waitFor(`${base}/ready`, 503)).body?.cancel();
    const during = await get(`${base}/health`);
    await during.body?.cancel();
    assert.equal(during.status, 200, "still serving during SHUTDOWN_DELAY_MS");
    const state = await waitForExit(podman, containerId);
    assert.equal(state.ExitCode, 0, "exits 0 after the drain");
    timings.push(`SIGTERM to exit ${seconds(phase)}`);

    phase = performance.now();
    await podman("kube", "down", file);
    const left = await run("podman", ["pod", "exists", `${NAME}-pod-0`], env);
    assert.equal(left.code, 1, "kube down removes the pod");
    timings.push(`kube down ${seconds(phase)}`);
  } finally {
    await undoAll();
    // The pause image podman built for the pod, unless it was here before (or is in use).
    if (!pauseBefore) {
      await run("podman", ["rmi", `${PAUSE_IMAGE}:4.3.1-0`], env).catch(() => undefined);
    }
    console.log(`podman round: ${timings.join(", ")}; total ${seconds(started)}`);
  }
}

/** Bytes of a Kubernetes memory quantity such as 128Mi (the suffixes the manifests use). */
function parseQuantity(quantity: string): number {
  const match = /^(\d+)(Ki|Mi|Gi)?$/.exec(quantity);
  assert.ok(match, `memory quantity ${quantity}`);
  const units: Record<string, number> = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 };
  return Number(match[1]) * (units[match[2] ?? ""] ?? 1);
}
