import assert from "node:assert/strict";
import http2 from "node:http2";
import { parseConfig } from "../config/mod.ts";
import { createApp } from "../routes/mod.ts";
import { formatTime } from "../routes/api.ts";
import { recordingLogger } from "./_log.ts";

const FIXED = new Date(2026, 0, 2, 3, 4, 5);
const app = createApp(parseConfig({}), { now: () => FIXED });

const SECURITY_HEADERS = {
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
};

function assertSecurityHeaders(response: Response) {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
    assert.equal(response.headers.get(name), value, name);
  }
  const csp = response.headers.get("content-security-policy") ?? "";
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /frame-ancestors 'none'/);
  const type = response.headers.get("content-type") ?? "";
  if (/^text\/html/.test(type)) {
    assert.match(csp, /script-src 'self'(;|$)/, "no inline or third-party scripts");
  } else if (/^application\/json/.test(type)) {
    assert.doesNotMatch(csp, /script-src/, "a non-document runs nothing");
  }
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:/);
}

Deno.test("GET / serves the page with heading, cards, message and hostname", async () => {
  const response = await app.request("/");
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "text/html; charset=utf-8");
  const body = await response.text();
  assert.match(body, /^<!DOCTYPE html>/);
  assert.match(body, /<title>SWFT Demo<\/title>/);
  assert.match(body, /<h1>Hello World!<\/h1>/);
  for (const card of ["Time", "Container ID", "Message"]) assert.match(body, new RegExp(card));
  assert.match(body, /<p class="value" id="hostname">local<\/p>/);
  assert.match(body, /<p class="value" id="message">SWFT Demo<\/p>/);
  assert.match(body, /<script src="\/static\/clock\.js" defer><\/script>/);
});

Deno.test("GET / loads nothing from a third-party host (works offline)", async () => {
  const body = await (await app.request("/")).text();
  for (const match of body.matchAll(/(?:src|href)="([^"]+)"/g)) {
    assert.ok(match[1].startsWith("/"), `${match[1]} is not served by this app`);
  }
  assert.doesNotMatch(body, /<script>/, "no inline script: the CSP forbids it");
});

Deno.test("GET / escapes hostile CUSTOM_MESSAGE and HOSTNAME values", async () => {
  const hostile = createApp(
    parseConfig({
      CUSTOM_MESSAGE: `<script>alert("x")</script><img src=x onerror=alert(1)>`,
      HOSTNAME: `"><svg onload=alert(1)>`,
    }),
  );
  const response = await hostile.request("/");
  assert.equal(response.status, 200);
  const body = await response.text();
  assert.doesNotMatch(body, /<script>alert/);
  assert.doesNotMatch(body, /<img src=x/);
  assert.doesNotMatch(body, /<svg onload/);
  assert.match(body, /&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt;/);
  assert.match(body, /&quot;&gt;&lt;svg onload=alert\(1\)&gt;/);
});

Deno.test("GET /theme.css follows BACKGROUND_COLOR; the page links it and needs no inline style", async () => {
  const colored = createApp(parseConfig({ BACKGROUND_COLOR: "#1E90FF" }));
  const page = await colored.request("/");
  const body = await page.text();
  assert.match(body, /<link rel="stylesheet" href="\/theme\.css">/);
  assert.doesNotMatch(body, /<style|style="/);
  const csp = page.headers.get("content-security-policy") ?? "";
  assert.match(csp, /style-src 'self'(;|$)/, "no inline style allowance");
  const theme = await colored.request("/theme.css");
  assert.equal(theme.status, 200);
  assert.equal(theme.headers.get("content-type"), "text/css; charset=utf-8");
  assert.match(
    await theme.text(),
    /^:root\{--bg:#1e90ff;--fg:#[0-9a-f]{6};--link:#[0-9a-f]{6}\}\n$/,
  );
  const tag = theme.headers.get("etag")!;
  const cached = await colored.request("/theme.css", { headers: { "if-none-match": tag } });
  assert.equal(cached.status, 304);
  const other = await createApp(parseConfig({ BACKGROUND_COLOR: "white" })).request("/theme.css");
  assert.notEqual(other.headers.get("etag"), tag, "another colour, another ETag");
  assert.equal(await other.text(), ":root{--bg:white;--fg:#111827;--link:#1d4ed8}\n");
});

Deno.test("GET /health answers {status: ok} as JSON", async () => {
  const response = await app.request("/health");
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "application/json");
  assert.equal(response.headers.get("cache-control"), "no-store");
  assert.deepEqual(await response.json(), { status: "ok" });
});

Deno.test("GET /time answers the server's local time as YYYY-MM-DD HH:MM:SS", async () => {
  const response = await app.request("/time");
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "application/json");
  assert.deepEqual(await response.json(), { time: "2026-01-02 03:04:05" });
});

