/** Checks on a running container: hardened start, health, HTTP, logs, resources, stop. */
import { docker, inspectContainer, lastLines } from "./docker.ts";
import {
  errorLines,
  type Fetched,
  get,
  judgeHealth,
  judgeRoot,
  judgeSecurityHeaders,
  judgeStatic,
  judgeTime,
  parseCpu,
  parseMemUsage,
} from "./http.ts";
import { formatBytes, formatMs } from "./units.ts";
import { fail, type Outcome, pass, type Run, step } from "./runner.ts";

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function containerPort(run: Run): number {
  if (run.options.port) return run.options.port;
  const exposed = Object.keys(run.state.runtimeInfo?.Config?.ExposedPorts ?? {})
    .filter((p) => p.endsWith("/tcp"))
    .map((p) => parseInt(p, 10))
    .sort((a, b) => a - b);
  return exposed[0] ?? 80;
}

async function logsTail(name: string, n = 3): Promise<string> {
  const logs = await docker(["logs", "--tail", "20", name]);
  return lastLines(logs.stdout + logs.stderr, n);
}

/** container-start: read-only, no capabilities, no-new-privileges; time to first 200. */
async function start(run: Run): Promise<Outcome> {
  const { options, state, report } = run;
  const port = containerPort(run);
  report.container.port = port;
  const name = `${options.image.replace(/[^a-zA-Z0-9_.-]/g, "-")}-verify-${Deno.pid}`;
  state.container = name;
  run.resources.containers.add(name);
  const startSeconds = Math.ceil(options.startTimeoutMs / 1000);
  const started = performance.now();
  const result = await docker([
    "run",
    "-d",
    "--name",
    name,
    "--read-only",
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges",
    // a short interval so health is known in seconds; start period = our start timeout
    "--health-interval",
    "1s",
    "--health-start-period",
    `${startSeconds}s`,
    "-p",
    `127.0.0.1::${port}`,
    state.runtimeTag,
  ]);
  if (result.code !== 0) return fail(`docker run failed: ${lastLines(result.stderr, 2)}`);
  const info = await inspectContainer(name);
  const binding = info.NetworkSettings.Ports?.[`${port}/tcp`]?.[0];
  if (!binding) return fail(`port ${port}/tcp was not published`);
  state.baseUrl = `http://${options.httpHost}:${binding.HostPort}`;
  let lastError = "no response";
  let nextStateCheck = performance.now() + 500;
  while (performance.now() - started < options.startTimeoutMs) {
    try {
      const res = await get(`${state.baseUrl}/`, 2000);
      if (res.status === 200) {
        report.container.startupMs = Math.round(performance.now() - started);
        state.containerStarted = true;
        return pass(
          `first 200 on / after ${
            formatMs(report.container.startupMs)
          } (port ${port}, read-only, cap-drop ALL, no-new-privileges)`,
        );
      }
      lastError = `status ${res.status}`;
    } catch (error) {
      lastError = (error as Error).message;
    }
    if (performance.now() > nextStateCheck) {
      nextStateCheck = performance.now() + 500;
      const now = await inspectContainer(name);
      if (!now.State.Running) {
        return fail(`container exited with code ${now.State.ExitCode}: ${await logsTail(name)}`);
      }
    }
    await delay(100);
  }
  return fail(
    `no 200 on / within ${formatMs(options.startTimeoutMs)} (${
      lastError.slice(0, 80)
    }): ${await logsTail(name)}`,
  );
}

/** container-healthy: Docker's own health status reaches "healthy". */
async function healthy(run: Run): Promise<Outcome> {
  const { options, state, report } = run;
  const started = performance.now();
  // Failures only count after the start period (= start timeout), then 3 retries at 1 s
  const deadline = options.startTimeoutMs + 10_000;
  let status = "starting";
  let output = "";
  while (performance.now() - started < deadline) {
    const info = await inspectContainer(state.container!);
    status = info.State.Health?.Status ?? "none";
    const log = info.State.Health?.Log ?? [];
    output = log.length > 0
      ? `last probe exit ${log[log.length - 1].ExitCode} ${
        log[log.length - 1].Output.trim().slice(0, 60)
      }`
      : "";
    if (status === "healthy") {
      report.container.healthyMs = Math.round(performance.now() - started);
      return pass(`healthy (${log.length} probe${log.length === 1 ? "" : "s"})`);
    }
    if (status === "unhealthy" || status === "none" || !info.State.Running) break;
    await delay(250);
  }
  return fail(`health status ${status}${output ? `; ${output}` : ""}`);
}

async function probe(run: Run, path: string, judge: (res: Fetched) => Outcome): Promise<Outcome> {
  const res = await get(`${run.state.baseUrl}${path}`);
  run.report.http[path] = { status: res.status, ms: Math.round(res.ms) };
  if (path === "/") run.state.rootHeaders = res.headers;
  const outcome = judge(res);
  return { ...outcome, detail: `${outcome.detail} (${formatMs(res.ms)})` };
}

