/**
 * Builds local stand-ins for the Dockerfile's two base images from Debian 13 ("trixie")
 * packages, for machines that reach Debian's mirror but no container registry:
 *
 * - `swft-standin/deno:2.9.6` for `denoland/deno:2.9.6`: `debootstrap --variant=minbase`,
 *   the deno binary at /usr/bin/deno, this machine's CA bundle with
 *   `DENO_TLS_CA_STORE=system` (so a TLS-intercepting proxy is trusted) and `DENO_DIR=/deno-dir/`.
 * - `swft-standin/distroless-cc-debian13:nonroot` for `gcr.io/distroless/cc-debian13:nonroot`:
 *   the distroless cc package set unpacked with `dpkg-deb -x` (no maintainer scripts, no shell,
 *   no dpkg or apt), the nonroot user 65532 and its home.
 *
 * Idempotent: an image that already exists is kept (`--force` rebuilds both). Downloads are
 * cached under `$SWFT_STANDIN_CACHE` (default `~/.cache/swft-standin`); the Debian mirror comes
 * from `$SWFT_DEBIAN_MIRROR`, else from this machine's APT sources (/etc/apt/sources.list and
 * sources.list.d, one-line and deb822), else the task stops saying so. Needs root,
 * debootstrap, apt-get, dpkg-deb, tar and a Docker engine.
 *
 * @example
 * ```sh
 * deno task images:standin            # build what is missing
 * deno task images:standin --force    # rebuild both
 * docker build --build-arg DENO_IMAGE=swft-standin/deno:2.9.6 \
 *   --build-arg RUNTIME_IMAGE=swft-standin/distroless-cc-debian13:nonroot --target runtime-deno .
 * ```
 *
 * @module
 */

import {
  CleanupStack,
  CommandError,
  DENO_VERSION,
  dockerOk,
  engineVersion,
  imageId,
  parseFlags,
  progress,
  realBaseImages,
  runOk,
  runTask,
  spawn,
  STANDIN_IMAGES,
  succeeds,
  tempDir,
} from "./_lib/mod.ts";

/** Tag of the stand-in for the Dockerfile's default `DENO_IMAGE`. */
export const DENO_STANDIN: string = STANDIN_IMAGES.deno;
/** Tag of the stand-in for the Dockerfile's default `RUNTIME_IMAGE`. */
export const DISTROLESS_STANDIN: string = STANDIN_IMAGES.runtime;

const SUITE = "trixie";
const KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg";
/** The packages of Google's distroless `cc` image (base + libgcc/libgomp/libstdc++). */
const DISTROLESS_PACKAGES = [
  "base-files",
  "netbase",
  "tzdata",
  "ca-certificates",
  "libc6",
  "libssl3t64",
  "libgcc-s1",
  "libgomp1",
  "libstdc++6",
];
const PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

class StandinError extends Error {}

function log(message: string): void {
  progress("images:standin", message);
}

/**
 * The Debian mirror this machine's APT uses, so the stand-ins come from the same place;
 * `undefined` when no source is a Debian archive.
 */
export function findDebianMirror(sources: string[]): string | undefined {
  for (const text of sources) {
    for (const line of text.split("\n")) {
      const trimmed = line.trim();
      if (trimmed.startsWith("#")) continue;
      const candidates = trimmed.startsWith("URIs:")
        ? trimmed.slice(5).trim().split(/\s+/)
        : trimmed.startsWith("deb ")
        ? trimmed.replace(/\[[^\]]*\]/, "").split(/\s+/).slice(1, 2)
        : [];
      for (const uri of candidates) {
        if (/^https?:\/\/\S+\/debian\/?$/.test(uri)) return uri.replace(/\/$/, "");
      }
    }
  }
  return undefined;
}

function readAptSources(): string[] {
  const texts: string[] = [];
  const tryRead = (path: string) => {
    try {
      texts.push(Deno.readTextFileSync(path));
    } catch { /* absent files are fine */ }
  };
  tryRead("/etc/apt/sources.list");
  try {
    for (const entry of Deno.readDirSync("/etc/apt/sources.list.d")) {
      if (/\.(list|sources)$/.test(entry.name)) tryRead(`/etc/apt/sources.list.d/${entry.name}`);
    }
  } catch { /* no sources.list.d */ }
  return texts;
}

