/** Checks on a running container: hardened start, health, the app's probes, logs, stop. */
import {
  docker,
  dockerOk,
  fetchText,
  formatBytes,
  formatMs,
  lastLines,
  parseMemUsage,
  poll,
} from "../_lib/mod.ts";
import { type Check, type Context, fail, type Outcome, pass, verdict } from "./check.ts";
import type { Probe, VerifyConfig } from "./config.ts";
import { errorLines, judgeProbe, judgeSecurityHeaders } from "./http.ts";

/** --port, else the config's port, else the image's lowest EXPOSEd TCP port, else 80. */
async function containerPort(ctx: Context): Promise<number> {
  const exposed = Object.keys((await ctx.runtimeInfo()).Config?.ExposedPorts ?? {})
    .filter((p) => p.endsWith("/tcp"))
    .map((p) => parseInt(p, 10))
    .sort((a, b) => a - b);
  return ctx.options.port ?? ctx.config.port ?? exposed[0] ?? 80;
}

async function logsTail(name: string, n = 3): Promise<string> {
  const logs = await docker(["logs", "--tail", "20", name]);
  return lastLines(logs.stdout + logs.stderr, n);
}

/**
 * Why a container exited, from its output: the error line (Deno's `error: Uncaught ...`, or an
 * `...Error:` line), whole, rather than the stack frames under it; else the last lines that are
 * not stack frames.
 *
 * @example
 * ```ts
 * exitCause('error: Uncaught NotCapable: Requires env access to "X"\n    at f (file:///a.ts:1:1)');
 * // 'error: Uncaught NotCapable: Requires env access to "X"'
 * ```
 */
export function exitCause(output: string, n = 3): string {
  const lines = output.split(/\r?\n/).map((line) => line.trim());
  const error = lines.findLast((line) =>
    /^error: /.test(line) || /^(Uncaught )?[A-Z]\w*(Error|NotCapable)\b.*:/.test(line)
  );
  return error ?? lastLines(lines.filter((line) => !/^at /.test(line)).join("\n"), n);
}

async function exitLogs(name: string): Promise<string> {
  const logs = await docker(["logs", "--tail", "40", name]);
  return exitCause(logs.stdout + logs.stderr);
}

/**
 * The `docker run` flags of a hardened container: read-only root file system, no capabilities,
 * no privilege escalation. container-start runs the image with them; a test that runs it as
 * verify does takes them from here.
 */
export const HARDENED_RUN_FLAGS: readonly string[] = [
  "--read-only",
  "--cap-drop",
  "ALL",
  "--security-opt",
  "no-new-privileges",
];

/** container-start: read-only, no capabilities, no-new-privileges; time to the first answer. */
const start: Check = {
  id: "container-start",
  needs: ["runtimeImage"],
  provides: ["container"],
  async run(ctx) {
    const { options, report, names } = ctx;
    const port = await containerPort(ctx);
    report.container.port = port;
    ctx.created.container(names.container);
    const started = performance.now();
    const result = await docker([
      "run",
      "-d",
      "--name",
      names.container,
      ...HARDENED_RUN_FLAGS,
      // a short interval so health is known in seconds; start period = our start timeout
      "--health-interval",
      "1s",
      "--health-start-period",
      `${Math.ceil(options.startTimeoutMs / 1000)}s`,
      "-p",
      `127.0.0.1::${port}`,
      ctx.facts.runtimeImage!,
    ]);
    if (result.code !== 0) return fail(`docker run failed: ${lastLines(result.stderr, 2)}`);
    const binding = (await ctx.containerInfo()).NetworkSettings.Ports?.[`${port}/tcp`]?.[0];
    if (!binding) return fail(`port ${port}/tcp was not published`);
    const baseUrl = `http://${options.httpHost}:${binding.HostPort}`;
    // the first probe is the app's front door: wait until it answers as the config says
    const first = ctx.config.probes[0];
    let last = "no response";
    let nextStateCheck = performance.now() + 500;
    const outcome = await poll<Outcome>(async () => {
      try {
        const res = await fetchText(`${baseUrl}${first.path}`, 2000);
        if (res.status === first.status) {
          report.container.startupMs = Math.round(performance.now() - started);
          ctx.facts.container = { name: names.container, baseUrl };
          return pass(
            `first ${res.status} on ${first.path} after ${formatMs(report.container.startupMs)}` +
              ` (port ${port}, read-only, cap-drop ALL, no-new-privileges)`,
          );
        }
        last = `status ${res.status}`;
      } catch (error) {
        last = (error as Error).message;
      }
      if (performance.now() > nextStateCheck) {
        nextStateCheck = performance.now() + 500;
        const now = await ctx.containerInfo();
        if (!now.State.Running) {
          return fail(
            `container exited with code ${now.State.ExitCode}: ${await exitLogs(names.container)}`,
          );
        }
      }
    }, { timeoutMs: options.startTimeoutMs });
    return outcome ?? fail(
      `no ${first.status} on ${first.path} within ${formatMs(options.startTimeoutMs)} (${
        last.slice(0, 80)
      }): ${await logsTail(names.container)}`,
    );
  },
};

