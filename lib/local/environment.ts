import { AsyncLocalStorage } from 'node:async_hooks';

// Lambda gives each function its own environment; the local runtime runs every function in one process. So that a
// function sees only what its declaration gives it (and one that forgot a capability fails here as it would after
// `cdk deploy`), `process.env` becomes a view: inside an invocation, of that function's variables only; outside,
// of the process's own.

const processEnvironment = process.env;
const invocationEnvironment = new AsyncLocalStorage<Record<string, string>>();

/** The variables of the process itself (the runtime's), whichever invocation asks. */
export const runtimeEnvironment = (): NodeJS.ProcessEnv => processEnvironment;

let installed = false;

function install(): void {
  if (installed) return;
  installed = true;
  const current = () => invocationEnvironment.getStore() ?? processEnvironment;
  // A plain, extensible target: the view may report any variable of either environment.
  process.env = new Proxy({} as NodeJS.ProcessEnv, {
    get: (_, key) => (typeof key === 'string' ? current()[key] : undefined),
    set: (_, key, value) => Reflect.set(current(), key, String(value)),
    has: (_, key) => Reflect.has(current(), key),
    deleteProperty: (_, key) => Reflect.deleteProperty(current(), key),
    ownKeys: () => Reflect.ownKeys(current()),
    getOwnPropertyDescriptor: (_, key) => {
      const descriptor = Reflect.getOwnPropertyDescriptor(current(), key);
      return descriptor && { ...descriptor, configurable: true };
    },
  });
}

/** Runs `run` (and everything it starts) seeing `environment` as `process.env`, and nothing else. */
export function withEnvironment<T>(environment: Record<string, string>, run: () => T): T {
  install();
  return invocationEnvironment.run({ ...environment }, run);
}
