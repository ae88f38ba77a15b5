/** Checks on the built images: sizes, labels and the file-system audit of every layer. */
import { formatBytes, inspectImage, isDenoExecutable, parseDenoRun } from "../_lib/mod.ts";
import { type Check, fail, type Outcome, pass } from "./check.ts";
import { findSecrets, type ImageFs } from "./image_fs.ts";
import {
  BUILD_TOOLS,
  findPrograms,
  findSetuid,
  linksInReadPaths,
  PACKAGE_MANAGERS,
  readPaths,
  resolveUser,
  SHELLS,
} from "./scan.ts";

/** Required label keys that are missing or empty. */
export function missingLabels(
  labels: Record<string, string> | null | undefined,
  required: string[],
): string[] {
  return required.filter((key) => !(labels?.[key] ?? "").trim());
}

function listOrPass(found: string[], what: string, none: string): Outcome {
  if (found.length === 0) return pass(none);
  const more = found.length > 8 ? ` (+${found.length - 8})` : "";
  return fail(`${what}: ${found.slice(0, 8).join(", ")}${more}`);
}

/** A check that looks for programs matching `pattern` in the runtime image's file system. */
function noPrograms(
  id: string,
  pattern: RegExp,
  what: string,
  none: (fs: ImageFs) => string,
): Check {
  return {
    id,
    needs: ["runtimeImage"],
    async run(ctx) {
      const fs = await ctx.layers();
      return listOrPass(findPrograms(fs.merged, pattern), what, none(fs));
    },
  };
}

/** image-size to healthcheck-defined, in order. */
export const IMAGE_CHECKS: readonly Check[] = [
  {
    // exact bytes, reduction against the builder, budgets per target
    id: "image-size",
    needs: ["builderImage", "runtimeImage"],
    async run(ctx) {
      const { options, report } = ctx;
      const builder = (await inspectImage(ctx.facts.builderImage!)).Size;
      const runtime = (await ctx.runtimeInfo()).Size;
      report.images.builder.bytes = builder;
      report.images.runtime.bytes = runtime;
      const reduction = (1 - runtime / builder) * 100;
      report.images.reductionPercent = Math.round(reduction * 10) / 10;
      const problems: string[] = [];
      if (runtime >= builder) {
        problems.push(
          `runtime (${formatBytes(runtime)}) is not smaller than builder (${formatBytes(builder)})`,
        );
      }
      const within: string[] = [];
      for (
        const [target, bytes] of [[options.builderTarget, builder], [
          options.target,
          runtime,
        ]] as const
      ) {
        const budget = options.sizeBudgets[target];
        if (budget === undefined) continue;
        if (target === options.target) report.images.sizeBudgetBytes = budget;
        if (bytes > budget) {
          problems.push(
            `${target} ${formatBytes(bytes)} exceeds its budget ${formatBytes(budget)}`,
          );
        } else within.push(`${target} within ${formatBytes(budget)}`);
      }
      const summary = `builder ${builder} B (${formatBytes(builder)}), runtime ${runtime} B (${
        formatBytes(runtime)
      }), -${reduction.toFixed(1)}%`;
      if (problems.length > 0) return fail(`${problems.join("; ")}; ${summary}`);
      return pass([summary, ...within].join("; "));
    },
  },
  {
    // provenance labels (OCI annotations) are present and not empty
    id: "image-labels",
    needs: ["runtimeImage"],
    async run(ctx) {
      const required = ctx.options.requireLabels;
      const labels = (await ctx.runtimeInfo()).Config?.Labels;
      const missing = missingLabels(labels, required);
      if (missing.length > 0) return fail(`missing or empty: ${missing.join(", ")}`);
      return pass(
        required.map((key) => `${key.replace("org.opencontainers.image.", "")}=${labels![key]}`)
          .join(", "),
      );
    },
  },
  noPrograms(
    "runtime-no-shell",
    SHELLS,
    "shell present",
    (fs) => `no shell among ${fs.merged.size} paths`,
  ),
  noPrograms(
    "runtime-no-build-tools",
    BUILD_TOOLS,
    "build tools present",
    () => "no compiler, linker, assembler or make",
  ),
  noPrograms(
    "runtime-no-package-manager",
    PACKAGE_MANAGERS,
    "package managers present",
    () => "no apt, dpkg, apk, rpm, pip, npm or similar",
  ),
  {
    id: "runtime-no-setuid",
    needs: ["runtimeImage"],
    async run(ctx) {
      const found = findSetuid((await ctx.layers()).merged);
      return listOrPass(found, "setuid/setgid files", "no setuid or setgid files");
    },
  },
  {
    // Deno's --allow-read grants paths, and follows a link inside one wherever it points.
    id: "runtime-read-no-links",
    needs: ["runtimeImage"],
    async run(ctx) {
      const config = (await ctx.runtimeInfo()).Config;
      const command = [...config?.Entrypoint ?? [], ...config?.Cmd ?? []];
      if (!isDenoExecutable(command[0] ?? "")) {
        return pass(`no --allow-read to follow: the entry point ${command[0]} is not deno run`);
      }
      let paths: string[];
      try {
        paths = readPaths(parseDenoRun(command).permissions);
      } catch (error) {
        return fail((error as Error).message);
      }
      if (paths.length === 0) return pass("deno run reads no path");
      const links = linksInReadPaths((await ctx.layers()).merged, paths);
      return listOrPass(
        links,
        `links inside --allow-read=${paths.join(",")} reach beyond it`,
        `no symlink or hard link inside --allow-read=${paths.join(",")}`,
      );
    },
  },
  {
    id: "runtime-user-nonroot",
    needs: ["runtimeImage"],
    async run(ctx) {
      const user = (await ctx.runtimeInfo()).Config?.User ?? "";
      const resolved = resolveUser(user, (await ctx.layers()).passwd);
      if (resolved.problem) return fail(resolved.problem);
      if (resolved.uid === 0) return fail(`runs as root (User "${user}")`);
      return pass(`User "${user}" = uid ${resolved.uid}`);
    },
  },
  {
    id: "runtime-no-secrets",
    needs: ["runtimeImage"],
    async run(ctx) {
      const fs = await ctx.layers();
      const findings = findSecrets(fs);
      if (findings.length === 0) {
        return pass(`no secrets in ${fs.layers.length} layers (names, PEM keys, tokens)`);
      }
      return fail(
        findings.slice(0, 5).map((f) => {
          const by = fs.createdBy[f.layer];
          return `${f.path}: ${f.reason} in layer ${f.layer + 1}${
            by ? ` (${by.slice(0, 40)})` : ""
          }${f.present ? "" : ", deleted later but still in the layer"}`;
        }).join("; "),
      );
    },
  },
  {
    id: "healthcheck-defined",
    needs: ["runtimeImage"],
    provides: ["healthcheck"],
    async run(ctx) {
      const test = (await ctx.runtimeInfo()).Config?.Healthcheck?.Test;
      if (!test || test.length === 0 || test[0] === "NONE") {
        return fail(
          test?.[0] === "NONE" ? "HEALTHCHECK NONE disables it" : "image defines no HEALTHCHECK",
        );
      }
      const command = test[0] === "CMD" ? JSON.stringify(test.slice(1)) : test.slice(1).join(" ");
      ctx.facts.healthcheck = `${test[0]} ${command}`;
      return pass(ctx.facts.healthcheck.slice(0, 160));
    },
  },
];
