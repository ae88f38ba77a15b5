/**
 * The bench's ceiling: a bare `Deno.serve` answering every request with the same two bytes, on
 * 127.0.0.1 and the port in PORT. Whatever the server does beyond this costs throughput; the
 * bench reports the server's requests/s as a ratio to this process, measured in the same run.
 *
 * Run: `deno run --allow-net=127.0.0.1 --allow-env=PORT tasks/bench/baseline.ts`
 *
 * @module
 */
const body = new TextEncoder().encode("ok");

Deno.serve(
  { hostname: "127.0.0.1", port: Number(Deno.env.get("PORT") ?? "8080"), onListen() {} },
  () => new Response(body),
);
