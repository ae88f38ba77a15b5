/**
 * The JSON endpoints: `/health` for probes and `/time` for the page's clock.
 *
 * @module
 */
import { Hono } from "hono";
import type { HeaderList } from "./_security_headers.ts";

/** Dependencies of {@linkcode createApiRoutes}. */
export interface ApiOptions {
  /** Security headers to send with each response. */
  headers: HeaderList;
  /** The clock; tests pass a fixed one. */
  now?: () => Date;
}

function pad(value: number): string {
  return value < 10 ? `0${value}` : `${value}`;
}

/** Format a date as the reference did: local time, `YYYY-MM-DD HH:MM:SS`. */
export function formatTime(date: Date): string {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/**
 * `GET /health` answers `{"status":"ok"}`; `GET /time` answers `{"time":"YYYY-MM-DD HH:MM:SS"}`.
 *
 * @example
 * ```ts
 * const api = createApiRoutes({ headers: [] });
 * const res = await api.request("/health");
 * console.log(await res.json()); // { status: "ok" }
 * ```
 */
export function createApiRoutes(options: ApiOptions): Hono {
  const now = options.now ?? (() => new Date());
  const json: HeaderList = [
    ...options.headers,
    ["content-type", "application/json"],
    ["cache-control", "no-store"],
  ];
  const healthBody = JSON.stringify({ status: "ok" });
  const app = new Hono();
  app.get("/health", () => new Response(healthBody, { headers: json }));
  app.get(
    "/time",
    () => new Response(JSON.stringify({ time: formatTime(now()) }), { headers: json }),
  );
  return app;
}
