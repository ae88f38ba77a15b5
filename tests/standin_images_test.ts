/** images:standin: where the Debian packages come from, and its refusals. */
import assert from "node:assert/strict";
import { runDeno } from "../tasks/_lib/mod.ts";
import {
  debianMirror,
  DENO_STANDIN,
  DISTROLESS_STANDIN,
  findDebianMirror,
} from "../tasks/standin_images.ts";

Deno.test("images:standin uses the Debian mirror of this machine's deb822 sources", () => {
  const sources = [
    "Types: deb\n# http://snapshot.example/archive/debian/20250520T000000Z\n" +
    "URIs: http://mirror.example/debian\nSuites: bookworm\nComponents: main\n",
  ];
  assert.equal(findDebianMirror(sources), "http://mirror.example/debian");
});

Deno.test("images:standin reads one-line sources and skips non-Debian repositories", () => {
  const sources = [
    "deb https://packages.example/apt cloud-sdk-bookworm main\n",
    "# deb http://commented.example/debian bookworm main\n" +
    "deb [signed-by=/usr/share/keyrings/k.gpg] http://ftp.example/debian/ bookworm main\n",
  ];
  assert.equal(findDebianMirror(sources), "http://ftp.example/debian");
});

Deno.test("images:standin takes SWFT_DEBIAN_MIRROR first and has no built-in mirror", () => {
  const apt = ["deb http://ftp.example/debian bookworm main\n"];
  assert.equal(debianMirror("http://env.example/debian", apt), "http://env.example/debian");
  assert.equal(debianMirror(undefined, apt), "http://ftp.example/debian");
  assert.equal(findDebianMirror([]), undefined);
  assert.equal(findDebianMirror(["URIs: http://archive.example/ubuntu\n"]), undefined);
  assert.throws(
    () => debianMirror(undefined, ["URIs: http://archive.example/ubuntu\n"]),
    /^Error: no Debian mirror: set SWFT_DEBIAN_MIRROR .* or add a Debian source to \/etc\/apt\/sources\.list/,
  );
});

Deno.test("images:standin never tags the official image names", () => {
  for (const tag of [DENO_STANDIN, DISTROLESS_STANDIN]) assert.match(tag, /^swft-standin\//);
});

Deno.test("images:standin rejects unknown arguments with exit code 2 and the usage hint", async () => {
  const task = new URL("../tasks/standin_images.ts", import.meta.url).pathname;
  const { code, stderr } = await runDeno(["run", "--allow-all", task, "--frce"]);
  assert.equal(code, 2);
  assert.match(stderr, /^images:standin: Unknown option '--frce'.*\nRun with --help for usage\./);
});
