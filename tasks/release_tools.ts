/**
 * `deno task release:tools`: finds the release's tools (cosign 2, cdxgen) or installs them
 * into a folder of the user's (`$SWFT_TOOLS_DIR`, default `~/.local/share/swft-tools`), outside
 * the repository, where `deno task release` then finds them by itself. It runs
 * `.ci/install_tools.sh`, the same install CI uses: cosign from Debian's package (unpacked,
 * no system change), cdxgen from npm. `--check` only reports.
 *
 * @example
 * ```sh
 * deno task release:tools          # found, or installed, then listed
 * deno task release:tools --check  # exit 1 when a tool is missing
 * ```
 *
 * @module
 */
import { parseFlags, progress, ROOT, run, runTask } from "./_lib/mod.ts";
import { cosignCommand } from "./release/cosign.ts";
import { cdxgenCommand } from "./release/attestations/sbom.ts";
import { toolsDir } from "./release/tools.ts";

const TOOL = "release:tools";

const HELP = `Usage: deno task release:tools [--check]

Finds cosign and cdxgen ($COSIGN / $CDXGEN, the tools folder, PATH) or installs them into
the tools folder ($SWFT_TOOLS_DIR, default ~/.local/share/swft-tools) with .ci/install_tools.sh.
  --check     only report; exit 1 when one is missing
`;

/** Each tool's command and version line, or `undefined` where it does not run. */
export async function findTools(): Promise<Record<string, string | undefined>> {
  const version = async (cmd: string, args: string[], pattern: RegExp) => {
    const result = await run(cmd, args);
    return result.code === 0
      ? `${cmd} ${pattern.exec(result.stdout + result.stderr)?.[1] ?? "?"}`
      : undefined;
  };
  return {
    cosign: await version(cosignCommand(), ["version"], /GitVersion:\s*(\S+)/),
    cdxgen: await version(cdxgenCommand(), ["--version"], /(\d+\.\d+\.\d+)/),
  };
}

/** The task: exit 0 when both tools run (found or installed), 1 otherwise. */
export async function main(args: string[]): Promise<number> {
  const { values } = parseFlags(args, { check: { type: "boolean", default: false } });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  let found = await findTools();
  if (!values.check && Object.values(found).some((v) => !v)) {
    progress(TOOL, `installing into ${toolsDir()} (.ci/install_tools.sh)`);
    const result = await run("bash", [`${ROOT}/.ci/install_tools.sh`], {
      env: { SWFT_TOOLS_DIR: toolsDir(), SWFT_TOOLS_RELEASE_ONLY: "1" },
      onLine: (line) => progress(TOOL, line),
    });
    if (result.code !== 0) {
      console.error(
        `${TOOL}: Cannot install the tools: .ci/install_tools.sh exited ${result.code}`,
      );
      return 1;
    }
    found = await findTools();
  }
  for (const [name, line] of Object.entries(found)) {
    console.log(`${name}: ${line ?? "missing (deno task release:tools installs it)"}`);
  }
  return Object.values(found).every(Boolean) ? 0 : 1;
}

if (import.meta.main) runTask(TOOL, main);