Deno.test("GET /time moves with the clock", async () => {
  const live = createApp(parseConfig({}));
  const { time } = await (await live.request("/time")).json();
  assert.match(time, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
  const drift = Math.abs(new Date(time.replace(" ", "T")).getTime() - Date.now());
  assert.ok(drift < 5000, `server time ${time} is ${drift} ms from now`);
  assert.equal(formatTime(new Date(1999, 11, 31, 23, 59, 9)), "1999-12-31 23:59:09");
});

Deno.test("GET /static/* serves files with content types, ETag and no-cache", async () => {
  const cases: Array<[string, RegExp, string]> = [
    ["/static/style.css", /^text\/css/, "--bg"],
    ["/static/clock.js", /^text\/javascript/, "/time"],
    ["/static/author.html", /^text\/html/, "About SWFT"],
    ["/static/favicon.svg", /^image\/svg\+xml/, "<svg"],
  ];
  for (const [path, type, text] of cases) {
    const response = await app.request(path);
    assert.equal(response.status, 200, path);
    assert.match(response.headers.get("content-type") ?? "", type, path);
    assert.equal(response.headers.get("cache-control"), "no-cache", path);
    assert.match(response.headers.get("etag") ?? "", /^"[0-9a-z]+-[0-9a-z]{8,}"$/, path);
    assert.ok((await response.text()).includes(text), path);
  }
});

Deno.test("GET /static/* answers 304 to a matching If-None-Match, 200 to a stale one", async () => {
  const first = await app.request("/static/style.css");
  const tag = first.headers.get("etag")!;
  await first.body?.cancel();
  const cached = await app.request("/static/style.css", { headers: { "if-none-match": tag } });
  assert.equal(cached.status, 304);
  assert.equal(cached.headers.get("etag"), tag);
  assert.equal(await cached.text(), "");
  assertSecurityHeaders(cached);
  // Weak comparison (RFC 9110 13.1.2): a weak tag, a list holding the tag, and * match too.
  for (const ifNoneMatch of [`W/${tag}`, `"old", ${tag}`, "*"]) {
    const again = await app.request("/static/style.css", {
      headers: { "if-none-match": ifNoneMatch },
    });
    assert.equal(again.status, 304, `If-None-Match: ${ifNoneMatch}`);
  }
  const stale = await app.request("/static/style.css", { headers: { "if-none-match": '"old"' } });
  assert.equal(stale.status, 200);
  assert.ok((await stale.text()).length > 0);
});

Deno.test("GET /static/* and /theme.css: If-Match that does not hold gets 412 (RFC 9110 13.1.1)", async () => {
  for (const path of ["/static/style.css", "/theme.css"]) {
    const first = await app.request(path);
    const tag = first.headers.get("etag")!;
    await first.body?.cancel();
    for (const ifMatch of ['"other"', `W/${tag}`, '"a", "b"']) {
      const refused = await app.request(path, { headers: { "if-match": ifMatch } });
      assert.equal(refused.status, 412, `${path} If-Match: ${ifMatch}`);
      assert.equal(refused.headers.get("etag"), tag);
      assert.match(await refused.text(), /Precondition failed/);
      assertSecurityHeaders(refused);
      const head = await app.request(path, { method: "HEAD", headers: { "if-match": ifMatch } });
      assert.equal(head.status, 412, `HEAD ${path} If-Match: ${ifMatch}`);
    }
    for (const ifMatch of ["*", tag, `"a", ${tag}`]) {
      const served = await app.request(path, { headers: { "if-match": ifMatch } });
      assert.equal(served.status, 200, `${path} If-Match: ${ifMatch}`);
      assert.ok((await served.text()).length > 0);
    }
    // If-Match is evaluated first: a failing one wins over a matching If-None-Match.
    const both = await app.request(path, { headers: { "if-match": '"x"', "if-none-match": tag } });
    assert.equal(both.status, 412);
    await both.body?.cancel();
  }
});

Deno.test("GET /static/* never leaves static/, whatever the encoding", async () => {
  const attempts = [
    "/static/../deno.json",
    "/static/..%2fdeno.json",
    "/static/..%2Fdeno.json",
    "/static/%2e%2e/deno.json",
    "/static/%2e%2e%2fdeno.json",
    "/static/%252e%252e%252fdeno.json",
    "/static/..%5cdeno.json",
    "/static/..\\deno.json",
    "/static/.%2e/.%2e/deno.json",
    "/static//etc/passwd",
    "/static/%2fetc%2fpasswd",
    "/static/%c0%ae%c0%ae/deno.json",
    "/static/templates/../../main.ts",
    "/static/%00../deno.json",
  ];
  for (const path of attempts) {
    const response = await app.request(path);
    const body = await response.text();
    assert.equal(response.status, 404, path);
    assert.doesNotMatch(body, /"imports"|root:x:0:0|import\.meta\.main/, path);
  }
});

Deno.test("GET /static/ and missing files are 404, not a directory listing", async () => {
  for (const path of ["/static/", "/static", "/static/missing.css"]) {
    const response = await app.request(path);
    assert.equal(response.status, 404, path);
    assert.match(response.headers.get("content-type") ?? "", /^text\/html/, path);
  }
});

Deno.test("unknown paths get an HTML 404 page for browsers", async () => {
  const response = await app.request("/no/such/page", {
    headers: { accept: "text/html,application/xhtml+xml,*/*;q=0.8" },
  });
  assert.equal(response.status, 404);
  assert.equal(response.headers.get("content-type"), "text/html; charset=utf-8");
  const body = await response.text();
  assert.match(body, /<h1>404<\/h1>/);
  assert.match(body, /Not found/);
  assertSecurityHeaders(response);
});

Deno.test("unknown paths get a JSON 404 when the client asks for JSON", async () => {
  const response = await app.request("/api/missing", { headers: { accept: "application/json" } });
  assert.equal(response.status, 404);
  assert.match(response.headers.get("content-type") ?? "", /^application\/json/);
  assert.deepEqual(await response.json(), { error: "Not found", status: 404 });
  assertSecurityHeaders(response);
});

Deno.test("security headers are on pages, JSON, static files and errors", async () => {
  for (const path of ["/", "/health", "/time", "/static/style.css", "/missing"]) {
    const response = await app.request(path);
    await response.body?.cancel();
    assertSecurityHeaders(response);
  }
});

Deno.test("HEAD / answers like GET without a body", async () => {
  const response = await app.request("/", { method: "HEAD" });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "text/html; charset=utf-8");
  assert.equal(await response.text(), "");
});

