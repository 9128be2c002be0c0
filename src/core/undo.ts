import { CleanupError } from "../host/errors.ts";
import { logger } from "../host/log.ts";

/**
 * Rollback stack for multi-step operations (createSandbox, createContainer):
 * each step that changed the world pushes how to undo it; on failure the
 * steps are undone in reverse. If an undo step fails too, the remaining ones
 * still run and the caller gets a CleanupError carrying both errors.
 */

const log = logger("undo");

interface UndoStep {
  what: string;
  undo: () => Promise<void> | void;
}

export class UndoStack {
  private steps: UndoStep[] = [];

  push(what: string, undo: () => Promise<void> | void): void {
    this.steps.push({ what, undo });
  }

  /** Forget the steps: the operation succeeded and keeps its effects. */
  commit(): void {
    this.steps = [];
  }

  /** Undo every step in reverse; returns the errors of steps that failed. */
  async unwind(): Promise<unknown[]> {
    const failures: unknown[] = [];
    while (this.steps.length > 0) {
      const step = this.steps.pop() as UndoStep;
      try {
        log.debug(`undo: ${step.what}`);
        await step.undo();
      } catch (e) {
        log.warn(`undo of "${step.what}" failed: ${e instanceof Error ? e.message : String(e)}`);
        failures.push(e);
      }
    }
    return failures;
  }
}

/**
 * Run fn with a fresh undo stack. On success the stack is committed; on
 * failure it is unwound and the original error rethrown (as a CleanupError
 * when undo failed as well).
 */
export async function withUndo<T>(fn: (undo: UndoStack) => Promise<T>): Promise<T> {
  const stack = new UndoStack();
  try {
    const result = await fn(stack);
    stack.commit();
    return result;
  } catch (e) {
    const failures = await stack.unwind();
    if (failures.length > 0) throw new CleanupError(e, failures);
    throw e;
  }
}
