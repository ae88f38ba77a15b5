/**
 * The pieces every attestation's Kyverno conditions are made of (Kyverno has no CUE or Rego:
 * JMESPath conditions). tasks/release/admission.ts puts each attestation's conditions into the
 * ClusterPolicy.
 *
 * @module
 */

/**
 * One Kyverno condition: a JMESPath `{{ }}` key (or a value), an operator, a value and the
 * message Kyverno reports when it fails: `rule RULE: WHY`, the CUE rule it stands for, so a
 * refusal names the rule as `--verify-only --policy` does. In an `any` block Kyverno joins the
 * messages of every condition, so only its last one carries it.
 */
export type Condition = { key: unknown; operator: string; value: unknown; message?: string };

/** A block of conditions: all must hold, or any one. */
export type ConditionBlock = { all?: Condition[]; any?: Condition[] };

/** A {@linkcode Condition}, its message only when given. */
export const cond = (
  key: unknown,
  operator: string,
  value: unknown,
  message?: string,
): Condition => ({ key, operator, value, ...(message ? { message } : {}) });

/** A JMESPath expression as Kyverno reads it. */
export const jp = (expression: string): string => `{{ ${expression} }}`;

/** A JSON literal inside a JMESPath expression. */
export const literal = (value: unknown): string => `\`${JSON.stringify(value)}\``;

/**
 * Kyverno's In operators match both ways, so a predicate's value holding `*` or `?` would
 * match any accepted value (a builder id `*` is every builder). Before any such condition,
 * this one refuses a wildcard in the strings `expression` yields (a list; nulls skipped); the
 * CUE compares exactly and needs no such guard.
 */
export const noWildcard = (expression: string, message: string): Condition =>
  cond(
    jp(`length(${expression} | [?@] | [?contains(@, '*') || contains(@, '?')])`),
    "Equals",
    0,
    message,
  );
