/**
 * The bench's two ceilings, bare `Deno.serve` processes on 127.0.0.1 and the port in PORT:
 *
 * - constant (`baseline`): every request gets the same two bytes. The server's ratio to it
 *   mixes the cost of its headers and bodies (design choices) with its own overhead.
 * - same bytes (`replay`): with SWFT_BENCH_REPLAY naming a file written by
 *   {@linkcode captureResponses}, each path gets exactly the status, headers and body the
 *   server sent for it at the start of the run. The server's ratio to it is its own overhead:
 *   routing, the Host check, the access log.
 *
 * Both answer from responses built once and cloned, the fastest way a bare handler has.
 *
 * Run: `deno run --allow-net=127.0.0.1 --allow-env=PORT,SWFT_BENCH_REPLAY --allow-read=/tmp tasks/bench/baseline.ts`
 *
 * @module
 */

/** One captured answer. */
export interface CapturedResponse {
  /** The HTTP status. */
  status: number;
  /** The headers, in the order the server sent them. */
  headers: Array<[string, string]>;
  /** The body, base64. */
  body: string;
}

/** What the replay baseline serves: responses keyed by path. */
export type Replay = Record<string, CapturedResponse>;

/** Headers the runtime writes itself for any response, so replaying them would double them. */
const RUNTIME_HEADERS = new Set(["date", "transfer-encoding", "connection", "keep-alive"]);

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(atob(text), (char) => char.charCodeAt(0));
}

/**
 * GET each of `paths` (and `/health`, which the bench polls) from `baseUrl` and keep the
 * status, headers and body, for {@linkcode replayHandler}.
 */
export async function captureResponses(baseUrl: string, paths: readonly string[]): Promise<Replay> {
  const replay: Replay = {};
  for (const path of new Set(["/health", ...paths])) {
    const response = await fetch(baseUrl + path);
    const body = new Uint8Array(await response.arrayBuffer());
    replay[path] = {
      status: response.status,
      headers: [...response.headers].filter(([name]) => !RUNTIME_HEADERS.has(name)),
      body: toBase64(body),
    };
  }
  return replay;
}

/** A handler answering each captured path with its response, and 404 to anything else. */
export function replayHandler(replay: Replay): (request: Request) => Response {
  const responses = new Map<string, Response>();
  for (const [path, captured] of Object.entries(replay)) {
    responses.set(
      path,
      new Response(fromBase64(captured.body), {
        status: captured.status,
        headers: captured.headers,
      }),
    );
  }
  const missing = new Response("not captured", { status: 404 });
  return (request) => {
    const url = request.url;
    const path = url.slice(url.indexOf("/", url.indexOf("//") + 2));
    return (responses.get(path) ?? missing).clone();
  };
}

if (import.meta.main) {
  const file = Deno.env.get("SWFT_BENCH_REPLAY");
  const body = new TextEncoder().encode("ok");
  const handler = file
    ? replayHandler(JSON.parse(Deno.readTextFileSync(file)))
    : () => new Response(body);
  Deno.serve(
    { hostname: "127.0.0.1", port: Number(Deno.env.get("PORT") ?? "8080"), onListen() {} },
    handler,
  );
}
