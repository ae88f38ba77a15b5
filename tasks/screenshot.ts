/**
 * `deno task screenshot`: serves the app on a free loopback port and has headless Chromium
 * photograph the page into docs/screenshot.png, so the README's picture is always the page as
 * the current code draws it. Needs Chromium (`apt-get install chromium`, or `CHROMIUM=path`).
 *
 * Usage: deno task screenshot [--out docs/screenshot.png] [--color steelblue] [--message TEXT]
 *
 * @module
 */
import { parseConfig } from "../config.ts";
import { createApp } from "../routes/mod.ts";
import { lastLines, parseFlags, ROOT, run, runTask } from "./_lib/mod.ts";

const USAGE =
  "Usage: deno task screenshot [--out docs/screenshot.png] [--color NAME] [--message TEXT]";

/** Run the task; resolves to the exit code. */
export async function main(args: string[]): Promise<number> {
  const { values } = parseFlags(args, {
    out: { type: "string", default: "docs/screenshot.png" },
    color: { type: "string", default: "steelblue" },
    message: { type: "string", default: "SWFT Demo" },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const config = parseConfig({
    BACKGROUND_COLOR: values.color,
    CUSTOM_MESSAGE: values.message,
    HOSTNAME: "3f2a9c1d7b4e",
  });
  const app = createApp(config);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
  const profile = await Deno.makeTempDir({ prefix: "swft-screenshot-" });
  try {
    // The flags a closed network needs: no background fetches, updates or sync at start-up.
    const { code, stderr } = await run(Deno.env.get("CHROMIUM") ?? "chromium", [
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
      `--screenshot=${ROOT}/${values.out}`,
      `http://127.0.0.1:${server.addr.port}/`,
    ]);
    if (code !== 0) {
      console.error(`screenshot: chromium failed: ${lastLines(stderr, 1)}`);
      return 1;
    }
    console.log(values.out);
    return 0;
  } finally {
    await server.shutdown();
    await Deno.remove(profile, { recursive: true });
  }
}

if (import.meta.main) runTask("screenshot", main);
