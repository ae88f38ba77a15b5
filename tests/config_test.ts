import assert from "node:assert/strict";
import { CONFIG_VARIABLES, ConfigError, parseConfig } from "../config.ts";

function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    parseConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${error}`);
    return error.problems;
  }
  assert.fail(`expected ${JSON.stringify(env)} to be rejected`);
}

Deno.test("config: defaults match the reference app", () => {
  const config = parseConfig({});
  assert.equal(config.port, 8080);
  assert.equal(config.host, "0.0.0.0");
  assert.equal(config.backgroundColor, "white");
  assert.equal(config.customMessage, "SWFT Demo");
  assert.equal(config.hostname, "local");
  assert.equal(config.logLevel, "info");
  assert.equal(config.logFormat, "auto");
  assert.equal(config.shutdownTimeoutMs, 5000);
  assert.equal(config.metrics, "off", "metrics are opt-in");
  assert.deepEqual(config.sources, []);
});

Deno.test("config: values from the environment are typed, normalised and frozen", () => {
  const config = parseConfig({
    PORT: "3000",
    HOST: "::",
    BACKGROUND_COLOR: "SteelBlue",
    CUSTOM_MESSAGE: "Bonjour 👋",
    HOSTNAME: "4f2a9c1b7d3e",
    LOG_LEVEL: "debug",
    LOG_FORMAT: "json",
    SHUTDOWN_TIMEOUT_MS: "250",
    METRICS: "prometheus",
  });
  assert.equal(config.port, 3000);
  assert.equal(config.host, "::");
  assert.equal(config.backgroundColor, "steelblue");
  assert.equal(config.customMessage, "Bonjour 👋");
  assert.equal(config.hostname, "4f2a9c1b7d3e");
  assert.equal(config.logLevel, "debug");
  assert.equal(config.logFormat, "json");
  assert.equal(config.shutdownTimeoutMs, 250);
  assert.equal(config.metrics, "prometheus");
  assert.deepEqual([...config.sources], [...CONFIG_VARIABLES]);
  assert.ok(Object.isFrozen(config));
});

Deno.test("config: an empty value means the default, as with `PORT=` in an env file", () => {
  const config = parseConfig({ PORT: "", BACKGROUND_COLOR: "" });
  assert.equal(config.port, 8080);
  assert.equal(config.backgroundColor, "white");
  assert.deepEqual(config.sources, []);
});

Deno.test("config: PORT accepts 0 (a free port) and hex colours are accepted", () => {
  assert.equal(parseConfig({ PORT: "0" }).port, 0);
  for (const color of ["#abc", "#ABCD", "#1e90ff", "#1e90ff80"]) {
    assert.equal(parseConfig({ BACKGROUND_COLOR: color }).backgroundColor, color.toLowerCase());
  }
});

Deno.test("config: an invalid PORT is named with its rule and value", () => {
  for (const port of ["abc", "-1", "65536", "80.5", "1e3", " 80"]) {
    const problems = problemsOf({ PORT: port });
    assert.equal(problems.length, 1);
    assert.equal(
      problems[0],
      `PORT must be an integer from 0 to 65535 (0 picks a free port), got ${JSON.stringify(port)}`,
    );
  }
});

Deno.test("config: hostile BACKGROUND_COLOR values are rejected, not placed in CSS", () => {
  const hostile = [
    "red;}body{display:none",
    "red</style><script>alert(1)</script>",
    "url(https://evil.example/x.png)",
    "expression(alert(1))",
    "var(--x)",
    "#12345",
    "#ggg",
    "notacolour",
    "red ",
  ];
  for (const value of hostile) {
    const problems = problemsOf({ BACKGROUND_COLOR: value });
    assert.equal(problems.length, 1, value);
    assert.match(problems[0], /^BACKGROUND_COLOR must be a CSS colour name/);
    assert.ok(problems[0].endsWith(`got ${JSON.stringify(value)}`), problems[0]);
  }
});

Deno.test("config: every invalid field is reported at once, one line each", () => {
  const problems = problemsOf({
    PORT: "http",
    HOST: "not a host",
    BACKGROUND_COLOR: "blurple",
    CUSTOM_MESSAGE: "x".repeat(201),
    HOSTNAME: "bad\nname",
    LOG_LEVEL: "verbose",
    LOG_FORMAT: "xml",
    SHUTDOWN_TIMEOUT_MS: "soon",
    METRICS: "statsd",
  });
  const named = problems.map((line) => line.split(" ")[0]);
  assert.deepEqual(named, [...CONFIG_VARIABLES]);
  assert.match(problems[3], /CUSTOM_MESSAGE must be at most 200 characters/);
  assert.match(problems[4], /HOSTNAME must not contain control characters, got "bad\\nname"/);
  assert.match(problems[5], /LOG_LEVEL must be one of debug, info, warn, error, got "verbose"/);
  assert.match(problems[6], /LOG_FORMAT must be one of auto, json, pretty, got "xml"/);
  assert.match(problems[8], /METRICS must be one of off, prometheus, got "statsd"/);
});

Deno.test("config: control characters in CUSTOM_MESSAGE are rejected (they would forge log lines)", () => {
  const problems = problemsOf({ CUSTOM_MESSAGE: "ok\u001b[31mred" });
  assert.equal(problems.length, 1);
  assert.match(problems[0], /^CUSTOM_MESSAGE must not contain control characters/);
});
