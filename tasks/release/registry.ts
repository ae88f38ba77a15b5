/**
 * A throw-away local registry for trying a release where no registry is reachable: Debian's
 * `docker-registry` (distribution 2.8) as a plain process, storage in a temporary folder,
 * listening on 127.0.0.1 only. Docker pushes to 127.0.0.0/8 over plain HTTP without any
 * daemon setting.
 *
 * @example
 * ```ts
 * const registry = await startRegistry(18450);
 * // docker push 127.0.0.1:18450/swft:1.0.0
 * await registry.stop();
 * ```
 *
 * @module
 */
import { docker, fetchText, lastLines, poll, spawn, stopChild } from "../_lib/mod.ts";

/** A running local registry. */
export interface LocalRegistry {
  /** `127.0.0.1:PORT`, the registry part of image references. */
  address: string;
  /** Stops the process and removes its storage. */
  stop(): Promise<void>;
}

/** How to run the registry: `$DOCKER_REGISTRY`, or `docker-registry` on PATH. */
export function registryCommand(): string {
  return Deno.env.get("DOCKER_REGISTRY") || "docker-registry";
}

/**
 * Starts `docker-registry serve` on 127.0.0.1:`port` and waits until `/v2/` answers;
 * throws one line when it cannot start (not installed, port taken).
 */
export async function startRegistry(port: number): Promise<LocalRegistry> {
  const dir = await Deno.makeTempDir({ prefix: "swft-registry-" });
  const address = `127.0.0.1:${port}`;
  const config = `${dir}/config.yml`;
  await Deno.writeTextFile(
    config,
    [
      "version: 0.1",
      "log:",
      "  level: error",
      "storage:",
      "  filesystem:",
      `    rootdirectory: ${dir}/data`,
      "  delete:",
      "    enabled: true",
      "http:",
      `  addr: ${address}`,
      "",
    ].join("\n"),
  );
  let child: Deno.ChildProcess;
  try {
    child = spawn(registryCommand(), { args: ["serve", config], stdout: "null" });
  } catch (error) {
    await Deno.remove(dir, { recursive: true });
    throw new Error(
      `Cannot start the local registry: ${(error as Error).message}; ` +
        "install Debian's docker-registry package",
    );
  }
  const stderr = new Response(child.stderr).text();
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const stop = async () => {
    await stopChild(child);
    await status;
    await stderr;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  const up = await poll(async () => {
    if (exited) return false;
    try {
      return (await fetchText(`http://${address}/v2/`, 1000)).status === 200 || undefined;
    } catch {
      return undefined;
    }
  }, { timeoutMs: 10_000, intervalMs: 50 });
  if (!up) {
    await stop();
    const said = (await stderr).trim().split("\n").pop() ?? "";
    throw new Error(`The local registry did not start on ${address}${said ? `: ${said}` : ""}`);
  }
  return { address, stop };
}

/** A manifest or index as `docker manifest inspect` prints it (the parts read here). */
interface Manifest {
  config?: { digest: string };
  manifests?: { digest: string; platform?: { os?: string; architecture?: string } }[];
}

/**
 * The config digest of the image `ref` (`REPO@sha256:...`) names in its registry: the image id
 * Docker gives it. For an index (a multi-platform image), the manifest of `platform` (default:
 * the engine's linux/amd64 or linux/arm64). Throws one line when the registry cannot say.
 */
export async function configDigest(
  ref: string,
  options: { loopback: boolean; architecture?: string },
): Promise<string> {
  const inspect = async (target: string): Promise<Manifest> => {
    const args = ["manifest", "inspect", ...(options.loopback ? ["--insecure"] : []), target];
    const result = await docker(args);
    if (result.code !== 0) {
      throw new Error(
        `Cannot read the manifest of ${target}: ${lastLines(result.stderr || result.stdout, 1)}`,
      );
    }
    return JSON.parse(result.stdout) as Manifest;
  };
  const manifest = await inspect(ref);
  if (manifest.config?.digest) return manifest.config.digest;
  const architecture = options.architecture ?? (Deno.build.arch === "aarch64" ? "arm64" : "amd64");
  const entry = manifest.manifests?.find((m) =>
    m.platform?.os === "linux" && m.platform.architecture === architecture
  );
  if (!entry) throw new Error(`Cannot read ${ref}: its index has no linux/${architecture} image`);
  const platform = await inspect(`${ref.split("@")[0]}@${entry.digest}`);
  if (!platform.config?.digest) throw new Error(`Cannot read ${ref}: no config digest`);
  return platform.config.digest;
}
