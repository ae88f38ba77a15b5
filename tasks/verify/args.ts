/** Command-line flags of `deno task verify` (the flag names are a project contract). */
import {
  type FlagOptions,
  type ParsedFlags,
  parseFlags,
  parseSize,
  ROOT,
  UsageError,
} from "../_lib/mod.ts";
import { defaultBuilderTarget } from "./dockerfile.ts";

/** The OCI annotations the runtime image must carry by default (`--require-label`). */
export const DEFAULT_LABELS = [
  "org.opencontainers.image.title",
  "org.opencontainers.image.version",
  "org.opencontainers.image.revision",
];

/** Everything a verify run needs to know, with defaults applied. */
export interface VerifyOptions {
  /** Build context folder. */
  context: string;
  /** The Dockerfile. */
  file: string;
  /** The runtime stage to verify. */
  target: string;
  /** The stage the runtime is compared with (size) and built after. */
  builderTarget: string;
  /** Image repository; the run's tags are `IMAGE:verify-<run>-<target>`. */
  image: string;
  /** `--build-arg` pairs. */
  buildArgs: Record<string, string>;
  /** The app's expectations file (probes, port, startup log). */
  config: string;
  /** Container port; undefined = the config's, else the image's EXPOSE, else 80. */
  port?: number;
  /** Where to write the JSON report. */
  json?: string;
  /** Keep the run's images and container. */
  keep: boolean;
  /** Size budgets in bytes keyed by target name. */
  sizeBudgets: Record<string, number>;
  /** Memory budget of the running container in bytes. */
  memoryBudget: number;
  /** How long to wait for the first answer and for "healthy". */
  startTimeoutMs: number;
  /** `docker stop -t` grace period. */
  stopTimeoutS: number;
  /** Longest acceptable graceful stop. */
  stopBudgetMs: number;
  /** Context file the rebuild-cache check changes. */
  touch?: string;
  /** Check ids to mark as skipped. */
  skip: string[];
  /** Build without Docker's cache. */
  noCache: boolean;
  /** Base images must be pinned by digest. */
  requireDigest: boolean;
  /** Label keys the runtime image must carry with a value. */
  requireLabels: string[];
  /** Host the published port is reached on. */
  httpHost: string;
  /** Stream docker build output. */
  verbose: boolean;
  /** An image built before: checked as it is, not built (the build checks do not run). */
  from?: string;
}

/** Text of `--help`. */
export const HELP = `Usage: deno task verify [flags]

Builds a multi-stage Dockerfile and proves the result: lint, builds, cache reuse, sizes,
a file-system audit of every layer, a hardened container run, the app's HTTP probes,
resources and a graceful stop. Exit code 0 only when every check passes (a skipped check
is not a pass). Progress goes to stderr, the summary to stdout.

Contract flags:
  --context DIR           build context (default .)
  --file PATH             Dockerfile (default DIR/Dockerfile)
  --target NAME           runtime stage to verify (default runtime)
  --builder-target NAME   builder stage to compare sizes with (default: the last stage the
                          target copies files from, else builder)
  --image NAME            image repository (default swft); the run builds under tags unique
                          to it, IMAGE:verify-<run>-<target>, and removes only those: an
                          existing IMAGE:TARGET is never touched
  --build-arg K=V         build argument, repeatable
  --port N                container port (default: the config's, else EXPOSE, else 80)
  --json PATH             write the machine-readable report to PATH
  --keep                  keep the run's images (IMAGE:verify-<run>-<target>, printed at the
                          end and in the report's images.*.ref) and its container
  --config FILE           what the app must answer: port, startup log line, HTTP probes and
                          security-header paths (default: this project's verify.config.json)
  --from IMAGE            check IMAGE (a tag or REPO@sha256:..., pulled when absent) as it is,
                          without building: build-builder, build-runtime, rebuild-cache,
                          reproducible and image-size are reported as skip, "not run"

Checks:
  --size-budget [T=]SIZE  fail when image T (default: --target) is larger, repeatable;
                          SIZE like 150MB, 1.2GB, 300MiB (default: none, but the runtime
                          image must be smaller than the builder image)
  --memory-budget SIZE    fail when the container uses more memory (default 256MB)
  --start-timeout SECS    wait this long for the first answer and for "healthy" (default 30)
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
DOCKER_BUILDKIT=1 uses BuildKit when buildx is installed (both builders are supported; the
reproducible check needs BuildKit); SOURCE_DATE_EPOCH is the reproducible check's time (default 0).
`;