Deno.test("HEAD answers carry the same Content-Length as GET, on every kind of path", async () => {
  for (const path of ["/", "/health", "/time", "/theme.css", "/static/style.css", "/missing"]) {
    const get = await app.request(path);
    const length = (await get.arrayBuffer()).byteLength;
    assert.ok(length > 0, path);
    assert.equal(get.headers.get("content-length"), String(length), `GET ${path}`);
    const head = await app.request(path, { method: "HEAD" });
    assert.equal(head.status, get.status, path);
    assert.equal(head.headers.get("content-length"), String(length), `HEAD ${path}`);
    assert.equal(await head.text(), "", path);
  }
});

Deno.test("other methods on a known path get 405 with Allow: GET, HEAD and security headers", async () => {
  const paths = ["/", "/health", "/time", "/theme.css", "/static/style.css"];
  for (const method of ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"]) {
    for (const path of paths) {
      const response = await app.request(path, { method });
      assert.equal(response.status, 405, `${method} ${path}`);
      assert.equal(response.headers.get("allow"), "GET, HEAD", `${method} ${path}`);
      assert.match(response.headers.get("content-type") ?? "", /^text\/html/);
      assert.match(await response.text(), /Method not allowed/);
      assertSecurityHeaders(response);
    }
  }
  const json = await app.request("/health", {
    method: "POST",
    headers: { accept: "application/json" },
  });
  assert.equal(json.status, 405);
  assert.deepEqual(await json.json(), { error: "Method not allowed", status: 405 });
  assertSecurityHeaders(json);
  for (const path of ["/missing", "/static/missing.css", "/static/.hidden"]) {
    const response = await app.request(path, { method: "POST" });
    await response.body?.cancel();
    assert.equal(response.status, 404, `POST ${path}: unknown paths stay 404`);
    assert.equal(response.headers.get("allow"), null);
  }
});

