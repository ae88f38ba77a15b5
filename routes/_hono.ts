/**
 * Hono's types under local names, for the signatures of the route modules.
 *
 * `deno doc --lint` (Deno 2.9) reports a public signature that names another package's type as
 * a reference to a private type (denoland/deno#27364, fixed in later Deno releases), and
 * re-exporting Hono's types would lint Hono's whole API instead. An `@internal` local name is
 * the documented way to accept the reference; the types are Hono's own, unchanged.
 *
 * @module
 */
import type { Context, Hono } from "hono";

/**
 * A Hono app, as `createApp` and the route factories return it.
 *
 * @internal
 */
export type HonoApp = Hono;

/**
 * Hono's request context, as handlers receive it.
 *
 * @internal
 */
export type HonoContext = Context;