/** Streams `tar -C dir -c .` into `docker import` with the given Dockerfile changes. */
async function importRootfs(dir: string, tag: string, changes: string[]): Promise<void> {
  const tar = spawn("tar", { args: ["-C", dir, "--numeric-owner", "-c", "."], stderr: "inherit" });
  const docker = spawn("docker", {
    args: ["import", ...changes.flatMap((c) => ["--change", c]), "-", tag],
    stdin: "piped",
    stdout: "null",
    stderr: "inherit",
  });
  await tar.stdout.pipeTo(docker.stdin);
  const [tarStatus, dockerStatus] = await Promise.all([tar.status, docker.status]);
  if (!tarStatus.success) throw new StandinError(`tar of ${dir} failed`);
  if (!dockerStatus.success) throw new StandinError(`docker import of ${tag} failed`);
}

function labels(description: string, replaces: string): string[] {
  const created = new Date().toISOString();
  return [
    `LABEL org.opencontainers.image.title="SWFT stand-in for ${replaces}"`,
    `LABEL org.opencontainers.image.description="${description}"`,
    `LABEL org.opencontainers.image.created=${created}`,
  ];
}

async function removeTree(path: string): Promise<void> {
  await Deno.remove(path, { recursive: true }).catch(() => {});
}

/** Empties a directory the way Debian's slim images do, keeping the directory itself. */
async function emptyDir(path: string, keep: (name: string) => boolean = () => false) {
  try {
    for await (const entry of Deno.readDir(path)) {
      if (!keep(entry.name)) await removeTree(`${path}/${entry.name}`);
    }
  } catch { /* absent */ }
}

/** Keeps each package's copyright file (licence obligations) and drops the rest of the docs. */
async function pruneDocs(root: string): Promise<void> {
  for (const dir of ["usr/share/man", "usr/share/info", "usr/share/locale", "usr/share/lintian"]) {
    await emptyDir(`${root}/${dir}`);
  }
  try {
    for await (const pkg of Deno.readDir(`${root}/usr/share/doc`)) {
      if (pkg.isDirectory) {
        await emptyDir(`${root}/usr/share/doc/${pkg.name}`, (n) => n === "copyright");
      }
    }
  } catch { /* no docs */ }
}

async function denoBinary(cacheDir: string): Promise<string> {
  // The deno that runs this task is the one the project pins; reuse it when the version matches.
  if (Deno.version.deno === DENO_VERSION) return await Deno.realPath(Deno.execPath());
  const dir = `${cacheDir}/npm-deno-${DENO_VERSION}`;
  const binary = `${dir}/package/deno`;
  if (await succeeds("test", ["-x", binary])) return binary;
  await Deno.mkdir(dir, { recursive: true });
  log(`fetching deno ${DENO_VERSION} from the npm registry (@deno/linux-x64-glibc)`);
  const packed =
    (await runOk("npm", ["pack", "--silent", `@deno/linux-x64-glibc@${DENO_VERSION}`], {
      cwd: dir,
    })).split("\n").pop()!;
  await runOk("tar", ["-xzf", packed, "-C", dir], { cwd: dir });
  await Deno.chmod(binary, 0o755);
  return binary;
}

interface BuildContext {
  mirror: string;
  cacheDir: string;
  tempDir: string;
}

