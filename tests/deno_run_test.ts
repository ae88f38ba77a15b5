import assert from "node:assert/strict";
import { DENO_RUN_ALIASES, DENO_RUN_FLAGS, parseDenoRun } from "../tasks/_lib/deno_run.ts";
import { runtimeDenoEntrypoint } from "./_trust_fixtures.ts";

const deno = ["/usr/bin/deno", "run"];

Deno.test("deno run grammar: a value-taking flag does not hide the permissions after it", () => {
  // The review's entry point: attested as `flags: []` by a reader that stopped at "1".
  const run = parseDenoRun([
    ...deno,
    "--cached-only",
    "--frozen",
    "--seed",
    "1",
    "--allow-all",
    "/app/main.ts",
  ]);
  assert.deepEqual(run.permissions, ["--allow-all"]);
  assert.deepEqual(run.runtime, ["--cached-only", "--frozen", "--seed=1"]);
  assert.equal(run.script, "/app/main.ts");
  for (const hider of [["--location", "http://x/"], ["--config", "deno.json"], ["-c", "d.json"]]) {
    const hidden = parseDenoRun([...deno, ...hider, "-A", "/app/main.ts", "serve"]);
    assert.deepEqual([hidden.permissions, hidden.script, hidden.args], [
      ["--allow-all"],
      "/app/main.ts",
      ["serve"],
    ]);
  }
});

Deno.test("deno run grammar: the project's runtime-deno entry point reads whole", () => {
  const run = parseDenoRun([...runtimeDenoEntrypoint(), "serve"]);
  assert.equal(run.script, "/app/main.ts");
  assert.deepEqual(run.args, ["serve"]);
  assert.deepEqual(run.runtime, ["--cached-only", "--frozen"]);
  assert.ok(run.permissions.length >= 4 && run.permissions.every((f) => f.startsWith("--allow-")));
});

Deno.test("deno run grammar: --inspect and the other runtime flags are recorded, not dropped", () => {
  const run = parseDenoRun([...deno, "--inspect=0.0.0.0:9229", "--unstable-kv", "/app/main.ts"]);
  assert.deepEqual(run.runtime, ["--inspect=0.0.0.0:9229", "--unstable-kv"]);
  assert.deepEqual(
    parseDenoRun([...deno, "--importmap", "m.json", "--frozen-lockfile", "a.ts"]).runtime,
    ["--import-map=m.json", "--frozen"],
    "aliases in their canonical name",
  );
});

Deno.test("deno run grammar: anything but deno run [known flags] SCRIPT [args] is refused, naming the word", () => {
  const cases: [string[], RegExp][] = [
    [[...deno, "--allow-everything", "a.ts"], /"--allow-everything" is not a deno run flag/],
    [[...deno, "-qA", "a.ts"], /"-qA" is not a deno run flag \(one-letter flags/],
    [["/usr/bin/deno", "eval", "Deno.exit()"], /"eval" is not the run subcommand/],
    [["/app/swft", "run", "a.ts"], /"\/app\/swft" is not a deno executable/],
    [["/bin/sh", "-c", "deno run a.ts"], /"\/bin\/sh" is not a deno executable/],
    [[...deno, "--preload", "evil.ts", "a.ts"], /"--preload" runs a second script/],
    [[...deno, "--import=evil.ts", "a.ts"], /"--import=evil.ts" runs a second script/],
    [[...deno, "--require", "evil.js", "a.ts"], /"--require" runs a second script/],
    [[...deno, "--lock", "a.ts"], /"--lock" must be written --lock=FILE/],
    [[...deno, "--seed"], /"--seed" needs a value/],
    [[...deno, "--seed", "-A", "a.ts"], /"--seed" needs a value/],
    [[...deno, "--cached-only=yes", "a.ts"], /"--cached-only=yes" takes no value/],
    [[...deno, "-", "a.ts"], /"-" does not name a script file/],
    [[...deno, "--", "a.ts"], /"--" does not name a script file/],
    [[...deno, "-A"], /names no script/],
    [[...deno, "--permission-set=prod", "a.ts"], /from a config file/],
  ];
  for (const [command, message] of cases) {
    assert.throws(() => parseDenoRun(command), (e: Error) => {
      assert.match(e.message, /^rule deno-run-grammar: /);
      assert.match(e.message, message);
      assert.match(e.message, /the image must run deno run \[known flags\] SCRIPT \[args\]$/);
      assert.ok(!e.message.includes("\n"), "one line");
      return true;
    }, command.join(" "));
  }
});

Deno.test("deno run grammar: the table knows every flag deno run --help lists", async () => {
  // The installed Deno is the image's: a flag its help names that the table lacks would be
  // refused as unknown, a flag the table has that Deno dropped would be accepted in vain.
  const help = await new Deno.Command(Deno.execPath(), { args: ["run", "--help"] }).output();
  const listed = new Set(
    [...new TextDecoder().decode(help.stdout).matchAll(/^\s+(?:-\w, )?--([a-z0-9-]+)/gm)].map(
      (m) => m[1],
    ),
  );
  const missing = [...listed].filter((f) =>
    !(f in DENO_RUN_FLAGS) && !(f in DENO_RUN_ALIASES) && f !== "help"
  );
  assert.deepEqual(missing, []);
});
