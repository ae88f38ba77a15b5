/**
 * The closing summary of `deno task test`: `deno test`'s output passes through unchanged, then
 * which groups (test files) ran, and which tests were ignored, grouped by the reason their names
 * carry (`NAME (ignored: REASON)`, tests/_container.ts), so a change in the count is explained.
 * Exit 1 when the run did not end with `ok |`.
 *
 * Usage: deno test ... 2>&1 | deno run tasks/test_summary.ts
 *
 * @module
 */

/** What a `deno test` run printed, tallied. */
export interface TestTally {
  /** Per test file: how many passed, failed and were ignored. */
  files: Map<string, { passed: number; failed: number; ignored: number }>;
  /** Per reason: the files whose tests it ignored, with how many. */
  reasons: Map<string, Map<string, number>>;
  /** The run's closing line (`ok | ...` or `FAILED | ...`), if it came. */
  closing?: string;
}

/** Tallies `deno test` output lines (colours off). */
export function tallyTests(lines: Iterable<string>): TestTally {
  const tally: TestTally = { files: new Map(), reasons: new Map() };
  let file = "";
  // A test past a minute: deno writes "NAME ...'NAME' has been running for over (1m0s)", then
  // its result alone on the next line, " ok (1m3s)".
  let slow: string | undefined;
  for (const line of lines) {
    const running = line.match(/^running \d+ tests? from (\S+)/);
    if (running) {
      file = running[1].replace(/^\.\//, "");
      tally.files.set(file, { passed: 0, failed: 0, ignored: 0 });
      continue;
    }
    if (/^(ok|FAILED) \| \d+ passed/.test(line)) tally.closing = line;
    const pastMinute = line.match(/^(.*) \.\.\.'.*' has been running for over /);
    if (pastMinute) slow = pastMinute[1];
    const alone = line.match(/^\s*(ok|FAILED|ignored) \(/);
    const result = line.match(/^(.*) \.\.\. (ok|FAILED|ignored) \(/) ??
      (alone && slow !== undefined ? [line, slow, alone[1]] : null);
    if (alone) slow = undefined;
    const counts = tally.files.get(file);
    if (!result || !counts) continue;
    if (result[2] === "ok") counts.passed++;
    else if (result[2] === "FAILED") counts.failed++;
    else {
      counts.ignored++;
      const reason = result[1].match(/\(ignored: (.*)\)$/)?.[1] ?? "no reason in its name";
      const files = tally.reasons.get(reason) ?? new Map<string, number>();
      files.set(file, (files.get(file) ?? 0) + 1);
      tally.reasons.set(reason, files);
    }
  }
  return tally;
}

/** The summary lines of a tally: the groups that ran, then each ignore reason with its files. */
export function summaryLines(tally: TestTally): string[] {
  const ran = [...tally.files].filter(([, c]) => c.passed + c.failed > 0);
  const total = (key: "passed" | "failed" | "ignored") =>
    [...tally.files.values()].reduce((sum, c) => sum + c[key], 0);
  const lines = [
    `test summary: ${ran.length} of ${tally.files.size} groups (files) ran: ${total("passed")} ` +
    `passed, ${total("failed")} failed, ${total("ignored")} ignored`,
  ];
  const idle = [...tally.files].filter(([, c]) => c.passed + c.failed === 0).map(([f]) => f);
  if (idle.length) lines.push(`  groups that ran no test: ${idle.join(", ")}`);
  for (const [reason, files] of tally.reasons) {
    const count = [...files.values()].reduce((a, b) => a + b, 0);
    const where = [...files].map(([f, n]) => `${f} (${n})`).join(", ");
    lines.push(`  ${count} ignored: ${reason}: ${where}`);
  }
  return lines;
}

// deno-lint-ignore no-control-regex -- the escape that starts a colour code
const ANSI = /\x1b\[[0-9;]*m/g;

async function main(): Promise<number> {
  const lines: string[] = [];
  let pending = "";
  for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    await Deno.stdout.write(new TextEncoder().encode(chunk));
    pending += chunk;
    const parts = pending.split("\n");
    pending = parts.pop() ?? "";
    // deno test colours its output on a terminal only; strip what a forced colour leaves
    lines.push(...parts.map((line) => line.replace(ANSI, "")));
  }
  if (pending) lines.push(pending);
  const tally = tallyTests(lines);
  console.log(summaryLines(tally).join("\n"));
  return tally.closing?.startsWith("ok |") ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main());