Deno.test("a Host that is not host[:port] gets 400 before routing", async () => {
  const hostile = [
    "x/static/style.css?",
    "x?",
    "x#y",
    "user@x",
    "x\\static",
    "a b",
    "x\ty",
    "",
    "[::1",
    "x:port",
    "a:99999",
    "a:65536",
  ];
  for (const host of hostile) {
    const response = await app.request("/health", { headers: { host } });
    assert.equal(response.status, 400, JSON.stringify(host));
    assert.match(await response.text(), /Host/);
    assertSecurityHeaders(response);
  }
  const valid = ["localhost", "example.com:8080", "10.0.0.1:80", "[::1]:8080", "my_app", "a:65535"];
  for (const host of valid) {
    const response = await app.request("/health", { headers: { host } });
    assert.equal(response.status, 200, host);
    assert.deepEqual(await response.json(), { status: "ok" });
  }
});

Deno.test("an unexpected error answers 500 without leaking the error, and is reported", async () => {
  const reported: unknown[] = [];
  const broken = createApp(parseConfig({}), {
    now: () => {
      throw new Error("secret internal detail");
    },
    onError: (error) => reported.push(error),
  });
  const response = await broken.request("/time", { headers: { accept: "application/json" } });
  assert.equal(response.status, 500);
  const body = await response.text();
  assert.doesNotMatch(body, /secret internal detail/);
  assert.deepEqual(JSON.parse(body), { error: "Internal server error", status: 500 });
  assert.equal(reported.length, 1);
  assertSecurityHeaders(response);
});

Deno.test("static ETags change with the content and only with it", async () => {
  const { contentTag } = await import("../routes/_content_tag.ts");
  const encode = (text: string) => new TextEncoder().encode(text);
  assert.equal(contentTag(encode("body{color:red}")), contentTag("body{color:red}"));
  const tags = new Set(
    ["body{color:red}", "body{color:red} ", "body{color:reD}", "ydob{color:red}", "", "a", "b"]
      .map((text) => contentTag(text)),
  );
  assert.equal(tags.size, 7);
});

async function withStaticRoot(
  populate: (static_: string) => void,
  run: (root: string) => Promise<void>,
) {
  const root = Deno.makeTempDirSync({ prefix: "swft-static-" });
  try {
    Deno.mkdirSync(`${root}/templates`);
    for (const entry of Deno.readDirSync(new URL("../templates", import.meta.url))) {
      Deno.copyFileSync(
        new URL(`../templates/${entry.name}`, import.meta.url),
        `${root}/templates/${entry.name}`,
      );
    }
    Deno.mkdirSync(`${root}/static`);
    populate(`${root}/static`);
    await run(root);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
}

Deno.test("static files: dotfiles and dot-folders are never served", async () => {
  await withStaticRoot((dir) => {
    Deno.writeTextFileSync(`${dir}/style.css`, "body{}");
    Deno.writeTextFileSync(`${dir}/.hidden`, "secret");
    Deno.mkdirSync(`${dir}/.git`);
    Deno.writeTextFileSync(`${dir}/.git/config`, "[remote] secret");
    Deno.mkdirSync(`${dir}/sub/.cache`, { recursive: true });
    Deno.writeTextFileSync(`${dir}/sub/ok.txt`, "fine");
    Deno.writeTextFileSync(`${dir}/sub/.cache/x.txt`, "secret");
  }, async (root) => {
    const served = createApp(parseConfig({}), { root });
    const ok = await served.request("/static/sub/ok.txt");
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get("content-type"), "text/plain; charset=utf-8");
    assert.equal(await ok.text(), "fine");
    for (const path of ["/static/.hidden", "/static/.git/config", "/static/sub/.cache/x.txt"]) {
      for (const encoded of [path, path.replaceAll(".", "%2e")]) {
        const response = await served.request(encoded);
        assert.equal(response.status, 404, encoded);
        assert.doesNotMatch(await response.text(), /secret/, encoded);
      }
    }
  });
});

