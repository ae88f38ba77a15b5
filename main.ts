/**
 * The SWFT server's entry point, and only wiring: environment -> Config -> createApp(Config)
 * -> server/. `main.ts serve` (default) serves until SIGTERM; `main.ts healthcheck` is the
 * image's HEALTHCHECK probe, kept light: the serve path's modules load only for `serve`.
 *
 * @module
 */
import denoJson from "./deno.json" with { type: "json" };
import { ConfigError } from "./config/env.ts";

/** A map of environment variables, as `Deno.env.get` would return them. */
export type { Env } from "./config/env.ts";
import type { Config } from "./config/mod.ts";
import type { Logger } from "./server/logger.ts";
import type { Handler } from "./server/mod.ts";
import type { ServeState } from "./server/serve.ts";
import { healthcheck } from "./server/healthcheck.ts";

/** The version users see in the startup line and `--version`. */
export const VERSION: string = denoJson.version;

async function loadConfig(): Promise<Config | null> {
  const { parseConfig, readEnv, readMemoryLimit } = await import("./config/mod.ts");
  try {
    return parseConfig(readEnv(), { memoryLimit: await readMemoryLimit() });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) console.error(`Cannot start server: ${problem}`);
    return null;
  }
}

/** The app with its access log, metrics only when asked for (prom-client is loaded only then). */
async function buildHandler(
  config: Config,
  logger: Logger,
  state: Readonly<ServeState>,
): Promise<Handler> {
  const [{ createApp }, { withAccessLog }] = await Promise.all([
    import("./routes/mod.ts"),
    import("./server/mod.ts"),
  ]);
  let metrics;
  if (config.metrics === "prometheus") {
    const { createMetrics } = await import("./routes/metrics.ts");
    metrics = await createMetrics({ version: VERSION, revision: config.revision });
  }
  const app = createApp(config, {
    metrics,
    ready: () => state.ready,
    warn: (message, fields) => logger.warn(message, fields),
    onError: (error, request) =>
      logger.error("request failed", {
        path: new URL(request.url).pathname,
        error: error instanceof Error ? error.stack ?? error.message : String(error),
      }),
  });
  return withAccessLog(app.fetch, logger);
}

/** `--help`: the commands, and the variables from config/mod.ts's schema (loaded only here). */
async function usage(): Promise<string> {
  const { configUsage } = await import("./config/mod.ts");
  return `Usage: main.ts [serve|healthcheck|--version|--help]

  serve        Serve the SWFT page (default)
  healthcheck  Exit 0 when the server on PORT answers /health, else 1

Configuration comes from the environment; an empty value means the default (see README.md):
${configUsage()}`;
}

/** Run the command named by `args`; resolves to the process exit code. */
export async function main(args: string[]): Promise<number> {
  const command = args[0] ?? "serve";
  if (command === "--help" || command === "-h") {
    console.log(await usage());
    return 0;
  }
  if (command === "--version" || command === "-V") {
    console.log(`swft ${VERSION} (deno ${Deno.version.deno})`);
    return 0;
  }
  if (command === "healthcheck") return await healthcheck();
  if (command !== "serve") {
    console.error(`Cannot run main.ts: unknown command "${command}"\n\n${await usage()}`);
    return 2;
  }
  const config = await loadConfig();
  if (!config) return 1;
  const { serve } = await import("./server/serve.ts");
  return await serve(config, {
    version: VERSION,
    buildHandler: (logger, state) => buildHandler(config, logger, state),
  });
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
