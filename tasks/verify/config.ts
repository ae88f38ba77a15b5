/**
 * What a running app must answer, read from a JSON file (`--config`, default the project's
 * verify.config.json): the container port, the startup log line, one HTTP probe per check id
 * and the paths that must carry security headers. Validated with zod, the project's schema
 * library.
 *
 * @module
 */
import { z } from "zod";

const Probe = z.object({
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

const Config = z.object({
  $comment: z.string().optional(),
  port: z.number().int().min(1).max(65535).optional(),
  startupLog: z.string().min(1).default("listening"),
  probes: z.array(Probe).min(1, "must hold at least one probe"),
  securityHeaders: z.array(z.string().startsWith("/", "must start with /")).default([]),
}).strict();

/** One HTTP probe: its check id, the path to GET and what the answer must be. */
export type Probe = z.infer<typeof Probe>;

/** A verify config, defaults applied. */
export type VerifyConfig = z.infer<typeof Config>;

/**
 * Validates a parsed config; throws one line naming the field and the rule.
 *
 * @example
 * ```ts
 * parseConfig({ probes: [{ id: "http-root", path: "/" }] }).probes[0].status; // 200
 * ```
 */
export function parseConfig(value: unknown, source = "config"): VerifyConfig {
  const result = Config.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue.path.length > 0 ? issue.path.join(".") : "(top level)";
    throw new Error(`Invalid ${source}: ${where} ${issue.message}`);
  }
  const ids = result.data.probes.map((p) => p.id);
  const twice = ids.find((id, i) => ids.indexOf(id) !== i);
  if (twice) throw new Error(`Invalid ${source}: probe id "${twice}" is used twice`);
  return result.data;
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
