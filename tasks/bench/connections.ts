/**
 * What connections cost a server: RSS with a number of idle keep-alive connections held
 * (each has answered one request, as a browser's or a balancer's would), and RSS once they
 * are closed again (the connection storm's lasting cost). Bounded: at most
 * {@linkcode MAX_STORM} connections, to 127.0.0.1 only, each opened, asked once and closed by
 * this process.
 *
 * @module
 */
import { delay } from "../_lib/mod.ts";

/** The most connections a storm opens. */
export const MAX_STORM = 5000;

/** One server's connection figures. */
export interface ConnectionRow {
  /** The bench target. */
  target: string;
  /** Connections held at once. */
  connections: number;
  /** RSS before the connections were opened. */
  rssBeforeBytes: number;
  /** RSS with them held. */
  rssHeldBytes: number;
  /** RSS after they were closed. */
  rssAfterBytes: number;
  /** `(held - before) / connections`. */
  perConnectionBytes: number;
  /** `after - before`: what the storm left behind. */
  afterStormBytes: number;
}

/** Options of {@linkcode measureConnections}. */
export interface StormOptions {
  /** Connections to hold at once, at most {@linkcode MAX_STORM}. */
  count: number;
  /** Reads the server's RSS in bytes. */
  rss: () => Promise<number>;
  /** How long to wait after opening and after closing before reading RSS. Default 1500 ms. */
  settleMs?: number;
}

const REQUEST = new TextEncoder().encode("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");

/** Open `count` connections to `port`, each answered once; the ones that fail are not kept. */
async function openIdle(port: number, count: number): Promise<Deno.TcpConn[]> {
  const conns: Deno.TcpConn[] = [];
  const buffer = new Uint8Array(4096);
  for (let i = 0; i < count; i++) {
    let conn: Deno.TcpConn | undefined;
    try {
      conn = await Deno.connect({ hostname: "127.0.0.1", port });
      await conn.write(REQUEST);
      if (await conn.read(buffer) === null) throw new Error("Cannot read an answer: closed");
      conns.push(conn);
    } catch {
      conn?.close();
    }
  }
  return conns;
}

/**
 * Hold `options.count` idle keep-alive connections to the server at `url` (127.0.0.1), then
 * close them, reading its RSS before, while held and after.
 *
 * @throws {Error} when the URL is not on 127.0.0.1, or fewer than 95 % of the connections
 * could be opened (the figures would not be per connection)
 */
export async function measureConnections(
  target: string,
  url: string,
  options: StormOptions,
): Promise<ConnectionRow> {
  const { hostname, port } = new URL(url);
  if (hostname !== "127.0.0.1") {
    throw new Error(`Cannot storm ${url}: the bench only opens connections to 127.0.0.1`);
  }
  const count = Math.min(options.count, MAX_STORM);
  const settleMs = options.settleMs ?? 1500;
  const rssBeforeBytes = await options.rss();
  const conns = await openIdle(Number(port), count);
  let rssHeldBytes;
  try {
    if (conns.length < count * 0.95) {
      throw new Error(
        `Cannot measure connections of ${target}: ${conns.length} of ${count} could be opened`,
      );
    }
    await delay(settleMs);
    rssHeldBytes = await options.rss();
  } finally {
    for (const conn of conns) conn.close();
  }
  await delay(settleMs);
  const rssAfterBytes = await options.rss();
  return {
    target,
    connections: conns.length,
    rssBeforeBytes,
    rssHeldBytes,
    rssAfterBytes,
    perConnectionBytes: (rssHeldBytes - rssBeforeBytes) / conns.length,
    afterStormBytes: rssAfterBytes - rssBeforeBytes,
  };
}
