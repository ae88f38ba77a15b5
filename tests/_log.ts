/**
 * A logger for tests that read back what a server logged: JSON lines, kept in memory.
 *
 * @module
 */
import { createLogger, type Logger, type LogLevel } from "../server/logger.ts";

/** One JSON log line as the logger writes it. */
export type LogLine = { level: string; msg: string; [field: string]: unknown };

/** A logger that keeps its lines, from {@linkcode recordingLogger}. */
export interface RecordingLogger {
  /** The logger to hand to the server. */
  logger: Logger;
  /** Everything written so far, as text (what waits in the logger's buffer included). */
  text(): string;
  /** Every line written so far, parsed (what waits in the logger's buffer included). */
  lines(): LogLine[];
}

/**
 * A JSON logger at `level` whose lines stay in memory.
 *
 * @example
 * ```ts
 * const log = recordingLogger();
 * log.logger.warn("careful");
 * log.lines()[0].msg; // "careful"
 * ```
 */
export function recordingLogger(level: LogLevel = "info"): RecordingLogger {
  const decoder = new TextDecoder();
  let written = "";
  const logger = createLogger({
    level,
    format: "json",
    write: (bytes) => void (written += decoder.decode(bytes)),
  });
  function text() {
    logger.flush();
    return written;
  }
  return {
    logger,
    text,
    lines: () => text().split("\n").filter((line) => line !== "").map((line) => JSON.parse(line)),
  };
}
