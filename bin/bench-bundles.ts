// Part of `npm run bench`: the stacks `cdk deploy --all` deploys (resources, template size) and the function bundles
// `cdk synth` builds (size, module init), each beside its budget.
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { App } from 'aws-cdk-lib';
import { STACK_BUDGET, stackSizes } from '../lib/stacks/budget';
import { TaskFlow } from '../lib/stacks/taskflow';
import type { BenchFigures } from './bench-json';
import { fmt, quantile } from './bench-stats';

const BUDGET = { bundleKb: 250, initMs: 100 };
const INIT_RUNS = 5;


export async function bundles(): Promise<Pick<BenchFigures, 'stacks' | 'bundles'>> {
  const figures: Pick<BenchFigures, 'stacks' | 'bundles'> = { stacks: [], bundles: [] };
  const outdir = await mkdtemp(join(tmpdir(), 'taskflow-bench-cdk-'));
  try {
    // The feature flags `cdk synth` reads from cdk.json, so the bundles are the deployed ones.
    const { context } = JSON.parse(readFileSync(new URL('../cdk.json', import.meta.url), 'utf8')) as { context: Record<string, unknown> };
    const app = new App({ outdir, context });
    new TaskFlow(app);
    const assembly = app.synth();
    console.log('\nStacks (what `cdk deploy --all` deploys, in order)');
    console.log(`${'stack'.padEnd(34)} ${'resources'.padStart(9)} ${'KB'.padStart(7)}   budget: ≤ ${STACK_BUDGET.resources} resources, ≤ ${STACK_BUDGET.templateKb} KB`);
    for (const { name, resources, templateKb } of stackSizes(assembly)) {
      const flag = resources > STACK_BUDGET.resources || templateKb > STACK_BUDGET.templateKb ? '  ✗ over budget' : '';
      console.log(`${name.padEnd(34)} ${String(resources).padStart(9)} ${fmt(templateKb)}${flag}`);
      figures.stacks.push({ name, resources, templateKb });
    }
    const resources = assembly.stacks.flatMap((stack) =>
      Object.entries((stack.template as { Resources: Record<string, { Type: string; Properties?: { Code?: { S3Key?: unknown } } }> }).Resources),
    );
    console.log('\nFunction bundles (the assets `cdk synth` builds; init = importing the bundle in a fresh Node process)');
    console.log(`${'function'.padEnd(34)} ${'KB'.padStart(7)} ${'init ms'.padStart(7)}   budget: ≤ ${BUDGET.bundleKb} KB, ≤ ${BUDGET.initMs} ms`);
    for (const [logicalId, resource] of resources) {
      const key = resource.Properties?.Code?.S3Key;
      if (resource.Type !== 'AWS::Lambda::Function' || typeof key !== 'string') continue;
      const name = logicalId.replace(/[0-9A-F]{8}$/, '');
      const file = join(assembly.directory, `asset.${key.replace(/\.zip$/, '')}`, 'index.mjs');
      if (!existsSync(file)) continue; // a CDK-provided function (custom resource provider), not one of ours
      const kb = statSync(file).size / 1024;
      initMs(file); // warm the file cache; not counted
      const inits: number[] = [];
      for (let run = 0; run < INIT_RUNS; run += 1) inits.push(initMs(file));
      const init = quantile(inits, 0.5);
      const flag = kb > BUDGET.bundleKb || init > BUDGET.initMs ? '  ✗ over budget' : '';
      console.log(`${name.slice(0, 34).padEnd(34)} ${fmt(kb)} ${fmt(init)}${flag}`);
      figures.bundles.push({ name, kb, initMs: init });
    }
  } finally {
    await rm(outdir, { recursive: true, force: true });
  }
  return figures;
}

function initMs(file: string): number {
  const script = `const t = performance.now(); await import(${JSON.stringify(pathToFileURL(file).href)}); process.stdout.write(String(performance.now() - t));`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    env: {
      PATH: process.env.PATH,
      AWS_REGION: 'eu-west-1',
      DB_HOST: 'proxy.invalid', DB_NAME: 'taskflow', DB_USER: 'taskflow_app',
      AUTH_ISSUER: 'https://issuer.invalid/', AUTH_AUDIENCE: 'taskflow-api',
      POWERTOOLS_LOG_LEVEL: 'SILENT',
    },
  });
  if (run.status !== 0) throw new Error(`importing ${file} failed: ${run.stderr}`);
  return Number(run.stdout);
}
