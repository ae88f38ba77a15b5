/**
 * What `deno task generate` writes, in order: each target renders its files from the
 * configuration schema (config/), the permission set and the policy. A later target reads what
 * an earlier one rendered (the admission YAMLs read the policy with its new ceiling).
 *
 * @module
 */
import { configRows, configTable, plainText, type Variable, VARIABLES } from "../../config/mod.ts";
import {
  CONFIG_MAP_VALUES,
  type DeployList,
  ENV_FILE_VALUES,
  LEFT_OUT,
} from "../../config/deploy.ts";
import { permissionEntries, permissionFlags } from "../../config/permissions.ts";
import { ROOT, taskCommand } from "../_lib/mod.ts";
import { ADMISSION_DIR, renderAdmission } from "../release/admission.ts";
import { kindOf, requiredAttestations } from "../release/attestations/mod.ts";
import { NOT_RUN_ON_EXISTING_IMAGE } from "../verify/checks_build.ts";
import { parseConfig } from "../verify/config.ts";
import { registry } from "../verify/mod.ts";
import { GenerateError, replaceRegion, withPermissions } from "./regions.ts";

/** A file's text as the generator has it so far (rendered, else as on disk). */
export type Read = (file: string) => string;

/** One step of the generator: the files it writes and what a person edits instead. */
export interface Target {
  /** What to edit to change these files (the fix a `--check` failure names). */
  readonly source: string;
  /** The files' texts, by path from the project root. */
  render(read: Read): Record<string, string>;
}

const SCHEMA = "config/mod.ts (VARIABLES) and config/deploy.ts";
const PERMISSIONS = "config/permissions.ts";
const POLICY = "deploy/policy/swft.cue";

/** One documented variable, as the deploy lists write it. */
interface Documented {
  name: string;
  /** Its meaning and default, plain text. */
  comment: string;
  /** The value a commented-out example shows: the default, or empty where it is computed. */
  example: string;
}

function documented(list: DeployList): Documented[] {
  return configRows().map(([name, shown, doc]) => {
    const plainName = plainText(name);
    const spec = (VARIABLES as Record<string, Variable>)[plainName];
    const example = spec && !spec.shown ? String(spec.default) : "";
    const meaning = plainText(doc);
    const comment = `${meaning} (default: ${plainText(shown)})`;
    return { name: plainName, comment, example };
  }).filter(({ name }) => !(name in LEFT_OUT[list]));
}

function single(file: string, source: string, render: (current: string) => string): Target {
  return { source, render: (read) => ({ [file]: render(read(file)) }) };
}

function startTask(current: string): string {
  const command = taskCommand("start", JSON.parse(current));
  const next = withPermissions(command.split(/\s+/), permissionFlags(".")).join(" ");
  return current.replace(JSON.stringify(command), JSON.stringify(next));
}

const DENO_MAIN = /^(\s*(?:ENTRYPOINT|CMD) )(\[.*"\/app\/main\.ts".*\])$/gm;

function dockerfile(current: string): string {
  if (!current.match(DENO_MAIN)) {
    throw new GenerateError(
      "Cannot generate Dockerfile: no exec-form ENTRYPOINT or CMD runs /app/main.ts",
    );
  }
  return current.replace(DENO_MAIN, (_, head: string, array: string) => {
    const words = withPermissions(JSON.parse(array), permissionFlags("/app"));
    return `${head}[${words.map((word) => JSON.stringify(word)).join(", ")}]`;
  });
}

const CEILING = /("ceiling": \{\n)([\s\S]*?)(\n\s*\})/;

function policyCeiling(current: string): string {
  const found = CEILING.exec(current);
  if (!found) {
    throw new GenerateError(`Cannot generate ${POLICY}: its parameters have no "ceiling"`);
  }
  const indent = /^\s*/.exec(found[2])![0];
  const lines = permissionEntries("/app").map(([kind, values]) =>
    `${indent}${JSON.stringify(kind)}: [${values.map((v) => JSON.stringify(v)).join(", ")}]`
  );
  return current.replace(
    CEILING,
    (_, open: string, _body: string, close: string) => open + lines.join(",\n") + close,
  );
}

const ATTESTATIONS_PARAM = /("attestations": \[\n)([\s\S]*?)(\n\s*\])/;

