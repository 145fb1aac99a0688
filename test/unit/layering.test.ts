import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { taskflow } from '../../lib/app';
import type { FunctionDeclaration } from '../../lib/declaration';

// The layers point one way: Lambda code (functions/) never imports the infrastructure code (lib/), which
// bundles CDK and the local runtime; and functions/shared (adapters, HTTP plumbing) sits below
// functions/domain, so it never imports it.

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const FUNCTIONS = join(ROOT, 'functions');
const LIB = join(ROOT, 'lib');
const SHARED = join(FUNCTIONS, 'shared');
const DOMAIN = join(FUNCTIONS, 'domain');

/** Every specifier a module imports: `import … from`, `export … from`, `import '…'` and `import('…')`. */
function specifiersOf(source: string): string[] {
  const patterns = [
    /\b(?:import|export)\s+(?:type\s+)?[^'";]*?\bfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  return patterns.flatMap((pattern) => [...source.matchAll(pattern)].map((match) => match[1]!));
}

/** Where a specifier leads from `file`: a path for a relative one or a bare one that resolves (a self-reference). */
function target(file: string, specifier: string): string | undefined {
  if (specifier.startsWith('.') || specifier.startsWith('/')) return resolve(dirname(file), specifier);
  try {
    return createRequire(file).resolve(specifier);
  } catch {
    return undefined; // a types-only package, say: nothing of ours
  }
}

const within = (path: string, folder: string) => path === folder || path.startsWith(folder + sep);

function typeScriptFiles(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) return typeScriptFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** `file: imports 'specifier'` for each import of a module in `from` that leads into `into`. */
function offences(files: readonly { path: string; source: string }[], from: string, into: string): string[] {
  return files
    .filter((file) => within(file.path, from))
    .flatMap((file) =>
      specifiersOf(file.source)
        .filter((specifier) => {
          const path = target(file.path, specifier);
          return path !== undefined && within(path, into);
        })
        .map((specifier) => `${relative(ROOT, file.path)}: imports '${specifier}'`),
    );
}

const modules = typeScriptFiles(FUNCTIONS).map((path) => ({ path, source: readFileSync(path, 'utf8') }));

/** Every module of ours that `entry` loads at run time (type-only imports load nothing). */
function loadedBy(entry: string): Set<string> {
  const sources = new Map(modules.map((module) => [module.path, module.source]));
  const seen = new Set<string>();
  const visit = (path: string) => {
    const file = [path, `${path}.ts`, join(path, 'index.ts')].find((candidate) => sources.has(candidate));
    if (!file || seen.has(file)) return;
    seen.add(file);
    const runtime = sources.get(file)!.replace(/^\s*(?:import|export)\s+type\s[^;]*;/gm, '');
    for (const specifier of specifiersOf(runtime)) {
      const path = target(file, specifier);
      if (path !== undefined) visit(path.replace(/\.js$/, ''));
    }
  };
  visit(join(ROOT, entry));
  return seen;
}

describe('layering', () => {
  it('no file under functions/ imports from lib/', () => {
    expect(offences(modules, FUNCTIONS, LIB), 'Lambda code must not import lib/ (move what it needs under functions/shared)').toEqual([]);
  });

  it('no file under functions/shared/ imports from functions/domain/', () => {
    expect(offences(modules, SHARED, DOMAIN), 'functions/shared is below functions/domain').toEqual([]);
  });

  it('sees every kind of import, and a bare one that resolves into lib/', () => {
    const source = `import { a } from '../../lib/declaration';
      import type { B } from '../domain/tenancy';
      import {
        c,
        type D,
      } from '../domain/plans';
      export { e } from '../domain/events';
      export * from '../../lib/app';
      import '../domain/side-effect';
      const f = await import('../domain/dynamic');
      import { g } from 'taskflow/client';
      import { h } from './logger';`;
    expect(specifiersOf(source)).toEqual([
      '../../lib/declaration',
      '../domain/tenancy',
      '../domain/plans',
      '../domain/events',
      '../../lib/app',
      'taskflow/client',
      './logger',
      '../domain/side-effect',
      '../domain/dynamic',
    ]);
    const file = { path: join(SHARED, 'example.ts'), source };
    expect(offences([file], FUNCTIONS, LIB)).toEqual([
      "functions/shared/example.ts: imports '../../lib/declaration'",
      "functions/shared/example.ts: imports '../../lib/app'",
      "functions/shared/example.ts: imports 'taskflow/client'",
    ]);
    expect(offences([file], SHARED, DOMAIN)).toEqual(
      ['tenancy', 'plans', 'events', 'side-effect', 'dynamic'].map((name) => `functions/shared/example.ts: imports '../domain/${name}'`),
    );
    expect(offences([{ ...file, path: join(DOMAIN, 'example.ts') }], SHARED, DOMAIN)).toEqual([]);
  });

  it('keeps the Idempotency-Key layer out of every read function, and in every function that changes something', () => {
    const layer = join(SHARED, 'idempotency.ts');
    const routes = taskflow.routes.flatMap((route) => ('function' in route && route.function ? [{ route, fn: route.function as FunctionDeclaration }] : []));
    const wrong = routes
      .filter(({ fn }) => loadedBy(fn.entry).has(layer) !== fn.needs.includes('idempotency'))
      .map(({ route, fn }) => `${route.method} ${route.path} (${fn.entry})`);
    expect(wrong, 'a read uses httpHandler, a change mutationHandler (functions/api/mutation-handler.ts)').toEqual([]);
    expect(routes.filter(({ fn }) => fn.needs.includes('idempotency')).length).toBeGreaterThan(10);
    expect(routes.filter(({ fn }) => !fn.needs.includes('idempotency')).length).toBeGreaterThan(10);
  });

  it('reads the whole tree', () => {
    expect(modules.length).toBeGreaterThan(100);
    expect(modules.some((module) => module.path === join(SHARED, 'http.ts'))).toBe(true);
  });
});