Deno.test("static files: symbolic links are skipped with one warning at start-up", async () => {
  await withStaticRoot((dir) => {
    Deno.writeTextFileSync(`${dir}/style.css`, "body{}");
    Deno.symlinkSync("/etc/hostname", `${dir}/host.txt`);
    Deno.mkdirSync(`${dir}/real`);
    Deno.writeTextFileSync(`${dir}/real/a.txt`, "a");
    Deno.symlinkSync(`${dir}/real`, `${dir}/linked`);
  }, async (root) => {
    const warnings: Array<[string, Record<string, unknown>]> = [];
    const served = createApp(parseConfig({}), {
      root,
      warn: (message, fields) => warnings.push([message, fields]),
    });
    assert.equal(warnings.length, 1, "one warning for all links");
    assert.match(warnings[0][0], /symbolic links are not served/);
    assert.deepEqual(warnings[0][1].skipped, ["host.txt", "linked"]);
    for (const path of ["/static/host.txt", "/static/linked/a.txt"]) {
      const response = await served.request(path);
      await response.body?.cancel();
      assert.equal(response.status, 404, path);
    }
    assert.equal((await served.request("/static/real/a.txt")).status, 200);
    const quiet: unknown[] = [];
    createApp(parseConfig({}), { warn: (...args) => quiet.push(args) });
    assert.deepEqual(quiet, [], "the project's own static/ has no links");
  });
});

/** Send raw request bytes to a server on 127.0.0.1 and read the answer's head. */
async function rawRequest(port: number, text: string | Uint8Array): Promise<string> {
  const connection = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await connection.write(typeof text === "string" ? new TextEncoder().encode(text) : text);
    let answer = "";
    const buffer = new Uint8Array(16 * 1024);
    const decoder = new TextDecoder();
    while (!answer.includes("\r\n\r\n")) {
      const read = await connection.read(buffer);
      if (read === null) break;
      answer += decoder.decode(buffer.subarray(0, read));
    }
    return answer;
  } finally {
    connection.close();
  }
}

Deno.test("over a real socket: Host cannot change the route, a request with no Host is answered, HEAD has the length", async () => {
  const { startServer, withAccessLog } = await import("../server/mod.ts");
  const log = recordingLogger();
  const { logger } = log;
  const server = await startServer(withAccessLog(app.fetch, logger), {
    port: 0,
    host: "127.0.0.1",
    logger,
    shutdownTimeoutMs: 2000,
  });
  try {
    const { port } = server.addr;
    const ask = (head: string) => rawRequest(port, `${head}\r\nConnection: close\r\n\r\n`);
    const status = (answer: string) => answer.split("\r\n")[0];
    assert.equal(status(await ask("GET /health HTTP/1.1\r\nHost: localhost")), "HTTP/1.1 200 OK");
    const injected = await ask("GET /health HTTP/1.1\r\nHost: x/static/style.css?");
    assert.equal(status(injected), "HTTP/1.1 400 Bad Request");
    assert.doesNotMatch(injected, /text\/css/);
    for (const host of ["a b", "u@x", "x#", "x\\y", ""]) {
      const answer = await ask(`GET /health HTTP/1.1\r\nHost: ${host}`);
      assert.equal(status(answer), "HTTP/1.1 400 Bad Request", JSON.stringify(host));
    }
    // No Host at all: Deno fills in localhost:PORT, nothing of the client's reaches the URL.
    // HTTP/1.0 health checks send none (HAProxy: `OPTIONS / HTTP/1.0`). Deno does not tell the
    // handler the HTTP version, so an HTTP/1.1 request without Host is answered the same way.
    assert.equal(status(await ask("GET /health HTTP/1.0")), "HTTP/1.0 200 OK");
    assert.equal(status(await ask("OPTIONS / HTTP/1.0")), "HTTP/1.0 405 Method Not Allowed");
    assert.equal(status(await ask("GET /health HTTP/1.1")), "HTTP/1.1 200 OK");
    assert.equal(
      status(await ask("GET /health HTTP/1.1\r\nHost: a:99999")),
      "HTTP/1.1 400 Bad Request",
    );
    // An absolute-form target puts its authority in the URL: held to the same rule.
    assert.equal(
      status(await ask("GET http://x:99999/health HTTP/1.1\r\nHost: localhost")),
      "HTTP/1.1 400 Bad Request",
    );
    // A Host whose bytes are not ASCII: the log must still name the request target.
    for (const bytes of [[0xc2, 0xa0], [0xff]]) {
      await rawRequest(
        port,
        new Uint8Array([
          ...new TextEncoder().encode("GET /health HTTP/1.1\r\nConnection: close\r\nHost: x"),
          ...bytes,
          ...new TextEncoder().encode("/wp-admin/install.php?\r\n\r\n"),
        ]),
      );
    }
    const head = await ask("HEAD /static/style.css HTTP/1.1\r\nHost: localhost");
    const size = (await Deno.stat(new URL("../static/style.css", import.meta.url))).size;
    assert.equal(status(head), "HTTP/1.1 200 OK");
    assert.match(head, new RegExp(`\r\ncontent-length: ${size}\r\n`, "i"));
    const post = await ask("POST /health HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0");
    assert.equal(status(post), "HTTP/1.1 405 Method Not Allowed");
    assert.match(post, /\r\nallow: GET, HEAD\r\n/i);
    await ask("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443");
    await ask("GET /time?token=secret HTTP/1.1\r\nHost: localhost");
  } finally {
    await server.shutdown();
  }
  const paths = log.lines().map((line) => `${line.method} ${line.path} ${line.status}`);
  assert.ok(paths.some((path) => /^CONNECT \/ \d{3}$/.test(path)), paths.join("; "));
  assert.equal(paths[1], "GET /health 400", "the refused Host is not logged as the path");
  assert.ok(!paths.some((path) => path.includes("wp-admin")), paths.join("; "));
  assert.equal(paths.filter((path) => path === "GET /health 400").length, 10, paths.join("; "));
  assert.ok(paths.includes("GET /time 200"), "the query string is not logged");
  assert.doesNotMatch(log.text(), /secret/);
});

