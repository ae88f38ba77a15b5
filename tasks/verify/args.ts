/** Command-line flags of `deno task verify` (the flag names are a project contract). */
import { parseArgs } from "node:util";
import { parseSize } from "./units.ts";

/** The OCI annotations the runtime image must carry by default (`--require-label`). */
export const DEFAULT_LABELS = [
  "org.opencontainers.image.title",
  "org.opencontainers.image.version",
  "org.opencontainers.image.revision",
];

/** Everything a verify run needs to know, with defaults applied. */
export interface VerifyOptions {
  context: string;
  file: string;
  target: string;
  builderTarget: string;
  image: string;
  buildArgs: Record<string, string>;
  /** Container port; undefined = from the image's EXPOSE, else 80. */
  port?: number;
  json?: string;
  keep: boolean;
  expectText: string[];
  healthPath: string;
  timePath: string;
  staticPath: string;
  /** Size budgets in bytes keyed by target name. */
  sizeBudgets: Record<string, number>;
  memoryBudget: number;
  startTimeoutMs: number;
  stopTimeoutS: number;
  stopBudgetMs: number;
  touch?: string;
  skip: string[];
  noCache: boolean;
  requireDigest: boolean;
  /** Label keys the runtime image must carry with a value. */
  requireLabels: string[];
  httpHost: string;
  verbose: boolean;
}

/** Text of `--help`. */
export const HELP = `Usage: deno task verify [flags]

Builds a multi-stage Dockerfile and proves the result: lint, builds, cache reuse, sizes,
a file-system audit of every layer, a hardened container run, HTTP checks, resources and
a graceful stop. Exit code 0 only when every check passes (a skipped check is not a pass).

Contract flags:
  --context DIR           build context (default .)
  --file PATH             Dockerfile (default DIR/Dockerfile)
  --target NAME           runtime stage to verify (default runtime)
  --builder-target NAME   builder stage to compare sizes with (default builder)
  --image NAME            image repository for the tags NAME:<target> (default swft)
  --build-arg K=V         build argument, repeatable
  --port N                container port (default: the image's EXPOSE, else 80)
  --json PATH             write the machine-readable report to PATH
  --keep                  keep images and the container for inspection

Checks:
  --expect-text TEXT      text GET / must contain, repeatable (default "Hello World!")
  --health-path PATH      health endpoint (default /health)
  --time-path PATH        time endpoint (default /time)
  --static-path PATH      static file to fetch (default /static/style.css)
  --size-budget [T=]SIZE  fail when image T (default: --target) is larger, repeatable;
                          SIZE like 150MB, 1.2GB, 300MiB (default: none, but the runtime
                          image must be smaller than the builder image)
  --memory-budget SIZE    fail when the container uses more memory (default 256MB)
  --start-timeout SECS    wait this long for the first HTTP 200 and for "healthy" (default 30)
  --stop-timeout SECS     docker stop grace period before SIGKILL (default 10)
  --stop-budget SECS      fail when a graceful stop takes longer (default 5)
  --touch FILE            context file the rebuild-cache check changes (default: a source
                          file copied after the dependency manifests)
  --require-digest        base images must be pinned by digest, not only by tag
  --require-label KEY     label the runtime image must carry with a value, repeatable
                          (default org.opencontainers.image.title, .version, .revision;
                          --require-label none requires none)
  --skip ID               mark a check as skipped (the run then exits non-zero), repeatable
  --no-cache              build without Docker's cache (honest cold build times)
  --http-host HOST        host the published port is reached on (default 127.0.0.1)
  --verbose               stream docker build output
  -h, --help              show this help

Environment: NO_COLOR disables colour; DOCKER_HOST / docker contexts select the engine;
DOCKER_BUILDKIT=1 uses BuildKit when buildx is installed (both builders are supported).
`;

/** A mistake in the command line: print it with the help hint and exit 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

function positiveNumber(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) {
    throw new UsageError(`${flag} must be a positive number, got "${text}"`);
  }
  return value;
}

/**
 * Parses verify's flags. Returns `"help"` for `--help`; throws {@linkcode UsageError}.
 *
 * @example parseVerifyArgs(["--target", "runtime-deno", "--build-arg", "A=b"])
 */