/** The policy's `attestations` parameter: the registry's required attestations, in its order. */
function policyAttestations(current: string): string {
  const found = ATTESTATIONS_PARAM.exec(current);
  if (!found) {
    throw new GenerateError(`Cannot generate ${POLICY}: its parameters have no "attestations"`);
  }
  const indent = /^\s*/.exec(found[2])![0];
  const lines = requiredAttestations().map((a) =>
    `${indent}{${
      Object.entries(kindOf(a)).map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`)
        .join(", ")
    }}`
  );
  return current.replace(
    ATTESTATIONS_PARAM,
    (_, open: string, _body: string, close: string) => open + lines.join(",\n") + close,
  );
}

const VERIFY_CONFIG = "verify.config.json";
const REQUIRED_CHECKS = /("requiredChecks": )\[[^\]\n]*\]/;
const BUILD_CHECKS_PARAM = /("buildChecks": )\[[^\]\n]*\]/;

/**
 * The policy's `verify` parameters: `requiredChecks` is every check of verify's registry for
 * the project's config (so a check added to verify is required by the policy without a hand
 * edit), `buildChecks` those a run on an existing image does not run.
 */
function policyChecks(read: Read): (current: string) => string {
  return (current) => {
    for (
      const [name, pattern] of [["requiredChecks", REQUIRED_CHECKS], [
        "buildChecks",
        BUILD_CHECKS_PARAM,
      ]] as const
    ) {
      if (!pattern.test(current)) {
        throw new GenerateError(
          `Cannot generate ${POLICY}: its verify parameters have no "${name}"`,
        );
      }
    }
    let config;
    try {
      config = parseConfig(JSON.parse(read(VERIFY_CONFIG)), VERIFY_CONFIG);
    } catch (error) {
      throw new GenerateError(
        `Cannot generate ${POLICY}: ${VERIFY_CONFIG} (verify's checks) is not readable JSON: ${
          (error as Error).message
        }`,
      );
    }
    const ids = registry(config).map((check) => check.id);
    return current
      .replace(REQUIRED_CHECKS, (_, key: string) => key + JSON.stringify(ids).replaceAll(",", ", "))
      .replace(
        BUILD_CHECKS_PARAM,
        (_, key: string) => key + JSON.stringify(NOT_RUN_ON_EXISTING_IMAGE).replaceAll(",", ", "),
      );
  };
}

/** The admission component's files from the policy's text (renderAdmission reads a file). */
function admission(read: Read): Record<string, string> {
  const policy = Deno.makeTempFileSync({ prefix: "swft-generate-", suffix: ".cue" });
  try {
    Deno.writeTextFileSync(policy, read(POLICY));
    const dir = ADMISSION_DIR.slice(ROOT.length + 1);
    return Object.fromEntries(
      Object.entries(renderAdmission(policy)).map(([name, text]) => [`${dir}/${name}`, text]),
    );
  } finally {
    Deno.removeSync(policy);
  }
}

function envExample(current: string): string {
  const lines = documented("envFile").flatMap(({ name, comment, example }) => [
    `# ${comment}`,
    name in ENV_FILE_VALUES ? `${name}=${ENV_FILE_VALUES[name]}` : `# ${name}=${example}`,
  ]);
  return replaceRegion(".env.example", current, lines);
}

function composeEnvironment(current: string): string {
  const lines = documented("compose").map(({ name }) => `${name}: \${${name}:-}`);
  return replaceRegion("compose.yaml", current, lines);
}

const KUSTOMIZATION = "deploy/kubernetes/base/kustomization.yaml";

function configMap(current: string): string {
  const lines = documented("configMap").map(({ name }) =>
    `- ${name}=${CONFIG_MAP_VALUES[name] ?? ""}`
  );
  return replaceRegion(KUSTOMIZATION, current, lines);
}

function readmeTable(current: string): string {
  // Blank lines around the table, as deno fmt lays out markdown.
  return replaceRegion("README.md", current, ["", ...configTable().split("\n"), ""]);
}

/** Every generated file, in the order written; `deno task generate` runs them all. */
export const TARGETS: readonly Target[] = [
  single("deno.json", PERMISSIONS, startTask),
  single("Dockerfile", PERMISSIONS, dockerfile),
  single(POLICY, PERMISSIONS, policyCeiling),
  single(POLICY, "tasks/release/attestations/mod.ts (ATTESTATIONS)", policyAttestations),
  {
    source: "tasks/verify/ (the check registry) and verify.config.json",
    render: (read) => ({ [POLICY]: policyChecks(read)(read(POLICY)) }),
  },
  { source: POLICY, render: admission },
  single(".env.example", SCHEMA, envExample),
  single("compose.yaml", SCHEMA, composeEnvironment),
  single(KUSTOMIZATION, SCHEMA, configMap),
  single("README.md", "config/mod.ts (VARIABLES)", readmeTable),
];