Deno.test("the fast path and Hono's routes answer alike: with a query string, encoded, HEAD", async () => {
  for (const path of ["/", "/health", "/theme.css", "/static/style.css"]) {
    const fast = await app.request(path);
    const routed = await app.request(`${path}?x=1`);
    assert.equal(routed.status, fast.status, path);
    assert.deepEqual([...routed.headers], [...fast.headers], path);
    assert.equal(await routed.text(), await fast.text(), path);
  }
  const encoded = await app.request("/static/%73tyle.css");
  assert.equal(encoded.status, 200);
  assert.match(await encoded.text(), /--bg/);
});

Deno.test("one route table: the fast path is read from Hono's routes, so a route is registered once", async () => {
  const { fastPath, getRaw } = await import("../routes/_fast_path.ts");
  const routed = createApp(parseConfig({}), { now: () => FIXED });
  // Added after createApp, as a caller would: one registration, on the fast path too.
  getRaw(routed, "/extra", () => new Response("extra"));
  const fast = fastPath(routed);
  for (const path of ["/", "/health", "/ready", "/time", "/theme.css", "/extra"]) {
    assert.equal(typeof fast.handler(path), "function", path);
    assert.equal(fast.pattern(path), path);
  }
  assert.equal(typeof fast.handler("/static/style.css"), "function");
  assert.equal(fast.pattern("/static/style.css"), "/static/*", "the pattern comes from the route");
  assert.equal(fast.handler("/static/missing.css"), undefined);
  assert.equal(fast.handler("/missing"), undefined);
  const extra = await routed.request("/extra");
  assert.equal(await extra.text(), "extra");
  const head = await routed.request("/extra", { method: "HEAD" });
  assert.equal(head.status, 200, "Hono holds the route: HEAD through GET");
  await head.body?.cancel();
});