async function buildDenoStandin(ctx: BuildContext): Promise<void> {
  const root = `${ctx.tempDir}/deno-rootfs`;
  const debs = `${ctx.cacheDir}/debootstrap`;
  await Deno.mkdir(debs, { recursive: true });
  log(`debootstrap --variant=minbase ${SUITE} from ${ctx.mirror} (about a minute)`);
  await runOk("debootstrap", [
    "--variant=minbase",
    `--cache-dir=${debs}`,
    SUITE,
    root,
    ctx.mirror,
  ]);
  // As debian:*-slim: no package lists, caches, locales or man pages.
  await emptyDir(`${root}/var/lib/apt/lists`, (n) => n === "partial" || n === "lock");
  await emptyDir(`${root}/var/cache/apt`, (n) => n === "archives");
  await emptyDir(`${root}/var/cache/apt/archives`, (n) => n === "partial" || n === "lock");
  await emptyDir(`${root}/var/log`);
  await pruneDocs(root);

  await Deno.copyFile(await denoBinary(ctx.cacheDir), `${root}/usr/bin/deno`);
  await Deno.chmod(`${root}/usr/bin/deno`, 0o755);

  // This machine's bundle: it holds the CA of a TLS-intercepting proxy where there is one.
  const caBundle = Deno.env.get("DENO_CERT") ?? "/etc/ssl/certs/ca-certificates.crt";
  await Deno.mkdir(`${root}/etc/ssl/certs`, { recursive: true });
  try {
    await Deno.copyFile(caBundle, `${root}/etc/ssl/certs/ca-certificates.crt`);
  } catch {
    log(`warning: no CA bundle at ${caBundle}; deno in the stand-in uses its built-in roots`);
  }

  // The official image's user and cache directory.
  await Deno.writeTextFile(`${root}/etc/passwd`, "deno:x:1993:1993::/home/deno:/bin/sh\n", {
    append: true,
  });
  await Deno.writeTextFile(`${root}/etc/group`, "deno:x:1993:\n", { append: true });
  await Deno.mkdir(`${root}/deno-dir`, { recursive: true });
  await Deno.chown(`${root}/deno-dir`, 1993, 1993);
  await Deno.writeTextFile(
    `${root}/usr/local/bin/docker-entrypoint.sh`,
    [
      "#!/bin/sh",
      "# As the official image: run deno unless the first argument is a program.",
      "set -e",
      'if [ "$#" -eq 0 ] || ! command -v -- "$1" >/dev/null 2>&1; then set -- deno "$@"; fi',
      'exec "$@"',
      "",
    ].join("\n"),
    { mode: 0o755 },
  );

  log(`importing ${DENO_STANDIN}`);
  await importRootfs(root, DENO_STANDIN, [
    `ENV ${PATH_ENV}`,
    "ENV DENO_DIR=/deno-dir/",
    "ENV DENO_INSTALL_ROOT=/usr/local",
    "ENV DENO_TLS_CA_STORE=system",
    "ENV DENO_USE_CGROUPS=1",
    "ENV DENO_NO_UPDATE_CHECK=1",
    `ENV DENO_VERSION=${DENO_VERSION}`,
    'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]',
    'CMD ["--version"]',
    ...labels(
      `Debian ${SUITE} minbase + deno ${DENO_VERSION} from the npm registry`,
      realBaseImages().deno,
    ),
  ]);
  await removeTree(root);
}

async function buildDistrolessStandin(ctx: BuildContext): Promise<void> {
  const debs = await downloadDistrolessDebs(ctx);
  const root = `${ctx.tempDir}/distroless-rootfs`;
  await unpackDebs(debs, root);
  await bundleCaCertificates(root);
  await pruneDocs(root);
  for (const dir of ["usr/share/gdb", "usr/share/gcc", "etc/update-motd.d", "etc/profile.d"]) {
    await removeTree(`${root}/${dir}`);
  }
  await addDistrolessUsers(root);

  log(`importing ${DISTROLESS_STANDIN}`);
  await importRootfs(root, DISTROLESS_STANDIN, [
    `ENV ${PATH_ENV}`,
    "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
    "USER 65532",
    "WORKDIR /home/nonroot",
    ...labels(
      `Debian ${SUITE} packages ${DISTROLESS_PACKAGES.join(",")} unpacked without scripts`,
      realBaseImages().runtime,
    ),
  ]);
  await removeTree(root);
}

