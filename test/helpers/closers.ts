// What a test started, closed in reverse order when it ends: a `before` that fails halfway
// closes only what it had started, and an `after` needs no check of what exists.

export class Closers {
  private readonly closers: (() => Promise<void> | void)[] = [];

  add(close: () => Promise<void> | void): void {
    this.closers.push(close);
  }

  /** Closes everything added, last first; every close runs, and the first failure is thrown after. */
  async closeAll(): Promise<void> {
    const failures: unknown[] = [];
    for (const close of this.closers.splice(0).reverse()) {
      try {
        await close();
      } catch (error) {
        failures.push(error);
      }
    }
    if (failures.length > 0) throw failures[0];
  }
}
