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
import { fetchText, poll } from "../_lib/mod.ts";

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
    child = new Deno.Command(registryCommand(), {
      args: ["serve", config],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
  } catch (error) {
    await Deno.remove(dir, { recursive: true });
    throw new Error(
      `Cannot start the local registry (${registryCommand()}): ${(error as Error).message}; ` +
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
    if (!exited) child.kill("SIGTERM");
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