/** Downloads this run's DISTROLESS_PACKAGES with a private APT state; returns their folder. */
async function downloadDistrolessDebs(ctx: BuildContext): Promise<string> {
  const apt = `${ctx.tempDir}/apt`;
  const lists = `${ctx.cacheDir}/apt-lists`;
  const debs = `${ctx.cacheDir}/distroless-debs`;
  for (const dir of [`${lists}/partial`, `${apt}/cache/archives/partial`, debs]) {
    await Deno.mkdir(dir, { recursive: true });
  }
  await Deno.writeTextFile(
    `${apt}/sources.list`,
    `deb [signed-by=${KEYRING}] ${ctx.mirror} ${SUITE} main\n`,
  );
  // A private APT configuration: the host's sources, status and caches stay untouched.
  const aptOptions = [
    `-o=Dir::Etc::SourceList=${apt}/sources.list`,
    "-o=Dir::Etc::SourceParts=/nonexistent",
    `-o=Dir::State::Lists=${lists}`,
    `-o=Dir::Cache=${apt}/cache`,
    "-o=Dir::State::status=/dev/null",
    "-o=APT::Architecture=amd64",
    "-o=APT::Sandbox::User=root",
    "-o=Debug::NoLocking=1",
  ];
  log(`downloading ${DISTROLESS_PACKAGES.join(" ")} (${SUITE})`);
  await runOk("apt-get", ["-qq", ...aptOptions, "update"]);
  // Only this run's versions: stale files of earlier runs would be unpacked too.
  await emptyDir(debs);
  await runOk("apt-get", ["-qq", ...aptOptions, "download", ...DISTROLESS_PACKAGES], {
    cwd: debs,
  });
  return debs;
}

/** Unpacks every .deb of `debs` into `root`, without running their scripts. */
async function unpackDebs(debs: string, root: string): Promise<void> {
  await Deno.mkdir(`${root}/var/lib/dpkg/status.d`, { recursive: true });
  for await (const entry of Deno.readDir(debs)) {
    if (!entry.name.endsWith(".deb")) continue;
    const deb = `${debs}/${entry.name}`;
    await runOk("dpkg-deb", ["-x", deb, root]);
    // As distroless: one control file per package, so image scanners can list them.
    const control = await runOk("dpkg-deb", ["-f", deb]);
    const name = entry.name.split("_")[0];
    await Deno.writeTextFile(`${root}/var/lib/dpkg/status.d/${name}`, `${control}\n`);
  }
}

/** ca-certificates' postinst would build the bundle; without scripts, concatenate it here. */
async function bundleCaCertificates(root: string): Promise<void> {
  const mozilla = `${root}/usr/share/ca-certificates/mozilla`;
  const certs: string[] = [];
  for await (const entry of Deno.readDir(mozilla)) {
    if (entry.name.endsWith(".crt")) certs.push(entry.name);
  }
  certs.sort();
  const bundle = (await Promise.all(certs.map((c) => Deno.readTextFile(`${mozilla}/${c}`))))
    .map((pem) => pem.trimEnd() + "\n").join("");
  await Deno.mkdir(`${root}/etc/ssl/certs`, { recursive: true });
  await Deno.writeTextFile(`${root}/etc/ssl/certs/ca-certificates.crt`, bundle);
  await removeTree(`${root}/usr/share/ca-certificates`);
  await removeTree(`${root}/usr/sbin/update-ca-certificates`);
  await removeTree(`${root}/etc/ca-certificates`);
}

/** Distroless's users (root, nobody, nonroot 65532), its home and a world-writable /tmp. */
async function addDistrolessUsers(root: string): Promise<void> {
  await Deno.writeTextFile(
    `${root}/etc/passwd`,
    [
      "root:x:0:0:root:/root:/sbin/nologin",
      "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin",
      "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin",
      "",
    ].join("\n"),
  );
  await Deno.writeTextFile(
    `${root}/etc/group`,
    ["root:x:0:", "nobody:x:65534:", "tty:x:5:", "staff:x:50:", "nonroot:x:65532:", ""].join("\n"),
  );
  await Deno.writeTextFile(`${root}/etc/nsswitch.conf`, "hosts: files dns\n");
  await Deno.mkdir(`${root}/home/nonroot`, { recursive: true });
  await Deno.chmod(`${root}/home/nonroot`, 0o700);
  await Deno.chown(`${root}/home/nonroot`, 65532, 65532);
  await Deno.mkdir(`${root}/tmp`, { recursive: true });
  await Deno.chmod(`${root}/tmp`, 0o1777);
}

