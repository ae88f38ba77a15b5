/**
 * What a running app must answer, read from a JSON file (`--config`, default the project's
 * verify.config.json): the container port, the startup log line, one HTTP probe per check id
 * and the paths that must carry security headers. Validated with zod, the project's schema
 * library.
 *
 * @module
 */
import { z } from "zod";

const ProbeSchema = z.object({
  id: z.string().regex(/^[a-z][a-z0-9-]*$/, "must be lower-case words joined by -"),
  path: z.string().startsWith("/", "must start with /"),
  status: z.number().int().min(100).max(599).default(200),
  contentType: z.string().optional(),
  contains: z.union([z.string(), z.array(z.string())]).optional(),
  json: z.record(z.string(), z.unknown()).optional(),
  matches: z.string().refine((s) => {
    try {
      new RegExp(s);
      return true;
    } catch {
      return false;
    }
  }, "must be a valid regular expression").optional(),
}).strict();

const ConfigSchema = z.object({
  $comment: z.string().optional(),
  port: z.number().int().min(1).max(65535).optional(),
  startupLog: z.string().min(1).default("listening"),
  probes: z.array(ProbeSchema).min(1, "must hold at least one probe"),
  securityHeaders: z.array(z.string().startsWith("/", "must start with /")).default([]),
}).strict();

/** One HTTP probe: its check id, the path to GET and what the answer must be. */
export interface Probe {
  /** The check id in the report (lower-case words joined by -). */
  id: string;
  /** The path to GET, starting with /. */
  path: string;
  /** The expected status (default 200). */
  status: number;
  /** The expected media type, e.g. text/html (parameters such as charset are ignored). */
  contentType?: string;
  /** Text the body must contain, one or several. */
  contains?: string | string[];
  /** Fields the JSON body must hold, each equal. */
  json?: Record<string, unknown>;
  /** A regular expression the whole body must match. */
  matches?: string;
}

/** A verify config, defaults applied. */
export interface VerifyConfig {
  /** Container port the app listens on (default: the image's EXPOSE, else 80). */
  port?: number;
  /** Text of the log line that says the app started (default "listening"). */
  startupLog: string;
  /** The HTTP probes, each a check; the first one is also the start signal. */
  probes: Probe[];
  /** Paths whose answers must carry the security headers. */
  securityHeaders: string[];
}

/**
 * Validates a parsed config; throws one line naming the field and the rule.
 *
 * @example
 * ```ts
 * parseConfig({ probes: [{ id: "http-root", path: "/" }] }).probes[0].status; // 200
 * ```
 */
export function parseConfig(value: unknown, source = "config"): VerifyConfig {
  const result = ConfigSchema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue.path.length > 0 ? issue.path.join(".") : "(top level)";
    throw new Error(`Invalid ${source}: ${where} ${issue.message}`);
  }
  const ids = result.data.probes.map((p) => p.id);
  const twice = ids.find((id, i) => ids.indexOf(id) !== i);
  if (twice) throw new Error(`Invalid ${source}: probe id "${twice}" is used twice`);
  return result.data as VerifyConfig;
}

/** Reads and validates a config file; throws one line on a missing file or bad JSON. */
export async function loadConfig(path: string): Promise<VerifyConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new Error(`Cannot read ${path}: ${(error as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`Invalid ${path}: ${(error as Error).message}`);
  }
  return parseConfig(value, path);
}
