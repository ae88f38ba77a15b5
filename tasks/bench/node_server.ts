/**
 * The bench's `node` target: the same app (`createApp`, the access log) served by Deno's
 * `node:http` through Hono's Node adapter, with the limits our server enforces set as
 * node:http's own: `headersTimeout` (header read), `keepAliveTimeout` (idle keep-alive),
 * `requestTimeout` and `maxConnections`. The public alternative to Deno's per-connection
 * server, measured side by side with it (docs/bench.md). Not a way to run the service.
 *
 * Run: `deno run --allow-net=127.0.0.1 --allow-read=./templates,./static --allow-env=PORT,HOST,...`
 * (the start task's variables) `tasks/bench/node_server.ts`; `deno task bench --targets node` does.
 *
 * @module
 */
// deno-lint-ignore-file no-import-prefix -- a bench-only package, kept out of the import map
// (and so out of the image's npm layer, as tasks/_lib/deps.ts explains), and out of deps.ts so
// that the measured process loads nothing but the server
import { serve } from "npm:@hono/node-server@1.19.19";
import { parseConfig, readEnv } from "../../config/mod.ts";
import { createLogger } from "../../server/logger.ts";
import { createApp } from "../../routes/mod.ts";
import {
  HEADER_TIMEOUT_MS,
  IDLE_TIMEOUT_MS,
  MAX_CONNECTIONS,
  withAccessLog,
} from "../../server/mod.ts";

/** node:http's whole-request timeout: Node's default (5 min) would let a slow body stay. */
export const REQUEST_TIMEOUT_MS = 30_000;

if (import.meta.main) {
  const config = parseConfig(readEnv());
  const logger = createLogger({ level: config.logLevel, format: "json" });
  const app = createApp(config, { warn: (message, fields) => logger.warn(message, fields) });
  const handler = withAccessLog(app.fetch, logger);
  const server = serve({
    fetch: (request) => handler(request),
    // Its lighter Response would replace the global one, which the app builds its answers with.
    overrideGlobalObjects: false,
    port: config.port,
    hostname: config.host,
    serverOptions: { headersTimeout: HEADER_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS },
  });
  Object.assign(server, { keepAliveTimeout: IDLE_TIMEOUT_MS, maxConnections: MAX_CONNECTIONS });
  const stop = () => server.close(() => Deno.exit(0));
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
}
