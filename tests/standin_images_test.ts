/** images:standin: where the Debian packages come from, and its refusals. */
import assert from "node:assert/strict";
import { DENO_STANDIN, DISTROLESS_STANDIN, findDebianMirror } from "../tasks/standin_images.ts";

Deno.test("images:standin uses the Debian mirror of this machine's deb822 sources", () => {
  const sources = [
    "Types: deb\n# http://snapshot.debian.org/archive/debian/20250520T000000Z\n" +
    "URIs: http://mirror.example/debian\nSuites: bookworm\nComponents: main\n",
  ];
  assert.equal(findDebianMirror(sources), "http://mirror.example/debian");
});

Deno.test("images:standin reads one-line sources and skips non-Debian repositories", () => {
  const sources = [
    "deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main\n",
    "# deb http://commented.example/debian bookworm main\n" +
    "deb [signed-by=/usr/share/keyrings/k.gpg] http://ftp.example/debian/ bookworm main\n",
  ];
  assert.equal(findDebianMirror(sources), "http://ftp.example/debian");
});

Deno.test("images:standin falls back to deb.debian.org without Debian sources", () => {
  assert.equal(findDebianMirror([]), "http://deb.debian.org/debian");
  assert.equal(
    findDebianMirror(["URIs: http://archive.ubuntu.com/ubuntu\n"]),
    "http://deb.debian.org/debian",
  );
});

Deno.test("images:standin never tags the official image names", () => {
  for (const tag of [DENO_STANDIN, DISTROLESS_STANDIN]) assert.match(tag, /^swft-standin\//);
});

Deno.test("images:standin rejects unknown arguments with exit code 2", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      new URL("../tasks/standin_images.ts", import.meta.url).pathname,
      "--frce",
    ],
    stdin: "null",
  }).output();
  assert.equal(output.code, 2);
  assert.match(new TextDecoder().decode(output.stderr), /unknown argument "--frce"/);
});