const verdict = (
  v: { ok: boolean; detail: string },
): Outcome => (v.ok ? pass(v.detail) : fail(v.detail));

/** Runs every container check in order, skipping what a failed prerequisite makes moot. */
export async function checkContainer(run: Run): Promise<void> {
  const { options, state, report } = run;
  const notBuilt = state.runtimeBuilt ? undefined : "runtime image not built";
  await step(run, "container-start", () => start(run), notBuilt);
  const notStarted = notBuilt ??
    (state.containerStarted ? undefined : "container did not serve HTTP 200 (container-start)");
  await step(
    run,
    "container-healthy",
    () => healthy(run),
    notStarted ??
      (state.healthcheck ? undefined : "image defines no HEALTHCHECK (healthcheck-defined)"),
  );
  await step(
    run,
    "http-root",
    () => probe(run, "/", (r) => verdict(judgeRoot(r, options.expectText))),
    notStarted,
  );
  await step(
    run,
    "http-health",
    () => probe(run, options.healthPath, (r) => verdict(judgeHealth(r))),
    notStarted,
  );
  await step(
    run,
    "http-time",
    () => probe(run, options.timePath, (r) => verdict(judgeTime(r))),
    notStarted,
  );
  await step(
    run,
    "http-static",
    () => probe(run, options.staticPath, (r) => verdict(judgeStatic(r, options.staticPath))),
    notStarted,
  );
  await step(run, "http-security-headers", async () => {
    const problems: string[] = [];
    let detail = "";
    for (const path of ["/", options.healthPath, options.staticPath]) {
      const res = await get(`${state.baseUrl}${path}`);
      const v = judgeSecurityHeaders(res.headers);
      if (!v.ok) problems.push(`${path}: ${v.detail}`);
      else detail ||= v.detail;
    }
    return problems.length > 0
      ? fail(problems.join("; "))
      : pass(`on /, ${options.healthPath}, ${options.staticPath}; ${detail}`);
  }, notStarted);
  await step(run, "container-logs", async () => {
    const logs = await docker(["logs", state.container!]);
    const text = logs.stdout + logs.stderr;
    const startup = text.split(/\r?\n/).find((l) => /listening/i.test(l));
    if (!startup) {
      return fail(`no startup line mentioning "listening": ${lastLines(text, 2) || "(no output)"}`);
    }
    const errors = errorLines(text);
    if (errors.length > 0) {
      return fail(`error lines: ${errors.slice(0, 2).join(" | ").slice(0, 200)}`);
    }
    return pass(`startup line: ${startup.trim().slice(0, 100)}; no error lines`);
  }, notStarted);
  await step(run, "resource-usage", async () => {
    const result = await docker([
      "stats",
      "--no-stream",
      "--format",
      "{{json .}}",
      state.container!,
    ]);
    if (result.code !== 0) return fail(`docker stats failed: ${lastLines(result.stderr, 2)}`);
    const stats = JSON.parse(result.stdout.trim().split("\n")[0]) as {
      MemUsage: string;
      CPUPerc: string;
    };
    const memory = parseMemUsage(stats.MemUsage);
    const cpu = parseCpu(stats.CPUPerc);
    if (memory === undefined) return fail(`cannot read memory usage "${stats.MemUsage}"`);
    report.container.memoryBytes = memory;
    report.container.memoryBudgetBytes = options.memoryBudget;
    report.container.cpuPercent = cpu;
    const detail = `memory ${formatBytes(memory)} (budget ${
      formatBytes(options.memoryBudget)
    }), CPU ${stats.CPUPerc}`;
    return memory > options.memoryBudget ? fail(`over budget: ${detail}`) : pass(detail);
  }, notStarted);
  await step(run, "graceful-stop", async () => {
    const result = await docker(["stop", "-t", String(options.stopTimeoutS), state.container!]);
    report.container.stopMs = Math.round(result.ms);
    if (result.code !== 0) return fail(`docker stop failed: ${lastLines(result.stderr, 2)}`);
    const info = await inspectContainer(state.container!);
    report.container.exitCode = info.State.ExitCode;
    const detail = `exit ${info.State.ExitCode} after ${formatMs(result.ms)} (budget ${
      formatMs(options.stopBudgetMs)
    })`;
    if (info.State.ExitCode !== 0) {
      return fail(
        `${detail}${
          info.State.ExitCode === 137 ? ": killed, SIGTERM was not handled in time" : ""
        }`,
      );
    }
    return result.ms > options.stopBudgetMs ? fail(`too slow: ${detail}`) : pass(detail);
  }, notStarted);
}