Deno.test("METRICS=prometheus: /metrics counts and times requests by route pattern, never the raw path", async () => {
  const { createMetrics } = await import("../routes/metrics.ts");
  const metrics = await createMetrics({ version: "9.9.9", revision: "abc123" });
  const measured = createApp(parseConfig({ METRICS: "prometheus" }), { metrics });
  const paths = ["/health", "/health", "/static/style.css", "/static/clock.js", "/?x=1"];
  for (let i = 0; i < 30; i++) paths.push(`/secret-${i}`);
  for (const path of paths) await (await measured.request(path)).body?.cancel();
  await (await measured.request("/health", { method: "POST" })).body?.cancel();
  await (await measured.request("/", { method: "HEAD" })).body?.cancel();

  const response = await measured.request("/metrics");
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  assert.equal(response.headers.get("cache-control"), "no-store");
  assertSecurityHeaders(response);
  const text = await response.text();
  const count = (labels: string) =>
    Number(text.match(new RegExp(`^http_requests_total\\{${labels}\\} (\\d+)$`, "m"))?.[1]);
  assert.equal(count('method="GET",route="/health",status="200"'), 2);
  assert.equal(count('method="GET",route="/static/\\*",status="200"'), 2);
  assert.equal(count('method="GET",route="/",status="200"'), 1, "a query string is no new route");
  assert.equal(count('method="GET",route="unmatched",status="404"'), 30);
  assert.equal(count('method="POST",route="unmatched",status="405"'), 1);
  assert.equal(count('method="HEAD",route="/",status="200"'), 1);
  assert.doesNotMatch(text, /secret|style\.css|clock\.js/, "no raw path becomes a label");
  assert.match(
    text,
    /^http_request_duration_seconds_bucket\{le="0\.001",method="GET",route="\/health",status="200"\} \d+$/m,
  );
  assert.match(
    text,
    /^http_request_duration_seconds_count\{method="GET",route="\/health",status="200"\} 2$/m,
  );
  assert.match(text, /^http_requests_in_flight 1$/m, "the /metrics request itself");
  const started = Number(text.match(/^process_start_time_seconds (\S+)$/m)?.[1]);
  assert.ok(Math.abs(started - performance.timeOrigin / 1000) < 1, String(started));
  assert.match(text, /^swft_build_info\{version="9\.9\.9",revision="abc123",deno="[\d.]+"\} 1$/m);
});

Deno.test("METRICS off (the default): no /metrics, and prom-client is only a dynamic import", async () => {
  const response = await app.request("/metrics");
  await response.body?.cancel();
  assert.equal(response.status, 404);
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "main.ts"],
    cwd: new URL("..", import.meta.url).pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
  const graph = JSON.parse(new TextDecoder().decode(output.stdout));
  const edges: Array<{ from: string; to: string; dynamic: boolean }> = [];
  for (const module of graph.modules) {
    for (const dependency of module.dependencies ?? []) {
      const to = dependency.code?.specifier ?? dependency.specifier;
      edges.push({ from: module.specifier, to, dynamic: dependency.isDynamic === true });
    }
  }
  const toClient = edges.filter((edge) => edge.to.includes("prom-client"));
  assert.ok(toClient.length > 0, "main.ts can load prom-client");
  assert.ok(toClient.every((edge) => edge.dynamic), JSON.stringify(toClient));
});

