/**
 * deploy/policy/swft.cue and its parameters, and copies of it with one rule taken out, for the
 * tests that prove a refusal comes from the rule it names: without the rule, the same image
 * passes.
 *
 * @module
 */
import { POLICY_FILE, type PolicyParams, readPolicyParams } from "../tasks/release/policy.ts";

/** deploy/policy/swft.cue as it is, read once for every test module. */
export const POLICY_TEXT: string = Deno.readTextFileSync(POLICY_FILE);

/** Its parameters. */
export const POLICY_PARAMS: PolicyParams = readPolicyParams(POLICY_TEXT, POLICY_FILE);

/**
 * The policy text without the rule `id`: its field, from the line that opens it to the line
 * where its braces close. Throws when the policy has no such rule.
 *
 * @example
 * ```ts
 * withoutRule(text, "permissions-forbidden");
 * ```
 */
export function withoutRule(text: string, id: string): string {
  const lines = text.split("\n");
  const start = lines.findIndex((l) => l.trimStart().startsWith(`"${id}":`));
  if (start < 0) throw new Error(`Cannot remove rule ${id}: the policy has none`);
  let depth = 0;
  let end = start;
  for (; end < lines.length; end++) {
    depth += (lines[end].match(/\{/g) ?? []).length - (lines[end].match(/\}/g) ?? []).length;
    if (depth <= 0) break;
  }
  return [...lines.slice(0, start), ...lines.slice(end + 1)].join("\n");
}

/**
 * The policy text with its parameters changed by `change` (the block is JSON; CUE reads it
 * as it is).
 */
export function withParams(text: string, change: (params: PolicyParams) => PolicyParams): string {
  const block = /(#params: )\{[\s\S]*?\n\}\n(?=\/\/ ---- end of parameters ----)/;
  if (!block.test(text)) throw new Error("Cannot find the policy's parameters block");
  return text.replace(block, `$1${JSON.stringify(change(readPolicyParams(text)), null, "\t")}\n`);
}

/**
 * The policy text requiring only the attestations `names` (the rule `required-attestations`
 * is its `attestations` parameter).
 */
export function requiring(text: string, names: string[]): string {
  return withParams(text, (params) => ({
    ...params,
    attestations: params.attestations.filter((a) => names.includes(a.name)),
  }));
}