function positiveNumber(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) {
    throw new UsageError(`${flag} must be a positive number, got "${text}"`);
  }
  return value;
}

function size(flag: string, text: string): number {
  try {
    return parseSize(text);
  } catch (error) {
    throw new UsageError(`${flag}: ${(error as Error).message}`);
  }
}

/** verify's flags, as `parseFlags` takes them. */
const VERIFY_FLAGS = {
  context: { type: "string", default: "." },
  file: { type: "string" },
  target: { type: "string", default: "runtime" },
  "builder-target": { type: "string" },
  image: { type: "string", default: "swft" },
  "build-arg": { type: "string", multiple: true, default: [] },
  config: { type: "string", default: `${ROOT}/verify.config.json` },
  port: { type: "string" },
  json: { type: "string" },
  keep: { type: "boolean", default: false },
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
  from: { type: "string" },
} as const satisfies FlagOptions;

/** verify's flags, parsed. */
type VerifyFlags = ParsedFlags<typeof VERIFY_FLAGS>["values"];

/**
 * Parses verify's flags. Returns `"help"` for `--help`; throws `UsageError`.
 *
 * @example
 * ```ts
 * parseVerifyArgs(["--target", "runtime-deno", "--build-arg", "A=b"]);
 * ```
 */
export function parseVerifyArgs(argv: string[]): VerifyOptions | "help" {
  const { values: v } = parseFlags(argv, VERIFY_FLAGS);
  if (v.help) return "help";
  const buildArgs = buildArgsOf(v["build-arg"]);
  const port = portOf(v.port);
  if (!/^[a-z0-9][a-z0-9._\/-]*$/.test(v.image)) {
    throw new UsageError(`--image must be a lower-case repository name, got "${v.image}"`);
  }
  const sizeBudgets = sizeBudgetsOf(v["size-budget"], v.target);
  checkFrom(v);
  const context = v.context;
  const file = v.file ?? `${context.replace(/\/+$/, "") || "/"}/Dockerfile`;
  return {
    context,
    file,
    target: v.target,
    builderTarget: v["builder-target"] ?? defaultBuilderTarget(file, v.target),
    image: v.image,
    buildArgs,
    config: v.config,
    port,
    json: v.json,
    keep: v.keep,
    sizeBudgets,
    memoryBudget: size("--memory-budget", v["memory-budget"]),
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
    from: v.from,
  };
}

function buildArgsOf(pairs: readonly string[]): Record<string, string> {
  const buildArgs: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new UsageError(`--build-arg must be K=V, got "${pair}"`);
    buildArgs[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return buildArgs;
}

function portOf(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const port = Number(text);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new UsageError(`--port must be an integer from 1 to 65535, got "${text}"`);
  }
  return port;
}

/** `--size-budget [TARGET=]SIZE`, by target (`target` when none is named). */
function sizeBudgetsOf(specs: readonly string[], target: string): Record<string, number> {
  const sizeBudgets: Record<string, number> = {};
  for (const spec of specs) {
    const eq = spec.indexOf("=");
    sizeBudgets[eq > 0 ? spec.slice(0, eq) : target] = size(
      "--size-budget",
      eq > 0 ? spec.slice(eq + 1) : spec,
    );
  }
  return sizeBudgets;
}

function checkFrom(v: VerifyFlags): void {
  if (v.from === undefined) return;
  if (!/^[\w][\w.\/:@-]*$/.test(v.from)) {
    throw new UsageError(`--from must be an image reference, got "${v.from}"`);
  }
  if (v["no-cache"] || v.touch) {
    throw new UsageError(
      "--from checks an image without building it: --no-cache and --touch do not apply",
    );
  }
}