export function parseVerifyArgs(argv: string[]): VerifyOptions | "help" {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: false,
      strict: true,
      options: {
        context: { type: "string", default: "." },
        file: { type: "string" },
        target: { type: "string", default: "runtime" },
        "builder-target": { type: "string", default: "builder" },
        image: { type: "string", default: "swft" },
        "build-arg": { type: "string", multiple: true, default: [] },
        port: { type: "string" },
        json: { type: "string" },
        keep: { type: "boolean", default: false },
        "expect-text": { type: "string", multiple: true },
        "health-path": { type: "string", default: "/health" },
        "time-path": { type: "string", default: "/time" },
        "static-path": { type: "string", default: "/static/style.css" },
        "size-budget": { type: "string", multiple: true, default: [] },
        "memory-budget": { type: "string", default: "256MB" },
        "start-timeout": { type: "string" },
        "stop-timeout": { type: "string" },
        "stop-budget": { type: "string" },
        touch: { type: "string" },
        "require-digest": { type: "boolean", default: false },
        "require-label": { type: "string", multiple: true },
        skip: { type: "string", multiple: true, default: [] },
        "no-cache": { type: "boolean", default: false },
        "http-host": { type: "string", default: "127.0.0.1" },
        verbose: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const v = parsed.values;
  if (v.help) return "help";

  const buildArgs: Record<string, string> = {};
  for (const pair of v["build-arg"]) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new UsageError(`--build-arg must be K=V, got "${pair}"`);
    buildArgs[pair.slice(0, eq)] = pair.slice(eq + 1);
  }

  let port: number | undefined;
  if (v.port !== undefined) {
    port = Number(v.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new UsageError(`--port must be an integer from 1 to 65535, got "${v.port}"`);
    }
  }

  const sizeBudgets: Record<string, number> = {};
  for (const spec of v["size-budget"]) {
    const eq = spec.indexOf("=");
    const target = eq > 0 ? spec.slice(0, eq) : v.target;
    try {
      sizeBudgets[target] = parseSize(eq > 0 ? spec.slice(eq + 1) : spec);
    } catch (error) {
      throw new UsageError(`--size-budget: ${(error as Error).message}`);
    }
  }
  let memoryBudget: number;
  try {
    memoryBudget = parseSize(v["memory-budget"]);
  } catch (error) {
    throw new UsageError(`--memory-budget: ${(error as Error).message}`);
  }

  for (const path of [v["health-path"], v["time-path"], v["static-path"]]) {
    if (!path.startsWith("/")) {
      throw new UsageError(`HTTP paths must start with "/", got "${path}"`);
    }
  }
  const context = v.context;
  return {
    context,
    file: v.file ?? `${context.replace(/\/+$/, "") || "/"}/Dockerfile`,
    target: v.target,
    builderTarget: v["builder-target"],
    image: v.image,
    buildArgs,
    port,
    json: v.json,
    keep: v.keep,
    expectText: v["expect-text"] ?? ["Hello World!"],
    healthPath: v["health-path"],
    timePath: v["time-path"],
    staticPath: v["static-path"],
    sizeBudgets,
    memoryBudget,
    startTimeoutMs: positiveNumber("--start-timeout", v["start-timeout"], 30) * 1000,
    stopTimeoutS: Math.ceil(positiveNumber("--stop-timeout", v["stop-timeout"], 10)),
    stopBudgetMs: positiveNumber("--stop-budget", v["stop-budget"], 5) * 1000,
    touch: v.touch,
    skip: v.skip.flatMap((s) => s.split(",")).map((s) => s.trim()).filter(Boolean),
    noCache: v["no-cache"],
    requireDigest: v["require-digest"],
    requireLabels: (v["require-label"] ?? DEFAULT_LABELS).filter((key) => key !== "none"),
    httpHost: v["http-host"],
    verbose: v.verbose,
  };
}
