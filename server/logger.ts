/**
 * A small structured logger whose writes are batched (every
 * {@linkcode LoggerOptions.flushIntervalMs}, or past {@linkcode LoggerOptions.batchBytes}), so
 * the access log stays on in production at little cost: a synchronous line per request, as
 * `console.log` writes, halves a small server's throughput (docs/operations.md, "Logs").
 *
 * @example
 * ```ts
 * import { createLogger } from "./logger.ts";
 * const log = createLogger({ level: "info", format: "json" });
 * log.info("listening", { address: "0.0.0.0:8080" });
 * log.flush();
 * ```
 *
 * @module
 */

/** Severity of a log line. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** Extra fields of a log line. */
export type LogFields = Record<string, unknown>;

/** Options of {@linkcode createLogger}. */
export interface LoggerOptions {
  /** The lowest level that is written. */
  level: LogLevel;
  /** `json`: one JSON object per line; `pretty`: a readable line for a terminal. */
  format: "json" | "pretty";
  /**
   * Receives whole lines as UTF-8, batched; the bytes are a view of the logger's buffer. A
   * synchronous sink consumes them all before it returns. An asynchronous one resolves to how
   * many it wrote (as `Deno.stdout.write` does): the logger keeps those bytes untouched until
   * then, buffers what comes meanwhile and writes the rest after. A sink that throws or
   * rejects stops the logger ({@linkcode LoggerOptions.onStop}). Defaults to
   * {@linkcode writeStdout}, which never blocks the process.
   */
  write?: (bytes: Uint8Array) => void | Promise<number>;
  /** Longest time a line waits in the buffer, in milliseconds (default 50). */
  flushIntervalMs?: number;
  /** A batch this big is written without waiting for the timer (default 64 KiB). */
  batchBytes?: number;
  /**
   * The bound on what waits in memory, in bytes (default {@linkcode LOG_BUFFER_BYTES}): while
   * the sink is busy, lines are buffered up to this; beyond it they are dropped and counted,
   * and a `log lines dropped` warning with the count follows once the sink takes bytes again.
   */
  maxBufferBytes?: number;
  /**
   * Called once when the sink fails; the logger then drops every line. Defaults to one line
   * on stderr that says logging to stdout stopped and why.
   */
  onStop?: (error: unknown) => void;
}

/** Default of {@linkcode LoggerOptions.maxBufferBytes}: 256 KiB, about 2,300 access lines. */
export const LOG_BUFFER_BYTES = 256 * 1024;

/**
 * A structured logger. Await {@linkcode Logger.drain} before the process exits: writes are
 * asynchronous.
 */
export interface Logger {
  /** Logs `message` with `fields` at level debug. */
  debug(message: string, fields?: LogFields): void;
  /** Logs `message` with `fields` at level info. */
  info(message: string, fields?: LogFields): void;
  /** Logs `message` with `fields` at level warn. */
  warn(message: string, fields?: LogFields): void;
  /** Logs `message` with `fields` at level error. */
  error(message: string, fields?: LogFields): void;
  /**
   * One access-log line at level info: `{"msg":"request","method","path","status","ms"}`.
   * Formatted without building an object, as it runs once per request.
   */
  access(method: string, path: string, status: number, ms: number): void;
  /** Whether lines of this level are written: lets callers skip building fields. */
  enabled(level: LogLevel): boolean;
  /** Start writing everything buffered now, without waiting for the timer. */
  flush(): void;
  /**
   * Write everything buffered and resolve once it is written (`true`), or after `timeoutMs`
   * when the sink is stalled, or at once when it failed (`false`): for the last lines before
   * an exit, bounded.
   */
  drain(timeoutMs: number): Promise<boolean>;
}

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

// Characters that need no escaping inside a JSON string.
const PLAIN = /^[\x20-\x21\x23-\x5b\x5d-\x7e]*$/;

// What a terminal or log viewer may act on rather than show: controls (C0, DEL, C1), format
// characters (bidi overrides, zero-width), line and paragraph separators, lone surrogates,
// private-use and unassigned code points. JSON.stringify escapes only C0, `"` and `\`.
const NON_PRINTING = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\p{Co}\p{Cn}]/gu;

function unicodeEscape(char: string): string {
  let escaped = "";
  for (let i = 0; i < char.length; i++) {
    escaped += `\\u${char.charCodeAt(i).toString(16).padStart(4, "0")}`;
  }
  return escaped;
}

/**
 * `text` with every non-printing character written as `\uXXXX`, so a logged value cannot
 * move the cursor, recolour, hide or reorder what a terminal shows, nor split a line.
 *
 * @example
 * ```ts
 * escapeNonPrinting("a\u009b31mb"); // "a\\u009b31mb"
 * ```
 */
export function escapeNonPrinting(text: string): string {
  return text.replace(NON_PRINTING, unicodeEscape);
}

