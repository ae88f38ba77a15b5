/**
 * One way to clean up what a task or test creates (temp folders, images, containers, servers,
 * pods): a {@linkcode CleanupStack}, the standard `AsyncDisposableStack` with one addition. It
 * is disposed when its scope ends, normally or by a throw (`await using`), and also when
 * SIGINT or SIGTERM arrives under `runTask`, which disposes every stack still open before it
 * exits 130 / 143: so Ctrl-C removes what the run created. What is registered last is removed
 * first (a container before the image it runs).
 *
 * @example
 * ```ts
 * await using cleanup = new CleanupStack();
 * const dir = await tempDir(cleanup, "swft-example-");
 * cleanup.defer(() => docker(["rm", "-f", "swft-example"]).then(() => {}));
 * ```
 *
 * @module
 */

const open = new Set<CleanupStack>();

/**
 * An `AsyncDisposableStack` that the signal handler of `runTask` disposes too, while it is
 * open. Disposing it twice (the scope ending while a signal is handled) runs its clean-ups
 * once; both wait for them.
 */
export class CleanupStack extends AsyncDisposableStack {
  #disposing?: Promise<void>;

  /** An open stack, known to the signal handler until it is disposed. */
  constructor() {
    super();
    open.add(this);
  }

  /** Runs the clean-ups, newest first, once; later calls wait for the same run. */
  override disposeAsync(): Promise<void> {
    open.delete(this);
    return this.#disposing ??= super.disposeAsync();
  }

  /** The same as {@linkcode CleanupStack.disposeAsync}, for `await using`. */
  override [Symbol.asyncDispose](): Promise<void> {
    return this.disposeAsync();
  }
}

/**
 * Disposes every open {@linkcode CleanupStack}, newest first: what `runTask` does on SIGINT
 * and SIGTERM before it exits.
 *
 * @example
 * ```ts
 * Deno.addSignalListener("SIGINT", () => disposeOpenStacks().then(() => Deno.exit(130)));
 * ```
 */
export async function disposeOpenStacks(): Promise<void> {
  for (const stack of [...open].reverse()) {
    try {
      await stack.disposeAsync();
    } catch (error) {
      // The other stacks still need their turn; say what failed.
      console.error(`Cannot clean up: ${(error as Error).message}`);
    }
  }
}

/**
 * A new temporary folder that `stack` removes, with everything in it, when disposed.
 *
 * @example
 * ```ts
 * await using cleanup = new CleanupStack();
 * const dir = await tempDir(cleanup, "swft-release-");
 * ```
 */
export async function tempDir(stack: AsyncDisposableStack, prefix: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix });
  stack.defer(() => Deno.remove(dir, { recursive: true }).catch(() => {}));
  return dir;
}
