// `npm run bench`: the performance budgets of docs/architecture.md, measured. Figures are printed beside them;
// nothing here fails a build (budgets are checked by reading, never by a timed test).
import './quiet-sdk-node-warning';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { App } from 'aws-cdk-lib';
import { taskflow } from '../lib/app';
import { createScratchDatabase, startDatabase } from '../lib/local/database';
import { startDynamoDb } from '../lib/local/dynamodb';
import { startSqs } from '../lib/local/sqs';
import { invokeRoute, type Call, type Identity } from '../lib/local/invoke';
import { STACK_BUDGET, stackSizes } from '../lib/stacks/budget';
import { TaskFlow } from '../lib/stacks/taskflow';
import { deletionImpact } from './bench-deletion';
import { feedLatency } from './bench-feed';

const BUDGET = { bundleKb: 250, initMs: 100, readTrips: 1, mutationTrips: 2 };
const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 300);
const INIT_RUNS = 5;

const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
};
const median = (values: number[]) => quantile(values, 0.5);
const fmt = (n: number, digits = 1) => n.toFixed(digits).padStart(7);

async function bundles() {
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
      const init = median(inits);
      const flag = kb > BUDGET.bundleKb || init > BUDGET.initMs ? '  ✗ over budget' : '';
      console.log(`${name.slice(0, 34).padEnd(34)} ${fmt(kb)} ${fmt(init)}${flag}`);
    }
  } finally {
    await rm(outdir, { recursive: true, force: true });
  }
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