async function imageSummary(tag: string): Promise<string> {
  const bytes = Number(await dockerOk(["image", "inspect", "--format", "{{.Size}}", tag]));
  return `${tag} (${(bytes / 1e6).toFixed(1)} MB)`;
}

async function preflight(): Promise<void> {
  if (Deno.uid() !== 0) {
    throw new StandinError(
      "must run as root: debootstrap and unpacking files owned by other users need it",
    );
  }
  for (const tool of ["debootstrap", "apt-get", "dpkg-deb", "tar"]) {
    if (!(await succeeds("sh", ["-c", `command -v ${tool}`]))) {
      throw new StandinError(
        `${tool} is not installed (apt-get install debootstrap apt dpkg tar)`,
      );
    }
  }
}

const HELP = `Usage: deno task images:standin [--force]

Builds ${DENO_STANDIN} and ${DISTROLESS_STANDIN} from Debian ${SUITE} packages; keeps
existing ones unless --force. The Debian mirror comes from SWFT_DEBIAN_MIRROR, else from
this machine's APT sources.
`;

/**
 * The Debian mirror to build from: `SWFT_DEBIAN_MIRROR`, else this machine's APT sources;
 * throws one line saying how to set one when there is neither.
 */
export function debianMirror(env: string | undefined, sources: string[]): string {
  const mirror = env || findDebianMirror(sources);
  if (!mirror) {
    throw new StandinError(
      "no Debian mirror: set SWFT_DEBIAN_MIRROR (e.g. http://mirror.example/debian) or add a " +
        "Debian source to /etc/apt/sources.list or /etc/apt/sources.list.d/",
    );
  }
  return mirror;
}

/** Builds the missing stand-ins (all of them with `--force`); resolves to an exit code. */
export async function main(args: string[]): Promise<number> {
  const { values } = parseFlags(args, { force: { type: "boolean", default: false } });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  // Ctrl-C / SIGTERM: the kernel stops the children, disposes this and exits 130 / 143
  await using cleanup = new CleanupStack();
  try {
    if (!await engineVersion()) {
      throw new StandinError("no Docker engine reachable (is dockerd running?)");
    }
    const wanted = [
      { tag: DENO_STANDIN, build: buildDenoStandin },
      { tag: DISTROLESS_STANDIN, build: buildDistrolessStandin },
    ];
    const todo = [];
    for (const image of wanted) {
      if (!values.force && await imageId(image.tag)) {
        log(`ok ${await imageSummary(image.tag)} exists`);
      } else todo.push(image);
    }
    if (!todo.length) return 0;
    await preflight();
    const mirror = debianMirror(Deno.env.get("SWFT_DEBIAN_MIRROR"), readAptSources());

    const home = Deno.env.get("HOME") ?? "/root";
    const cacheDir = Deno.env.get("SWFT_STANDIN_CACHE") ??
      `${Deno.env.get("XDG_CACHE_HOME") ?? `${home}/.cache`}/swft-standin`;
    await Deno.mkdir(cacheDir, { recursive: true });
    const ctx: BuildContext = {
      mirror,
      cacheDir,
      tempDir: await tempDir(cleanup, "swft-standin-"),
    };
    for (const image of todo) {
      const started = performance.now();
      const previous = await imageId(image.tag);
      await image.build(ctx);
      // A rebuild leaves the old image untagged; drop it unless builds still use it.
      if (previous && previous !== await imageId(image.tag)) {
        await succeeds("docker", ["image", "rm", previous]);
      }
      const seconds = ((performance.now() - started) / 1000).toFixed(0);
      log(`built ${await imageSummary(image.tag)} in ${seconds} s`);
    }
    return 0;
  } catch (error) {
    if (error instanceof StandinError || error instanceof CommandError) {
      console.error(`images:standin: Cannot build the stand-in images: ${error.message}`);
      return 1;
    }
    throw error;
  }
}

if (import.meta.main) runTask("images:standin", main);
