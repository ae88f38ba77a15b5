/**
 * The docker CLI as a function: verify talks to the engine only through `docker` so
 * contexts, DOCKER_HOST and Podman's docker alias all work. JSON formats only.
 */

/** Output and timing of one docker invocation. */
export interface DockerResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Options for {@linkcode docker}. */
export interface DockerOptions {
  /** Called with every output line (stdout and stderr) as it arrives. */
  onLine?: (line: string) => void;
  env?: Record<string, string>;
}

const running = new Set<Deno.ChildProcess>();

/** Sends SIGTERM to every docker process still running (used by the signal handlers). */
export function killRunning(): void {
  for (const child of running) {
    try {
      child.kill("SIGTERM");
    } catch {
      // already exited
    }
  }
}

async function collect(
  stream: ReadableStream<Uint8Array>,
  onLine?: (line: string) => void,
): Promise<string> {
  let all = "";
  let pending = "";
  const decoder = new TextDecoder();
  for await (const chunk of stream) {
    const text = decoder.decode(chunk, { stream: true });
    all += text;
    if (onLine) {
      pending += text;
      const lines = pending.split(/\r?\n/);
      pending = lines.pop() ?? "";
      for (const line of lines) onLine(line);
    }
  }
  if (onLine && pending) onLine(pending);
  return all;
}

/**
 * Runs `docker ...args` and returns its output; never throws for a non-zero exit.
 *
 * @example const { stdout } = await docker(["version", "--format", "{{json .}}"])
 */
export async function docker(args: string[], options: DockerOptions = {}): Promise<DockerResult> {
  const started = performance.now();
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("docker", {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: options.env,
    }).spawn();
  } catch (error) {
    return {
      code: 127,
      stdout: "",
      stderr: `Cannot run docker: ${(error as Error).message}`,
      ms: 0,
    };
  }
  running.add(child);
  try {
    const [stdout, stderr, status] = await Promise.all([
      collect(child.stdout, options.onLine),
      collect(child.stderr, options.onLine),
      child.status,
    ]);
    return { code: status.code, stdout, stderr, ms: performance.now() - started };
  } finally {
    running.delete(child);
  }
}

/** Runs docker and parses its stdout as JSON; throws with docker's message on failure. */
export async function dockerJson<T>(args: string[]): Promise<T> {
  const result = await docker(args);
  if (result.code !== 0) {
    throw new Error(lastLines(result.stderr || result.stdout, 3) || `docker ${args[0]} failed`);
  }
  return JSON.parse(result.stdout) as T;
}

/** The last `n` non-empty lines of some output, joined with " | " (for details). */
export function lastLines(text: string, n: number): string {
  return text.split(/\r?\n/).map((l) => l.trim())
    .filter((l) => l && !NOISE.test(l))
    .slice(-n).join(" | ");
}

// The legacy builder's deprecation banner says nothing about the failure
const NOISE =
  /^(DEPRECATED: The legacy builder|Install the buildx component|https:\/\/docs\.docker\.com\/go\/buildx)/;

/** The fields of `docker image inspect` that verify reads. */
export interface ImageInfo {
  Id: string;
  Size: number;
  RootFS?: { Layers?: string[] };
  Config?: {
    User?: string;
    ExposedPorts?: Record<string, unknown>;
    Healthcheck?: { Test?: string[] };
    Labels?: Record<string, string> | null;
  };
}

/** `docker image inspect` of one image. */
export function inspectImage(ref: string): Promise<ImageInfo> {
  return dockerJson<ImageInfo>(["image", "inspect", "--format", "{{json .}}", ref]);
}

/** The fields of `docker container inspect` that verify reads. */
export interface ContainerInfo {
  Id: string;
  State: {
    Status: string;
    Running: boolean;
    ExitCode: number;
    OOMKilled?: boolean;
    Health?: { Status: string; Log?: { ExitCode: number; Output: string }[] };
  };
  NetworkSettings: { Ports?: Record<string, { HostIp: string; HostPort: string }[] | null> };
}

/** `docker container inspect` of one container. */
export function inspectContainer(name: string): Promise<ContainerInfo> {
  return dockerJson<ContainerInfo>(["container", "inspect", "--format", "{{json .}}", name]);
}
