/**
 * The command line of `deno task bench`.
 *
 * @module
 */
import { parseFlags, UsageError } from "../_lib/mod.ts";
import type { TargetName } from "./process.ts";

/** What one bench run does. */
export interface BenchOptions {
  /** `--smoke`: one short round, to check the tool end to end. */
  smoke: boolean;
  /** `--json`: where to write the report, or `null`. */
  json: string | null;
  /** Seconds per wrk run. */
  durationSec: number;
  /** Concurrency levels, in order. */
  connections: number[];
  /** Alternating baseline/server rounds. */
  rounds: number;
  /** Seconds of mixed load for the memory soak; 0 skips it. */
  soakSec: number;
  /** Idle connections held for the per-connection memory figures; 0 skips them. */
  storm: number;
  /** Server targets, without the baselines, which always run. */
  targets: Exclude<TargetName, "baseline" | "replay">[];
  /** Image of the container target. */
  image: string;
  /** Starts measured per target for the startup median. */
  starts: number;
  /** Paths to load. */
  paths: string[];
  /** `--help`: print the usage and do nothing else. */
  help: boolean;
}

/** The help text. */
export const USAGE = `Usage: deno task bench [options]

Loads the SWFT server as users run it (the start task's command, production defaults: security
headers and JSON access log on) and two bare Deno.serve baselines with wrk, alternating rounds:
a constant two-byte answer, and a replay of the exact responses (status, headers, body) captured
from the server at the start of the run. Reports requests/s, p50/p99 latency, the ratios to both
baselines, startup time and memory.

Options:
  --smoke                One short round per path at 32 connections, 2 starts, 2 s soak: checks
                         the tool end to end in about 25 s (CI). Exit 1 on any error.
  --json PATH            Also write the report as JSON to PATH (in this folder or /tmp)
  --duration SECONDS     Length of each wrk run (default 2; smoke 1)
  --connections LIST     Concurrency levels, comma separated (default 1,32,128; smoke 32)
  --rounds N             Alternating baseline/server rounds (default 3; smoke 1)
  --soak SECONDS         Mixed load for the memory soak, 0 to skip (default 30; smoke 2)
  --storm N              Idle keep-alive connections held at once, then closed, on the bare
                         baseline and each target: RSS per connection and after the storm,
                         0 to skip (default 2000; smoke 200; at most 5000)
  --targets LIST         Servers to load: start,binary,container (default: these three, skipping
                         those absent; smoke: start). binary = dist/swft, container = --image.
                         Also: metrics (start with METRICS=prometheus), otel (start with
                         OTEL_DENO=true, OTLP to an unused port), otel-metrics (the same with
                         OTEL_DENO_TRACING=false), quiet (start with LOG_LEVEL=warn: no
                         access log), node (the app on node:http through Hono's Node
                         adapter, with node:http's timeouts and connection limit), seed (a
                         reconstruction of the FastAPI app SWFT re-implements, one uvicorn
                         worker: tasks/bench/seed/; needs python3 with FastAPI, uvicorn, Jinja2)
  --image NAME           Image for the container target (default swft:runtime-deno)
  --paths LIST           Paths to load, comma separated
                         (default /,/health,/time,/theme.css,/static/style.css)
  --help                 Show this help

Bounded: at most 60 s per wrk run, 10 rounds, 600 s of soak and 5000 connections held. Only
127.0.0.1 is loaded.`;

const DEFAULT_TARGETS = ["start", "binary", "container"] as const;
const ALL_TARGETS = [
  ...DEFAULT_TARGETS,
  "metrics",
  "otel",
  "otel-metrics",
  "quiet",
  "node",
  "seed",
] as const;
const PATHS = ["/", "/health", "/time", "/theme.css", "/static/style.css"];

function integer(name: string, text: string, range: { min: number; max: number }): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < range.min || value > range.max) {
    throw new UsageError(
      `--${name} must be an integer from ${range.min} to ${range.max}, got "${text}"`,
    );
  }
  return value;
}

function paths(text: string): string[] {
  return [...new Set(text.split(",").map((path) => path.trim()))].map((path) => {
    if (!/^\/[\x21-\x7e]*$/.test(path)) {
      throw new UsageError(`--paths takes absolute URL paths such as /health, got "${path}"`);
    }
    return path;
  });
}

/** Parse the bench's arguments; throws a `UsageError` naming the bad flag. */
export function parseBenchArgs(args: string[]): BenchOptions {
  const { values } = parseFlags(args, {
    smoke: { type: "boolean", default: false },
    json: { type: "string" },
    duration: { type: "string" },
    connections: { type: "string" },
    rounds: { type: "string" },
    soak: { type: "string" },
    storm: { type: "string" },
    targets: { type: "string" },
    image: { type: "string" },
    paths: { type: "string" },
  });
  const smoke = values.smoke ?? false;
  const connections = (values.connections ?? (smoke ? "32" : "1,32,128")).split(",").map((
    text,
  ) => integer("connections", text.trim(), { min: 1, max: 1000 }));
  const targets = (values.targets ?? (smoke ? "start" : DEFAULT_TARGETS.join(","))).split(",").map(
    (text) => {
      const name = text.trim();
      if (!(ALL_TARGETS as readonly string[]).includes(name)) {
        throw new UsageError(
          `--targets takes start, binary, container, metrics, otel, otel-metrics, quiet, node or seed, got "${name}"`,
        );
      }
      return name as BenchOptions["targets"][number];
    },
  );
  return {
    smoke,
    json: values.json ?? null,
    durationSec: integer("duration", values.duration ?? (smoke ? "1" : "2"), { min: 1, max: 60 }),
    connections: [...new Set(connections)],
    rounds: integer("rounds", values.rounds ?? (smoke ? "1" : "3"), { min: 1, max: 10 }),
    soakSec: integer("soak", values.soak ?? (smoke ? "2" : "30"), { min: 0, max: 600 }),
    storm: integer("storm", values.storm ?? (smoke ? "200" : "2000"), { min: 0, max: 5000 }),
    targets: [...new Set(targets)],
    image: values.image ?? "swft:runtime-deno",
    starts: smoke ? 2 : 5,
    paths: values.paths ? paths(values.paths) : PATHS,
    help: values.help ?? false,
  };
}
