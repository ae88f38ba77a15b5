/** The live progress view: one line per check, rewritten in place on a TTY. */
import { formatMs } from "../_lib/mod.ts";
import { type CheckResult, paint, statusLabel } from "./report.ts";

/** Receives check lifecycle events. */
export interface Progress {
  /** A check started. */
  start(id: string): void;
  /** A check finished. */
  end(result: CheckResult): void;
  /** A line of build output (shown only when verbose). */
  log(line: string): void;
}

/** Options for {@linkcode createProgress}. */
export interface ProgressOptions {
  /** Rewrite a "running" line in place. */
  tty: boolean;
  /** Use ANSI colours. */
  color: boolean;
  /** Show build output. */
  verbose: boolean;
  /** Receives the text. */
  write: (text: string) => void;
}

/**
 * Creates the progress view. On a TTY a "running" line is shown and then replaced by the
 * result; otherwise only result lines are printed, so logs stay readable.
 */
export function createProgress(options: ProgressOptions): Progress {
  const p = paint(options.color);
  let open = false;
  const closeLine = () => {
    if (open) options.write("\r\x1b[2K");
    open = false;
  };
  return {
    start(id) {
      if (!options.tty) return;
      closeLine();
      options.write(`${p.dim("....")}  ${id} ${p.dim("running")}`);
      open = true;
      if (options.verbose) {
        options.write("\n");
        open = false;
      }
    },
    end(result) {
      closeLine();
      const detail = result.detail.replace(/\s+/g, " ");
      options.write(
        `${statusLabel(result.status, p)}  ${result.id.padEnd(27)} ${
          formatMs(result.ms).padStart(8)
        }  ${p.dim(detail.length > 140 ? detail.slice(0, 139) + "…" : detail)}\n`,
      );
    },
    log(line) {
      if (!options.verbose) return;
      closeLine();
      options.write(p.dim(`  | ${line}`) + "\n");
    },
  };
}