/** WCAG 2 relative luminance of `#rrggbb`, written here independently of the app's library. */
function luminance(hex: string): number {
  const [r, g, b] = [1, 3, 5].map((at) => {
    const c = parseInt(hex.slice(at, at + 2), 16) / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

function contrast(a: string, b: string): number {
  const [x, y] = [luminance(a), luminance(b)];
  return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
}

async function themeOf(background: string): Promise<Record<string, string>> {
  const css = await (await createApp(parseConfig({ BACKGROUND_COLOR: background }))
    .request("/theme.css")).text();
  return Object.fromEntries([...css.matchAll(/--(\w+):([^;}]+)/g)].map((m) => [m[1], m[2]]));
}

Deno.test("theme: text and links reach 4.5:1 contrast on every named colour and sampled hex", async () => {
  const { CSS_COLOR_NAMES } = await import("../config/_css_colors.ts");
  const { colord } = await import("colord");
  // Hex values of the names from the library's table, checked against a few known ones.
  const { extend } = await import("colord");
  extend([(await import("colord/plugins/names")).default]);
  assert.equal(colord("steelblue").toHex(), "#4682b4");
  assert.equal(colord("rebeccapurple").toHex(), "#663399");
  const backgrounds: Array<[string, string]> = [...CSS_COLOR_NAMES].map((name) => {
    const hex = colord(name).toHex();
    assert.match(hex, /^#[0-9a-f]{6}$/, `${name} is a known colour`);
    return [name, hex];
  });
  // Every grey, and a deterministic spread over the cube (mid luminances are the hard cases).
  for (let v = 0; v < 256; v += 5) {
    const h = v.toString(16).padStart(2, "0");
    backgrounds.push([`#${h}${h}${h}`, `#${h}${h}${h}`]);
  }
  let seed = 7;
  for (let i = 0; i < 300; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const hex = `#${seed.toString(16).padStart(6, "0").slice(-6)}`;
    backgrounds.push([hex, hex]);
  }
  backgrounds.push(["#abc", "#aabbcc"], ["#000", "#000000"], ["#fff", "#ffffff"]);
  for (const [background, hex] of backgrounds) {
    const theme = await themeOf(background);
    assert.equal(theme.bg, background);
    for (const role of ["fg", "link"]) {
      const ratio = contrast(hex, theme[role]);
      assert.ok(ratio >= 4.5, `${role} ${theme[role]} on ${background}: ${ratio.toFixed(2)}:1`);
    }
  }
});

Deno.test("theme: black gets light text, white dark text; translucent hex is seen over white", async () => {
  assert.deepEqual(await themeOf("black"), { bg: "black", fg: "#ffffff", link: "#bfdbfe" });
  assert.deepEqual(await themeOf("white"), { bg: "white", fg: "#111827", link: "#1d4ed8" });
  const clear = await themeOf("#00000000");
  assert.equal(clear.fg, "#111827", "a transparent background shows the white canvas");
  const steel = await themeOf("steelblue");
  assert.ok(contrast("#4682b4", steel.link) >= 4.5, `link ${steel.link} on steelblue`);
});

Deno.test("the page and author.html use the theme, with no inline style", async () => {
  for (const path of ["/", "/static/author.html"]) {
    const body = await (await app.request(path)).text();
    assert.match(body, /<link rel="stylesheet" href="\/static\/style\.css">/, path);
    assert.match(body, /<link rel="stylesheet" href="\/theme\.css">/, path);
    assert.doesNotMatch(body, /<style|style="/, path);
  }
  const css = await (await app.request("/static/style.css")).text();
  assert.match(css, /body \{[^}]*color: var\(--fg\)/);
  assert.match(css, /\na \{\s*color: var\(--link\)/);
});

/** One HTTP/2 cleartext (prior knowledge) request with these pseudo-headers and headers. */
function h2Request(
  port: number,
  headers: Record<string, string>,
): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", (error) => resolve({ error: String(error) }));
    const stream = session.request({ ":method": "GET", ...headers });
    let status = 0;
    let body = "";
    stream.on("response", (head) => status = Number(head[":status"]));
    stream.setEncoding("utf8");
    stream.on("data", (chunk) => body += chunk);
    stream.on("end", () => {
      session.close();
      resolve({ status, body });
    });
    stream.on("error", (error) => {
      session.close();
      resolve({ error: String(error) });
    });
    stream.end();
  });
}

Deno.test("h2c (HTTP/2 prior knowledge): answered like HTTP/1.1, validated on :authority", async () => {
  const { startServer } = await import("../server/mod.ts");
  const { createLogger } = await import("../server/logger.ts");
  const logger = createLogger({ level: "error", format: "json", write: () => {} });
  const server = await startServer(app.fetch, {
    port: 0,
    host: "127.0.0.1",
    logger,
    shutdownTimeoutMs: 2000,
  });
  const { port } = server.addr;
  try {
    const authority = `127.0.0.1:${port}`;
    const health = await h2Request(port, { ":path": "/health", ":authority": authority });
    assert.deepEqual(health, { status: 200, body: '{"status":"ok"}' });
    const css = await h2Request(port, { ":path": "/static/style.css", ":authority": authority });
    assert.ok("status" in css && css.status === 200 && css.body.includes("--bg"));
    // The authority is the client's choice, as a Host is: held to the same rule.
    const badPort = await h2Request(port, { ":path": "/health", ":authority": "a:99999" });
    assert.ok("status" in badPort && badPort.status === 400, JSON.stringify(badPort));
    const badHost = await h2Request(port, {
      ":path": "/health",
      ":authority": authority,
      host: "x/static/style.css?",
    });
    assert.ok("status" in badHost && badHost.status === 400, JSON.stringify(badHost));
    // Deno's HTTP/2 stack refuses an authority that is not one (the stream is reset)...
    const broken = await h2Request(port, { ":path": "/health", ":authority": "x/static?" });
    assert.ok("error" in broken, JSON.stringify(broken));
    // ...and goes on serving.
    const after = await h2Request(port, { ":path": "/health", ":authority": authority });
    assert.deepEqual(after, { status: 200, body: '{"status":"ok"}' });
  } finally {
    await server.shutdown();
  }
});
