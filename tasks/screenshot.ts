/**
 * `deno task screenshot`: serves the app on a free loopback port and has headless Chromium
 * photograph the page into docs/screenshot.png, so the README's picture is always the page as
 * the current code draws it. Needs Chromium (`apt-get install chromium`, or `CHROMIUM=path`).
 *
 * Usage: deno task screenshot [--out docs/screenshot.png] [--color steelblue] [--message TEXT]
 *
 * `--out` is absolute, or relative to the folder the task was started from (`deno task` runs
 * in the project root and says where it was started in `INIT_CWD`). A path that cannot be
 * written is an error (exit 1) before Chromium starts.
 *
 * @module
 */
import { dirname, resolve } from "node:path";
import { parseConfig } from "../config/mod.ts";
import { createApp } from "../routes/mod.ts";
import { CleanupStack, lastLines, parseFlags, ROOT, run, runTask, tempDir } from "./_lib/mod.ts";

const USAGE =
  "Usage: deno task screenshot [--out docs/screenshot.png] [--color NAME] [--message TEXT]";

/** The picture's defaults: the README's screenshot is the page with these values. */
export const PICTURE = {
  out: "docs/screenshot.png",
  color: "steelblue",
  message: "SWFT Demo",
} as const;

/**
 * Where `--out` writes: an absolute path as given, a relative one from `base` (the folder the
 * user started the task from). The default is the README's picture, in the project.
 *
 * @example
 * ```ts
 * outputPath("shot.png", "/home/me"); // "/home/me/shot.png"
 * outputPath("/tmp/shot.png", "/home/me"); // "/tmp/shot.png"
 * ```
 */
export function outputPath(out: string | undefined, base: string): string {
  return out === undefined ? `${ROOT}/${PICTURE.out}` : resolve(base, out);
}

/** Why `path` cannot be written (its folder is missing or not a folder), or undefined. */
async function unwritable(path: string): Promise<string | undefined> {
  const folder = dirname(path);
  try {
    if (!(await Deno.stat(folder)).isDirectory) return `${folder} is not a folder`;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return `the folder ${folder} does not exist`;
    return (error as Error).message;
  }
  try {
    if ((await Deno.stat(path)).isDirectory) return `${path} is a folder`;
  } catch {
    // not there yet: it will be created
  }
  return undefined;
}

/** Options of {@linkcode main} that tests set; the task takes them from its environment. */
export interface ScreenshotIo {
  /** Folder a relative `--out` is resolved from (default: `INIT_CWD`, else the cwd). */
  base?: string;
  /** The Chromium binary (default: `CHROMIUM`, else `chromium`). */
  chromium?: string;
}

/** Run the task; resolves to the exit code. */
export async function main(args: string[], io: ScreenshotIo = {}): Promise<number> {
  const { values } = parseFlags(args, {
    out: { type: "string" },
    color: { type: "string", default: PICTURE.color },
    message: { type: "string", default: PICTURE.message },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const out = outputPath(values.out, io.base ?? (Deno.env.get("INIT_CWD") || Deno.cwd()));
  const problem = await unwritable(out);
  if (problem) {
    console.error(`screenshot: Cannot write ${out}: ${problem}`);
    return 1;
  }
  const config = parseConfig({
    BACKGROUND_COLOR: values.color,
    CUSTOM_MESSAGE: values.message,
    HOSTNAME: "3f2a9c1d7b4e",
  });
  const app = createApp(config);
  // Ctrl-C / SIGTERM too: the kernel disposes this before it exits 130 / 143.
  await using cleanup = new CleanupStack();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
  cleanup.defer(() => server.shutdown());
  // Chromium writes into the profile folder and the task copies the picture: Chromium exits
  // 0 even when it cannot write, and this way a failed run leaves the old picture alone.
  const profile = await tempDir(cleanup, "swft-screenshot-");
  const picture = `${profile}/screenshot.png`;
  const chromium = io.chromium ?? Deno.env.get("CHROMIUM") ?? "chromium";
  // The flags a closed network needs: no background fetches, updates or sync at start-up.
  const { code, stderr } = await run(chromium, [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    `--user-data-dir=${profile}`,
    "--window-size=1100,720",
    // Lets the clock script fetch /time and draw before the picture is taken.
    "--virtual-time-budget=3000",
    `--screenshot=${picture}`,
    `http://127.0.0.1:${server.addr.port}/`,
  ]);
  if (code === 127) {
    console.error(
      `screenshot: Cannot run ${chromium}: install Chromium (apt-get install chromium) ` +
        "or name it with CHROMIUM=path",
    );
    return 1;
  }
  if (code !== 0) {
    console.error(
      `screenshot: Cannot take the picture: chromium failed: ${lastLines(stderr, 1)}`,
    );
    return 1;
  }
  try {
    await Deno.copyFile(picture, out);
  } catch (error) {
    const reason = error instanceof Deno.errors.NotFound && !await exists(picture)
      ? `chromium wrote no picture (${lastLines(stderr, 1) || "no message"})`
      : (error as Error).message;
    console.error(`screenshot: Cannot write ${out}: ${reason}`);
    return 1;
  }
  console.log(out);
  return 0;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

if (import.meta.main) runTask("screenshot", main);
