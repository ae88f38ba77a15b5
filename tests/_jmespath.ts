/**
 * JMESPath as Kyverno evaluates it, for the tests that check the admission component's
 * conditions offline: the JMESPath Community implementation (Kyverno's go-jmespath is a fork of
 * the community's Go one) with the Kyverno functions the conditions use, written as Kyverno's
 * code writes them (pkg/engine/jmespath/functions.go at 111e07bb: `split`, `trim_prefix`,
 * `regex_match`). Not Kyverno itself: what Kyverno adds around it (the `{{ }}` substitution, the
 * operators) the tests model where they use it.
 *
 * @module
 */
// deno-lint-ignore no-import-prefix -- test tooling: kept out of deno.json's imports (image)
import * as jmespath from "npm:@jmespath-community/jmespath@1.3.0";

const string = { types: [jmespath.TYPE_STRING] };
const options = { override: true };
/** A Kyverno function of strings, registered over the library's own where it has one. */
function register(name: string, fn: (...args: string[]) => jmespath.JSONValue, arity = 2): void {
  jmespath.registerFunction(
    name,
    (values) => fn(...values as string[]),
    Array(arity).fill(string),
    options,
  );
}
// Go's strings.Split: "" splits into [""], as JavaScript's does.
register("split", (s, sep) => s.split(sep));
register("trim_prefix", (s, prefix) => s.startsWith(prefix) ? s.slice(prefix.length) : s);
// Go's regexp.Match: unanchored (Kyverno also takes a number as the subject; no condition here
// passes one).
register("regex_match", (regex, subject) => new RegExp(regex).test(subject));

/**
 * Evaluates a JMESPath `expression` on `data`; throws where Kyverno's substitution fails (a
 * function on the wrong type, such as `length(null)`).
 *
 * @example
 * ```ts
 * kyvernoSearch({ flags: ["--allow-net=a"] }, "flags[?regex_match('^--allow-', @)]");
 * // ["--allow-net=a"]
 * ```
 */
export function kyvernoSearch(data: unknown, expression: string): unknown {
  return jmespath.search(data as jmespath.JSONValue, expression);
}
