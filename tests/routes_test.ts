import assert from "node:assert/strict";
import { parseConfig } from "../config.ts";
import { createApp } from "../routes/mod.ts";
import { formatTime } from "../routes/api.ts";

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
  assert.equal(await theme.text(), ":root{--bg:#1e90ff}\n");
  const tag = theme.headers.get("etag")!;
  const cached = await colored.request("/theme.css", { headers: { "if-none-match": tag } });
  assert.equal(cached.status, 304);
  const other = await createApp(parseConfig({ BACKGROUND_COLOR: "white" })).request("/theme.css");
  assert.notEqual(other.headers.get("etag"), tag, "another colour, another ETag");
  assert.equal(await other.text(), ":root{--bg:white}\n");
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
  const stale = await app.request("/static/style.css", { headers: { "if-none-match": '"old"' } });
  assert.equal(stale.status, 200);
  assert.ok((await stale.text()).length > 0);
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
