import type { Context } from 'aws-lambda';
import { lambdaContext } from './proxy-event';

/** An async Lambda handler (the only kind TaskFlow has). */
export type AsyncHandler<E, R> = (event: E, context: Context) => Promise<R>;

export class FunctionTimeout extends Error {
  constructor(functionName: string, timeoutMs: number) {
    super(`${functionName}: Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds`);
    this.name = 'FunctionTimeout';
  }
}

/**
 * The invocations one part of the local runtime (the event-source mappings, the schedules) makes, so that
 * stopping it can tell running handlers there is no time left and wait for them.
 *
 * An invocation ends when its handler settles or at its timeout, whichever is first: Lambda would freeze the
 * environment then, but a promise cannot be killed, so a handler that ignores its deadline runs on unseen.
 */
export class Invocations {
  private readonly running = new Set<Promise<unknown>>();
  private readonly stopping = new AbortController();

  get stopped(): boolean {
    return this.stopping.signal.aborted;
  }

  /** Aborted once stop() is called. */
  get signal(): AbortSignal {
    return this.stopping.signal;
  }

  /** Loads the handler (a rejection is the invocation's error) and invokes it with a context for `timeoutMs`. */
  invoke<E, R>(load: () => Promise<AsyncHandler<E, R>>, event: E, functionName: string, timeoutMs: number): Promise<R> {
    const invocation = load()
      .then((handler) => {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new FunctionTimeout(functionName, timeoutMs)), timeoutMs);
        });
        const result = Promise.resolve().then(() => handler(event, lambdaContext(functionName, timeoutMs, this.stopping.signal)));
        return Promise.race([result, timeout]).finally(() => clearTimeout(timer));
      })
      .finally(() => this.running.delete(invocation));
    this.running.add(invocation);
    return invocation;
  }

  /** Running handlers now see no time left; resolves when every one has ended. */
  async stop(): Promise<void> {
    this.stopping.abort();
    while (this.running.size) await Promise.allSettled([...this.running]);
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((done) => {
    const timer = setTimeout(finish, ms);
    signal?.addEventListener('abort', finish, { once: true });
    function finish() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', finish);
      done();
    }
  });
}

/** `outboxRelay` → `OutboxRelay`: a local function name for a queue consumer or schedule. */
export const pascal = (name: string) => name.charAt(0).toUpperCase() + name.slice(1);