/** container-healthy: Docker's own health status reaches "healthy". */
const healthy: Check = {
  id: "container-healthy",
  needs: ["container", "healthcheck"],
  async run(ctx) {
    const started = performance.now();
    let status = "starting";
    let output = "";
    // failures only count after the start period (= start timeout), then 3 retries at 1 s
    const outcome = await poll<Outcome>(async () => {
      const info = await ctx.containerInfo();
      status = info.State.Health?.Status ?? "none";
      const log = info.State.Health?.Log ?? [];
      const lastProbe = log.at(-1);
      output = lastProbe
        ? `last probe exit ${lastProbe.ExitCode} ${lastProbe.Output.trim().slice(0, 60)}`
        : "";
      if (status === "healthy") {
        ctx.report.container.healthyMs = Math.round(performance.now() - started);
        return pass(`healthy (${log.length} probe${log.length === 1 ? "" : "s"})`);
      }
      if (status === "unhealthy" || status === "none" || !info.State.Running) {
        return fail(`health status ${status}${output ? `; ${output}` : ""}`);
      }
    }, { timeoutMs: ctx.options.startTimeoutMs + 10_000, intervalMs: 250 });
    return outcome ?? fail(`health status ${status}${output ? `; ${output}` : ""}`);
  },
};

/** One HTTP probe of the config as a check with the probe's id. */
export function probeCheck(probe: Probe): Check {
  return {
    id: probe.id,
    needs: ["container"],
    async run(ctx) {
      const res = await fetchText(`${ctx.facts.container!.baseUrl}${probe.path}`);
      ctx.report.http[probe.path] = { status: res.status, ms: Math.round(res.ms) };
      const outcome = verdict(judgeProbe(res, probe));
      return { ...outcome, detail: `${outcome.detail} (${formatMs(res.ms)})` };
    },
  };
}

function securityHeaders(paths: string[]): Check {
  return {
    id: "http-security-headers",
    needs: ["container"],
    async run(ctx) {
      if (paths.length === 0) return fail("the config lists no securityHeaders paths");
      const problems: string[] = [];
      let detail = "";
      for (const path of paths) {
        const res = await fetchText(`${ctx.facts.container!.baseUrl}${path}`);
        const v = judgeSecurityHeaders(res.headers);
        if (!v.ok) problems.push(`${path}: ${v.detail}`);
        else detail ||= v.detail;
      }
      return problems.length > 0
        ? fail(problems.join("; "))
        : pass(`on ${paths.join(", ")}; ${detail}`);
    },
  };
}

function logs(startupLog: string): Check {
  return {
    id: "container-logs",
    needs: ["container"],
    async run(ctx) {
      const result = await docker(["logs", ctx.facts.container!.name]);
      const text = result.stdout + result.stderr;
      const startup = text.split(/\r?\n/).find((l) => l.includes(startupLog));
      if (!startup) {
        return fail(
          `no startup line with ${JSON.stringify(startupLog)}: ${
            lastLines(text, 2) || "(no output)"
          }`,
        );
      }
      const errors = errorLines(text);
      if (errors.length > 0) {
        return fail(`error lines: ${errors.slice(0, 2).join(" | ").slice(0, 200)}`);
      }
      return pass(`startup line: ${startup.trim().slice(0, 100)}; no error lines`);
    },
  };
}

const resources: Check = {
  id: "resource-usage",
  needs: ["container"],
  async run(ctx) {
    const { options, report } = ctx;
    const line = await dockerOk([
      "stats",
      "--no-stream",
      "--format",
      "{{json .}}",
      ctx.facts.container!.name,
    ]);
    const stats = JSON.parse(line.split("\n")[0]) as { MemUsage: string; CPUPerc: string };
    const memory = parseMemUsage(stats.MemUsage);
    if (memory === undefined) return fail(`cannot read memory usage "${stats.MemUsage}"`);
    const cpu = parseFloat(stats.CPUPerc);
    report.container.memoryBytes = memory;
    report.container.memoryBudgetBytes = options.memoryBudget;
    report.container.cpuPercent = Number.isFinite(cpu) ? cpu : undefined;
    const detail = `memory ${formatBytes(memory)} (budget ${
      formatBytes(options.memoryBudget)
    }), CPU ${stats.CPUPerc}`;
    return memory > options.memoryBudget ? fail(`over budget: ${detail}`) : pass(detail);
  },
};

const gracefulStop: Check = {
  id: "graceful-stop",
  needs: ["container"],
  async run(ctx) {
    const { options, report } = ctx;
    const result = await docker([
      "stop",
      "-t",
      String(options.stopTimeoutS),
      ctx.facts.container!.name,
    ]);
    report.container.stopMs = Math.round(result.ms);
    if (result.code !== 0) return fail(`docker stop failed: ${lastLines(result.stderr, 2)}`);
    const exitCode = (await ctx.containerInfo()).State.ExitCode;
    report.container.exitCode = exitCode;
    const detail = `exit ${exitCode} after ${formatMs(result.ms)} (budget ${
      formatMs(options.stopBudgetMs)
    })`;
    if (exitCode !== 0) {
      return fail(
        `${detail}${exitCode === 137 ? ": killed, SIGTERM was not handled in time" : ""}`,
      );
    }
    return result.ms > options.stopBudgetMs ? fail(`too slow: ${detail}`) : pass(detail);
  },
};

/** The container checks for an app's config: start, health, one per probe, then the rest. */
export function containerChecks(config: VerifyConfig): Check[] {
  return [
    start,
    healthy,
    ...config.probes.map(probeCheck),
    securityHeaders(config.securityHeaders),
    logs(config.startupLog),
    resources,
    gracefulStop,
  ];
}
