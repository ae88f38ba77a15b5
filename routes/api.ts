/**
 * The JSON endpoints: `/health` for probes and `/time` for the page's clock.
 *
 * @module
 */
import { Hono } from "hono";
import type { HonoApp } from "./_hono.ts";
import { getRaw } from "./_fast_path.ts";
import { fixedResponse } from "./_prebuilt.ts";
import type { HeaderList } from "./_security_headers.ts";

/** Dependencies of {@linkcode createApiRoutes}. */
export interface ApiOptions {
  /** Security headers to send with each response. */
  headers: HeaderList;
  /** The clock; tests pass a fixed one. */
  now?: () => Date;
  /** Whether `/ready` answers 200 (else 503); always, when not given. */
  ready?: () => boolean;
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
 * `GET /health` answers `{"status":"ok"}`; `GET /time` answers `{"time":"YYYY-MM-DD HH:MM:SS"}`;
 * `GET /ready` answers `{"status":"ready"}`, or 503 `{"status":"stopping"}` once `ready()` is
 * false (from SIGTERM on, so that load balancers stop sending before the server goes).
 *
 * @example
 * ```ts
 * const api = createApiRoutes({ headers: [] });
 * const res = await api.request("/health");
 * console.log(await res.json()); // { status: "ok" }
 * ```
 */
export function createApiRoutes(options: ApiOptions): HonoApp {
  const now = options.now ?? (() => new Date());
  const json: HeaderList = [
    ...options.headers,
    ["content-type", "application/json"],
    ["cache-control", "no-store"],
  ];
  // Responses are built once and cloned per request (see routes/_prebuilt.ts).
  const health = fixedResponse(JSON.stringify({ status: "ok" }), json);
  // /time changes once a second; rebuild its response only then.
  let timeSecond = NaN;
  let time = health;
  const ready = options.ready ?? (() => true);
  const readyResponse = fixedResponse(JSON.stringify({ status: "ready" }), json);
  const stopping = fixedResponse(JSON.stringify({ status: "stopping" }), json, 503);
  const app = new Hono();
  getRaw(app, "/health", () => health.clone());
  getRaw(app, "/ready", () => (ready() ? readyResponse : stopping).clone());
  getRaw(app, "/time", () => {
    const date = now();
    const second = Math.floor(date.getTime() / 1000);
    if (second !== timeSecond) {
      timeSecond = second;
      time = fixedResponse(JSON.stringify({ time: formatTime(date) }), json);
    }
    return time.clone();
  });
  return app;
}
