/** Checks on the built images: sizes and the file-system audit of every runtime layer. */
import { inspectImage } from "./docker.ts";
import { findSecrets, loadImageFs } from "./image_fs.ts";
import {
  BUILD_TOOLS,
  findPrograms,
  findSetuid,
  PACKAGE_MANAGERS,
  resolveUser,
  SHELLS,
  wastedBytes,
} from "./scan.ts";
import { formatBytes } from "./units.ts";
import { fail, type Outcome, pass, type Run, step } from "./runner.ts";
import type { CheckId } from "./report.ts";

/** image-size: exact bytes, reduction against the builder, budgets per target. */
export function checkImageSize(run: Run): Promise<unknown> {
  const { options, state, report } = run;
  const reason = !state.runtimeBuilt
    ? "runtime image not built"
    : !state.builderBuilt
    ? "builder image not built"
    : undefined;
  return step(run, "image-size", async () => {
    state.builderInfo = await inspectImage(state.builderTag);
    state.runtimeInfo ??= await inspectImage(state.runtimeTag);
    const builder = state.builderInfo.Size;
    const runtime = state.runtimeInfo.Size;
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
    const budgets = [[options.builderTarget, builder], [options.target, runtime]] as const;
    const within: string[] = [];
    for (const [target, bytes] of budgets) {
      const budget = options.sizeBudgets[target];
      if (budget === undefined) continue;
      if (target === options.target) report.images.sizeBudgetBytes = budget;
      if (bytes > budget) {
        problems.push(`${target} ${formatBytes(bytes)} exceeds its budget ${formatBytes(budget)}`);
      } else within.push(`${target} within ${formatBytes(budget)}`);
    }
    const summary = `builder ${builder} B (${formatBytes(builder)}), runtime ${runtime} B (${
      formatBytes(runtime)
    }), -${reduction.toFixed(1)}%`;
    if (problems.length > 0) return fail(`${problems.join("; ")}; ${summary}`);
    return pass([summary, ...within].join("; "));
  }, reason);
}

/** Required label keys that are missing or empty. */
export function missingLabels(
  labels: Record<string, string> | null | undefined,
  required: string[],
): string[] {
  return required.filter((key) => !(labels?.[key] ?? "").trim());
}

/** image-labels: provenance labels (OCI annotations) are present and not empty. */
export function checkImageLabels(run: Run): Promise<unknown> {
  const { options, state } = run;
  return step(run, "image-labels", async () => {
    state.runtimeInfo ??= await inspectImage(state.runtimeTag);
    const labels = state.runtimeInfo.Config?.Labels;
    const missing = missingLabels(labels, options.requireLabels);
    if (missing.length > 0) return fail(`missing or empty: ${missing.join(", ")}`);
    return pass(
      options.requireLabels.map((key) =>
        `${key.replace("org.opencontainers.image.", "")}=${labels![key]}`
      )
        .join(", "),
    );
  }, state.runtimeBuilt ? undefined : "runtime image not built");
}

function listOrPass(found: string[], what: string, none: string): Outcome {
  return found.length > 0
    ? fail(
      `${what}: ${found.slice(0, 8).join(", ")}${
        found.length > 8 ? ` (+${found.length - 8})` : ""
      }`,
    )
    : pass(none);
}

/** The file-system checks: shell, build tools, package managers, setuid, user, secrets. */
export async function checkRuntimeFs(run: Run): Promise<void> {
  const { state, report } = run;
  const notBuilt = state.runtimeBuilt ? undefined : "runtime image not built";
  if (!notBuilt) {
    try {
      state.runtimeInfo ??= await inspectImage(state.runtimeTag);
      report.images.runtime.id = state.runtimeInfo.Id;
      state.fs = await loadImageFs(state.runtimeTag, await run.tempDir("swft-verify-image-"));
      report.images.runtime.layers = state.fs.layers.length;
      report.images.runtime.wastedBytes = wastedBytes(state.fs.layers, state.fs.merged);
    } catch (error) {
      state.fsError = `cannot read the image's layers: ${(error as Error).message}`;
    }
  }
  const withFs = (id: CheckId, body: () => Promise<Outcome>) =>
    step(
      run,
      id,
      () => (state.fs ? body() : Promise.resolve(fail(state.fsError ?? "no layers"))),
      notBuilt,
    );
  const files = () => state.fs!.merged.size;

  await withFs(
    "runtime-no-shell",
    () =>
      Promise.resolve(
        listOrPass(
          findPrograms(state.fs!.merged, SHELLS),
          "shell present",
          `no shell among ${files()} paths`,
        ),
      ),
  );
  await withFs(
    "runtime-no-build-tools",
    () =>
      Promise.resolve(
        listOrPass(
          findPrograms(state.fs!.merged, BUILD_TOOLS),
          "build tools present",
          "no compiler, linker, assembler or make",
        ),
      ),
  );
  await withFs(
    "runtime-no-package-manager",
    () =>
      Promise.resolve(
        listOrPass(
          findPrograms(state.fs!.merged, PACKAGE_MANAGERS),
          "package managers present",
          "no apt, dpkg, apk, rpm, pip, npm or similar",
        ),
      ),
  );
  await withFs(
    "runtime-no-setuid",
    () =>
      Promise.resolve(
        listOrPass(
          findSetuid(state.fs!.merged),
          "setuid/setgid files",
          "no setuid or setgid files",
        ),
      ),
  );
  await withFs("runtime-user-nonroot", async () => {
    const user = state.runtimeInfo?.Config?.User ?? "";
    const passwdEntry = state.fs!.merged.get("/etc/passwd");
    const passwd = passwdEntry?.type === "file"
      ? new TextDecoder().decode(await state.fs!.readFile(passwdEntry))
      : undefined;
    const resolved = resolveUser(user, passwd);
    if (resolved.problem) return fail(resolved.problem);
    if (resolved.uid === 0) return fail(`runs as root (User "${user}")`);
    return pass(`User "${user}" = uid ${resolved.uid}`);
  });
  await withFs("runtime-no-secrets", async () => {
    const findings = await findSecrets(state.fs!);
    if (findings.length === 0) {
      return pass(`no secrets in ${state.fs!.layers.length} layers (names, PEM keys, tokens)`);
    }
    return fail(
      findings.slice(0, 5).map((f) => {
        const by = state.fs!.createdBy[f.layer];
        return `${f.path}: ${f.reason} in layer ${f.layer + 1}${by ? ` (${by.slice(0, 40)})` : ""}${
          f.present ? "" : ", deleted later but still in the layer"
        }`;
      }).join("; "),
    );
  });
  await step(run, "healthcheck-defined", () => {
    const test = state.runtimeInfo?.Config?.Healthcheck?.Test;
    if (!test || test.length === 0 || test[0] === "NONE") {
      return Promise.resolve(
        fail(
          test?.[0] === "NONE" ? "HEALTHCHECK NONE disables it" : "image defines no HEALTHCHECK",
        ),
      );
    }
    state.healthcheck = true;
    const command = test[0] === "CMD" ? JSON.stringify(test.slice(1)) : test.slice(1).join(" ");
    return Promise.resolve(pass(`${test[0]} ${command}`.slice(0, 160)));
  }, notBuilt);
}