/** JSON text of `value` with non-printing characters escaped as well (still valid JSON). */
function safeJson(value: unknown): string {
  return escapeNonPrinting(JSON.stringify(value) ?? "null");
}

/** A field value for the pretty format: plain when printable and unambiguous, else JSON. */
function prettyValue(value: unknown): string {
  if (typeof value === "string" && /^[^\s"=\\]*$/.test(value) && PLAIN.test(value)) return value;
  return safeJson(value);
}

/**
 * Write `bytes` to stdout without blocking the process: Deno runs an asynchronous write on a
 * thread of its own, so a reader that stalls holds that write, never request handling or
 * signals (`Deno.stdout.writeSync` blocks the whole process once the pipe is full). Resolves
 * to the number of bytes written.
 */
export function writeStdout(bytes: Uint8Array): Promise<number> {
  return Deno.stdout.write(bytes);
}

/** Default of {@linkcode LoggerOptions.onStop}: one line on stderr, itself never blocking. */
function reportStopped(error: unknown) {
  const reason = error instanceof Error ? error.message : String(error);
  const line = `Cannot write logs to stdout (${reason}): logging to stdout stopped, ` +
    "the server goes on\n";
  Deno.stderr.write(new TextEncoder().encode(line)).catch(() => {});
}

function formatPretty(time: string, level: LogLevel, message: string, fields?: LogFields) {
  let line = `${time.slice(11, 23)} ${level.toUpperCase().padEnd(5)} ` +
    escapeNonPrinting(message);
  if (fields) {
    for (const [key, value] of Object.entries(fields)) {
      line += ` ${escapeNonPrinting(key)}=${prettyValue(value)}`;
    }
  }
  return line + "\n";
}

function formatJson(time: string, level: LogLevel, message: string, fields?: LogFields) {
  return safeJson({ time, level, msg: message, ...fields }) + "\n";
}

/** What {@linkcode BatchBuffer} needs: the logger's options, resolved. */
interface BatchOptions {
  write: (bytes: Uint8Array) => void | Promise<number>;
  onStop: (error: unknown) => void;
  flushIntervalMs: number;
  batchBytes: number;
  maxBufferBytes: number;
  /** The warning line that counts `dropped` lines, written once the sink takes bytes again. */
  droppedLine: (dropped: number) => string;
}

/**
 * The bytes between the log calls and the sink: lines are encoded straight into one reused
 * buffer, so no log text outlives its request and a busy access log does not grow the heap
 * (docs/operations.md has the figures); its pages are touched only as far as it fills.
 * bytes[0, end) waits; while `writing`, bytes[0, sent) is with the sink and stays as it is.
 */
class BatchBuffer {
  readonly #options: BatchOptions;
  readonly #bytes: Uint8Array;
  readonly #encoder = new TextEncoder();
  readonly #idle: (() => void)[] = [];
  #end = 0;
  #sent = 0;
  #writing = false;
  #stopped = false;
  #dropped = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(options: BatchOptions) {
    this.#options = options;
    this.#bytes = new Uint8Array(options.maxBufferBytes);
  }

  /** Buffers `line`, writing a batch when it is big enough; counts it dropped when full. */
  append(line: string): void {
    if (this.#stopped) return;
    if (!this.#encode(line)) {
      // Full: write what waits, if the sink is free, and try again.
      this.flush();
      if (!this.#encode(line)) {
        if (!this.#writing && this.#end === 0) {
          // Longer than the whole buffer: on its own, as nothing waits before it (what comes
          // meanwhile is buffered, sent stays 0).
          this.#send(this.#encoder.encode(line), () => this.#afterBatch());
        } else {
          this.#dropped++;
        }
        return;
      }
    }
    if (this.#writing) return;
    if (this.#end >= this.#options.batchBytes) this.flush();
    else this.#armTimer();
  }

  /** Starts writing everything buffered now, unless a batch is with the sink. */
  flush(): void {
    this.#clearTimer();
    if (this.#writing || this.#stopped || this.#end === 0) return;
    this.#sent = this.#end;
    this.#send(this.#bytes.subarray(0, this.#sent), () => this.#afterBatch());
  }

  /** Resolves `true` once everything is written, `false` after `timeoutMs` or when stopped. */
  drain(timeoutMs: number): Promise<boolean> {
    this.flush();
    if (this.#stopped) return Promise.resolve(false);
    if (!this.#writing && this.#end === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timeout = setTimeout(() => resolve(false), timeoutMs);
      this.#idle.push(() => {
        clearTimeout(timeout);
        resolve(!this.#stopped);
      });
    });
  }

  #stop(error: unknown) {
    this.#stopped = true;
    this.#writing = false;
    this.#end = this.#sent = this.#dropped = 0;
    this.#clearTimer();
    try {
      this.#options.onStop(error);
    } catch { /* reporting must not throw into a request */ }
    this.#settle();
  }

  #settle() {
    if (this.#writing || (this.#end > 0 && !this.#stopped)) return;
    for (const resolve of this.#idle.splice(0)) resolve();
  }

  #clearTimer() {
    if (this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #armTimer() {
    if (this.#timer !== undefined || this.#stopped) return;
    this.#timer = setTimeout(() => this.flush(), this.#options.flushIntervalMs);
    // A pending log write must not keep a finished process alive.
    Deno.unrefTimer(this.#timer);
  }

  /** Hands `chunk` to the sink until all of it is written, then calls `done`. */
  #send(chunk: Uint8Array, done: () => void, offset = 0) {
    this.#writing = true;
    if (offset < chunk.length) {
      let result;
      try {
        result = this.#options.write(chunk.subarray(offset));
      } catch (error) {
        this.#stop(error);
        return;
      }
      // A synchronous sink took it all; an asynchronous one goes on from what it took.
      if (result !== undefined) {
        result.then(
          (written) => !this.#stopped && this.#send(chunk, done, offset + written),
          (error) =>
            !this.#stopped &&
            (error instanceof Deno.errors.Interrupted
              ? this.#send(chunk, done, offset)
              : this.#stop(error)),
        );
        return;
      }
    }
    this.#writing = false;
    done();
  }

  #afterBatch() {
    // What came while the batch was out moves to the front: one copy, at most the buffer.
    this.#bytes.copyWithin(0, this.#sent, this.#end);
    this.#end -= this.#sent;
    this.#sent = 0;
    if (this.#dropped > 0 && this.#encode(this.#options.droppedLine(this.#dropped))) {
      this.#dropped = 0;
    }
    if (this.#end >= this.#options.batchBytes) this.flush();
    else if (this.#end > 0) this.#armTimer();
    this.#settle();
  }

  /** Encodes `line` after what waits; false when it does not fit. */
  #encode(line: string): boolean {
    // A UTF-16 unit takes at most 3 bytes in UTF-8: the common case needs no exact check.
    if (this.#end + line.length * 3 <= this.#bytes.length) {
      this.#end += this.#encoder.encodeInto(line, this.#bytes.subarray(this.#end)).written;
      return true;
    }
    const { read, written } = this.#encoder.encodeInto(line, this.#bytes.subarray(this.#end));
    if (read < line.length) return false;
    this.#end += written;
    return true;
  }
}

/** The current time as ISO text, formatted once per millisecond (many lines share one). */
function isoClock(): () => string {
  let lastMs = 0;
  let lastTime = "";
  return () => {
    const ms = Date.now();
    if (ms !== lastMs) {
      lastMs = ms;
      lastTime = new Date(ms).toISOString();
    }
    return lastTime;
  };
}

/** One access-log line per request: JSON without building an object, as it runs so often. */
function accessLine(now: () => string, format: LoggerOptions["format"]) {
  return (method: string, path: string, status: number, ms: number): string => {
    if (format !== "json") {
      return formatPretty(now(), "info", "request", { method, path, status, ms });
    }
    // Only the method and path come from the client; escape them only when needed.
    const safeMethod = PLAIN.test(method) ? method : safeJson(method).slice(1, -1);
    const safePath = PLAIN.test(path) ? path : safeJson(path).slice(1, -1);
    return `{"time":"${now()}","level":"info","msg":"request","method":"${safeMethod}",` +
      `"path":"${safePath}","status":${status},"ms":${ms}}\n`;
  };
}

/** Create a batching logger. */
export function createLogger(options: LoggerOptions): Logger {
  const threshold = LEVELS[options.level];
  const format = options.format === "json" ? formatJson : formatPretty;
  const now = isoClock();
  const buffer = new BatchBuffer({
    write: options.write ?? writeStdout,
    onStop: options.onStop ?? reportStopped,
    flushIntervalMs: options.flushIntervalMs ?? 50,
    batchBytes: options.batchBytes ?? 64 * 1024,
    maxBufferBytes: options.maxBufferBytes ?? LOG_BUFFER_BYTES,
    droppedLine: (dropped) => format(now(), "warn", "log lines dropped", { dropped }),
  });
  const log = (level: LogLevel, message: string, fields?: LogFields) => {
    if (LEVELS[level] >= threshold) buffer.append(format(now(), level, message, fields));
  };
  const accessEnabled = LEVELS.info >= threshold;
  const line = accessLine(now, options.format);
  return {
    debug: (message, fields) => log("debug", message, fields),
    info: (message, fields) => log("info", message, fields),
    warn: (message, fields) => log("warn", message, fields),
    error: (message, fields) => log("error", message, fields),
    access: (method, path, status, ms) => {
      if (accessEnabled) buffer.append(line(method, path, status, ms));
    },
    enabled: (level) => LEVELS[level] >= threshold,
    flush: () => buffer.flush(),
    drain: (timeoutMs) => buffer.drain(timeoutMs),
  };
}
