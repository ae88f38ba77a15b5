/**
 * The one place that reads the environment. {@linkcode parseConfig} turns a plain map of
 * variables into a frozen {@linkcode Config}, or throws a {@linkcode ConfigError} that lists
 * every problem with the variable, the rule and the value.
 *
 * @example
 * ```ts
 * import { parseConfig } from "./config.ts";
 * const config = parseConfig({ PORT: "3000" });
 * console.log(config.port); // 3000
 * ```
 *
 * @module
 */
import { z } from "zod";
import { CSS_COLOR_NAMES } from "./_css_colors.ts";

/** Every variable the server reads; `start` and the image grant exactly these. */
export const CONFIG_VARIABLES = [
  "PORT",
  "HOST",
  "BACKGROUND_COLOR",
  "CUSTOM_MESSAGE",
  "HOSTNAME",
  "LOG_LEVEL",
  "LOG_FORMAT",
  "SHUTDOWN_TIMEOUT_MS",
  "METRICS",
] as const;

/** The name of a variable the server reads. */
export type ConfigVariable = typeof CONFIG_VARIABLES[number];

/** A map of environment variables, as `Deno.env.get` would return them. */
export type Env = Partial<Record<string, string | undefined>>;

// Printable text: no control characters (they would corrupt logs and terminals).
// deno-lint-ignore no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;
const HOST_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const HEX_COLOR = /^#(?:[0-9a-f]{3,4}|[0-9a-f]{6}|[0-9a-f]{8})$/;

function integer(min: number, max: number, hint = "") {
  const rule = `must be an integer from ${min} to ${max}${hint}`;
  return z.string().regex(/^\d{1,9}$/, rule).transform(Number).pipe(
    z.number().int().min(min, rule).max(max, rule),
  );
}

function printable(max: number) {
  return z.string().max(max, `must be at most ${max} characters`).refine(
    (value) => !CONTROL_CHARACTERS.test(value),
    "must not contain control characters",
  );
}

const schema = z.object({
  PORT: integer(0, 65535, " (0 picks a free port)").default(8080),
  HOST: z.string().refine(
    (value) =>
      z.ipv4().safeParse(value).success || z.ipv6().safeParse(value).success ||
      HOST_NAME.test(value),
    "must be an IP address or a host name",
  ).default("0.0.0.0"),
  BACKGROUND_COLOR: z.string().transform((value) => value.toLowerCase()).refine(
    (value) => CSS_COLOR_NAMES.has(value) || HEX_COLOR.test(value),
    "must be a CSS colour name (such as white or steelblue) or a hex colour (such as #1e90ff)",
  ).default("white"),
  CUSTOM_MESSAGE: printable(200).default("SWFT Demo"),
  HOSTNAME: printable(253).default("local"),
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error"], {
    error: "must be one of debug, info, warn, error",
  }).default("info"),
  LOG_FORMAT: z.enum(["auto", "json", "pretty"], {
    error: "must be one of auto, json, pretty",
  }).default("auto"),
  SHUTDOWN_TIMEOUT_MS: integer(0, 600000).default(5000),
  METRICS: z.enum(["off", "prometheus"], { error: "must be one of off, prometheus" })
    .default("off"),
});

/** The validated, typed configuration of one server. */
export interface Config {
  /** Port to listen on; 0 asks the system for a free one. */
  readonly port: number;
  /** Address to listen on. */
  readonly host: string;
  /** The page's background: a CSS colour name or a hex colour, lower case. */
  readonly backgroundColor: string;
  /** The message shown on the page. */
  readonly customMessage: string;
  /** The host or container name shown on the page. */
  readonly hostname: string;
  /** The lowest level that is logged. */
  readonly logLevel: "debug" | "info" | "warn" | "error";
  /** Log line format; `auto` is `pretty` on a terminal and `json` elsewhere. */
  readonly logFormat: "auto" | "json" | "pretty";
  /** How long a shutdown waits for in-flight requests, in milliseconds. */
  readonly shutdownTimeoutMs: number;
  /** `prometheus` serves `GET /metrics`; `off` (the default) measures nothing. */
  readonly metrics: "off" | "prometheus";
  /** The variables that were set, as opposed to defaulted (for the startup log line). */
  readonly sources: readonly ConfigVariable[];
}

/** Thrown by {@linkcode parseConfig}: one entry in {@linkcode ConfigError.problems} per bad variable. */
export class ConfigError extends Error {
  /** One line per problem, such as `PORT must be an integer from 0 to 65535, got "abc"`. */
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(`Invalid configuration: ${problems.join("; ")}`);
    this.name = "ConfigError";
    this.problems = problems;
  }
}

/**
 * Validate environment variables into a frozen {@linkcode Config}. An empty value counts as
 * unset, so `PORT=` in an env file means the default.
 *
 * @throws {ConfigError} naming each invalid variable, its rule and its value
 */
export function parseConfig(env: Env): Config {
  const input: Record<string, string> = {};
  const sources: ConfigVariable[] = [];
  for (const name of CONFIG_VARIABLES) {
    const value = env[name];
    if (value !== undefined && value !== "") {
      input[name] = value;
      sources.push(name);
    }
  }
  const result = schema.safeParse(input);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const name = String(issue.path[0]);
      return `${name} ${issue.message}, got ${JSON.stringify(input[name])}`;
    });
    throw new ConfigError([...new Set(problems)]);
  }
  const values = result.data;
  return Object.freeze({
    port: values.PORT,
    host: values.HOST,
    backgroundColor: values.BACKGROUND_COLOR,
    customMessage: values.CUSTOM_MESSAGE,
    hostname: values.HOSTNAME,
    logLevel: values.LOG_LEVEL,
    logFormat: values.LOG_FORMAT,
    shutdownTimeoutMs: values.SHUTDOWN_TIMEOUT_MS,
    metrics: values.METRICS,
    sources: Object.freeze(sources),
  });
}

/**
 * Read the server's variables from the process environment. Reads each one by name, so it
 * works under `--allow-env=PORT,HOST,...`.
 */
export function readEnv(): Env {
  const env: Env = {};
  for (const name of CONFIG_VARIABLES) env[name] = Deno.env.get(name);
  return env;
}