async function database(): Promise<{ url: string; stop(): Promise<void>; kind: string }> {
  const server = process.env.TASKFLOW_TEST_DATABASE_URL;
  if (server) {
    const scratch = await createScratchDatabase(server, 'taskflow_bench');
    return { url: scratch.url, kind: `PostgreSQL (${server})`, stop: scratch.drop };
  }
  const dataDir = await mkdtemp(join(tmpdir(), 'taskflow-bench-db-'));
  const embedded = await startDatabase({ dataDir });
  return {
    url: embedded.url,
    kind: 'embedded PGlite',
    stop: async () => {
      await embedded.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function latencies() {
  const db = await database();
  const dynamo = await startDynamoDb(taskflow.tables);
  const sqs = await startSqs(taskflow);
  // One user makes thousands of requests a minute here: the rate limits are checked (their cost is part of
  // every figure) but scaled up so that none refuses.
  Object.assign(process.env, dynamo.environment, sqs.environment, {
    DATABASE_URL: db.url, POWERTOOLS_LOG_LEVEL: 'SILENT', POWERTOOLS_METRICS_DISABLED: 'true', RATE_LIMIT_SCALE: '1000',
  });
  const { roundTrips, closeDatabase } = await import('../functions/shared/db');
  const route = (id: string) => taskflow.routes.find((r) => r.operationId === id)!;
  const caller: Identity = { orgId: 'org_bench', userId: 'user_bench' };
  const project = (await invokeRoute(route('createProject'), caller, { body: { name: 'Bench' } })).body as { id: string };
  const taskIds: string[] = [];
  const versions = new Map<string, number>();
  const createBody = (i: number) => ({ params: { projectId: project.id }, body: { title: `Task ${i}`, labels: ['bench'] } });
  const key = (i: number) => ({ 'Idempotency-Key': `bench-${process.pid}-${i}` });

  const operations: [string, string, 'read' | 'mutation', (i: number) => Call][] = [
    ['createTask', 'createTask', 'mutation', createBody],
    ['createTask', 'create + Idempotency-Key', 'mutation', (i) => ({ ...createBody(i), headers: key(i) })],
    ['createTask', 'replay of that key', 'mutation', (i) => ({ ...createBody(i), headers: key(i) })],
    ['getTask', 'getTask', 'read', (i) => ({ params: { taskId: taskIds[i % taskIds.length]! } })],
    ['listTasks', 'listTasks', 'read', () => ({ params: { projectId: project.id }, query: { limit: '50', status: 'todo' } })],
    ['updateTask', 'updateTask', 'mutation', (i) => {
      const taskId = taskIds[i % taskIds.length]!;
      return { params: { taskId }, body: { version: versions.get(taskId)!, priority: i % 2 ? 'high' : 'low' } };
    }],
  ];
  console.log(`\nHandler latency through the real handlers against ${db.kind} (and dynalite), ${ITERATIONS} requests each`);
  console.log(`${'operation'.padEnd(26)} ${'p50 ms'.padStart(7)} ${'p95 ms'.padStart(7)} ${'trips'.padStart(7)}   budget: read = ${BUDGET.readTrips}, mutation ≤ ${BUDGET.mutationTrips}`);
  const p50 = new Map<string, number>();
  for (const [operationId, label, kind, call] of operations) {
    const times: number[] = [];
    const trips: number[] = [];
    for (let i = 0; i < ITERATIONS; i += 1) {
      const before = roundTrips.count;
      const started = performance.now();
      const response = await invokeRoute(route(operationId), caller, call(i));
      times.push(performance.now() - started);
      trips.push(roundTrips.count - before);
      if (response.status >= 300) throw new Error(`${operationId}: ${response.status} ${JSON.stringify(response.body)}`);
      if (operationId === 'createTask' || operationId === 'updateTask') versions.set(response.body.id, response.body.version);
      if (label === 'createTask') taskIds.push(response.body.id);
    }
    const maxTrips = Math.max(...trips);
    const budget = kind === 'read' ? BUDGET.readTrips : BUDGET.mutationTrips;
    p50.set(label, quantile(times, 0.5));
    console.log(`${label.padEnd(26)} ${fmt(quantile(times, 0.5), 2)} ${fmt(quantile(times, 0.95), 2)} ${fmt(maxTrips, 0)}${maxTrips > budget ? '  ✗ over budget' : ''}`);
  }
  const added = p50.get('create + Idempotency-Key')! - p50.get('createTask')!;
  console.log(`Idempotency layer adds ${added.toFixed(2)} ms at p50 to a create (two DynamoDB writes, against local dynalite).`);
  const { enforceRateLimits } = await import('../functions/domain/request-quotas');
  const checks: number[] = [];
  for (let i = 0; i < ITERATIONS; i += 1) {
    const started = performance.now();
    await enforceRateLimits({ ...caller, role: 'member' }, '203.0.113.7');
    checks.push(performance.now() - started);
  }
  console.log(`Rate limits add ${quantile(checks, 0.5).toFixed(2)} ms at p50, ${quantile(checks, 0.95).toFixed(2)} ms at p95, to every JWT request (user, organization, address and hourly count: four DynamoDB updates in parallel, against local dynalite).`);

  await outboxLag(caller, project.id, db.url, sqs.environment);
  await deletionImpact();
  await closeDatabase();
  await db.stop();
  await dynamo.stop();
  await sqs.stop();
}

/**
 * Outbox lag: from the mutation's transaction to its message being in SQS (the entry's published_at
 * minus created_at, both the database's clock). First with the fast path, then with every fast-path
 * publish failing (SQS unreachable from the API) and only the relay, in its own process as in Lambda,
 * publishing.
 */
async function outboxLag(caller: Identity, projectId: string, databaseUrl: string, sqsEnvironment: Record<string, string>) {
  const { db } = await import('../functions/shared/db');
  const count = Math.min(ITERATIONS, 200);
  const lags = async (from: number) =>
    (await db.query<{ lag: number }>('SELECT extract(epoch FROM published_at - created_at)::float8 * 1000 AS lag FROM outbox WHERE created_at >= to_timestamp($1 / 1000.0)', [from])).rows.map((row) => row.lag);
  const mutate = async (i: number) => {
    const response = await invokeRoute(taskflow.routes.find((r) => r.operationId === 'createTask')!, caller, { params: { projectId }, body: { title: `Lag ${i}` } });
    if (response.status !== 201) throw new Error(`createTask: ${response.status}`);
  };
  console.log(`\nOutbox lag, commit → message in SQS (${count} task creations each, one every 20 ms)`);
  console.log(`${'path'.padEnd(26)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'max ms'.padStart(7)}   target: < 5 000 ms even when the fast path fails`);
  const report = (label: string, values: number[]) =>
    console.log(`${label.padEnd(26)} ${fmt(quantile(values, 0.5), 1)} ${fmt(quantile(values, 0.99), 1)} ${fmt(Math.max(...values), 1)}${values.length < count ? `  ✗ ${count - values.length} unpublished` : ''}`);

  let from = Date.now();
  for (let i = 0; i < count; i += 1) {
    await mutate(i);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  report('fast path', await lags(from));

  // SQS unreachable from here (a closed port); the relay runs in a child process that can reach it.
  process.env.AWS_ENDPOINT_URL_SQS = 'http://127.0.0.1:9';
  const relay = spawn(process.execPath, ['--import', 'tsx', '-e', RELAY_SCRIPT], {
    env: { ...process.env, ...sqsEnvironment, DATABASE_URL: databaseUrl, DB_POOL_MAX: '1' },
    stdio: 'inherit',
  });
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  from = Date.now();
  for (let i = 0; i < count; i += 1) {
    await mutate(i);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  // Let the relay catch up with the last entries (each waits out the fast path's 2 s lease first).
  await new Promise((resolve) => setTimeout(resolve, 4_000));
  relay.kill('SIGTERM');
  report('relay only', await lags(from));
  process.env.AWS_ENDPOINT_URL_SQS = sqsEnvironment.AWS_ENDPOINT_URL_SQS;
}

const RELAY_SCRIPT = `
  const { runRelay } = await import(${JSON.stringify(new URL('../functions/domain/outbox-relay.ts', import.meta.url).href)});
  await runRelay({ remainingMs: () => 600_000 });
`;

await bundles();
await latencies();
const feedDatabase = await database();
try {
  await feedLatency(feedDatabase.url);
} finally {
  await feedDatabase.stop();
}
