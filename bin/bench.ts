// `npm run bench`: the performance budgets of docs/architecture.md, measured. Figures are printed beside them;
// nothing here fails a build (budgets are checked by reading, never by a timed test). `--json FILE` also writes
// every figure as JSON (bin/bench-json.ts; its shape is in the README's benchmark section).
import './bench-environment';
import './quiet-sdk-node-warning';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { taskflow } from '../lib/app';
import { DEFAULT_MEMORY_MB, type FunctionDeclaration } from '../lib/declaration';
import { addUsage, callsBetween, dynamoDbWriteCalls, snapshotCalls, type CallCounts } from '../lib/cost/model';
import { createScratchDatabase, startDatabase } from '../lib/local/database';
import { startDynamoDb } from '../lib/local/dynamodb';
import { startSqs } from '../lib/local/sqs';
import { invokeRoute, type Call, type Identity } from '../lib/local/invoke';
import { tableNameVariable } from '../functions/shared/resource-variables';
import { barePg } from './bench-baseline';
import { fmt, quantile } from './bench-stats';
import { bundles } from './bench-bundles';
import { apiRequestUsage, callsPerRequest, consumersUsage, feedEventUsage, printCosts, type ObservedRequests } from './bench-cost';
import { deletionImpact } from './bench-deletion';
import { feedLatency } from './bench-feed';
import { writeBenchJson, type OperationFigures } from './bench-json';

const BUDGET = { readTrips: 1, mutationTrips: 2 };
const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 300);
const WARMUP = 20;
// Steady load on the rate limiter: a few callers, each making many requests.
const RATE_LIMIT_CALLERS = 4;

const memoryOf = (fn: FunctionDeclaration) => fn.memoryMb ?? DEFAULT_MEMORY_MB;

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
    DATABASE_URL: db.url, RATE_LIMIT_SCALE: '1000',
  });
  const { db: appDatabase, roundTrips, closeDatabase } = await import('../functions/shared/db');
  const { awsCalls } = await import('../functions/shared/aws-calls');
  const route = (id: string) => taskflow.routes.find((r) => r.operationId === id)!;
  const caller: Identity = { orgId: 'org_bench', userId: 'user_bench' };
  const project = (await invokeRoute(route('createProject'), caller, { body: { name: 'Bench' } })).body as { id: string };
  // The run creates more tasks than the free plan's 1,000 (the measured creates, their warm-up, the outbox lag's).
  await appDatabase.query("UPDATE organizations SET plan = 'pro' WHERE id = $1", [caller.orgId]);
  const taskIds: string[] = [];
  const versions = new Map<string, number>();
  const createBody = (i: number) => ({ params: { projectId: project.id }, body: { title: `Task ${i}`, labels: ['bench'] } });
  const key = (i: number) => ({ 'Idempotency-Key': `bench-${process.pid}-${i}` });
  const bare = await barePg(db.url, { orgId: caller.orgId, userId: caller.userId, projectId: project.id, taskIds });

  // [operationId, the figure's key in the JSON, its label, read or mutation, the call]
  const operations: [string, string, string, 'read' | 'mutation', (i: number) => Call][] = [
    ['createTask', 'createTask', 'createTask', 'mutation', createBody],
    ['createTask', 'createTaskWithKey', 'create + Idempotency-Key', 'mutation', (i) => ({ ...createBody(i), headers: key(i) })],
    ['createTask', 'createTaskReplay', 'replay of that key', 'mutation', (i) => ({ ...createBody(i), headers: key(i) })],
    ['getTask', 'getTask', 'getTask', 'read', (i) => ({ params: { taskId: taskIds[i % taskIds.length]! } })],
    ['listTasks', 'listTasks', 'listTasks', 'read', () => ({ params: { projectId: project.id }, query: { limit: '50', status: 'todo' } })],
    ['updateTask', 'updateTask', 'updateTask', 'mutation', (i) => {
      const taskId = taskIds[i % taskIds.length]!;
      return { params: { taskId }, body: { version: versions.get(taskId)!, priority: i % 2 ? 'high' : 'low' } };
    }],
  ];
  console.log(`\nHandler latency through the real handlers against ${db.kind} (and dynalite), ${ITERATIONS} requests each,`);
  console.log('each request followed by a bare `pg` client running the equivalent statement on the same server (bin/bench-baseline.ts)');
  console.log(`${'operation'.padEnd(26)} ${'p50 ms'.padStart(7)} ${'p95 ms'.padStart(7)} ${'trips'.padStart(7)} ${'pg p50'.padStart(7)} ${'ratio'.padStart(7)}   budget: read = ${BUDGET.readTrips}, mutation ≤ ${BUDGET.mutationTrips} trips; goal: get ≤ 3×, create ≤ 8× bare pg`);
  const figures: Record<string, OperationFigures> = {};
  const observed = new Map<string, ObservedRequests>();
  for (const [operationId, name, label, kind, call] of operations) {
    const times: number[] = [];
    const trips: number[] = [];
    const bareStatement = name === operationId ? bare.statement(operationId) : undefined;
    const bareTimes: number[] = [];
    // Untimed first: the handler's module loaded and its code warm, as in a warm Lambda environment (the keyed
    // variants follow their warm operation and their keys must be fresh).
    if (name === operationId) {
      for (let i = ITERATIONS; i < ITERATIONS + WARMUP; i += 1) {
        const response = await invokeRoute(route(operationId), caller, call(i));
        if (operationId === 'updateTask') versions.set(response.body.id, response.body.version);
        await bareStatement?.(i);
      }
    }
    const before = snapshotCalls(awsCalls);
    for (let i = 0; i < ITERATIONS; i += 1) {
      const tripsBefore = roundTrips.count;
      const started = performance.now();
      const response = await invokeRoute(route(operationId), caller, call(i));
      times.push(performance.now() - started);
      trips.push(roundTrips.count - tripsBefore);
      if (response.status >= 300) throw new Error(`${operationId}: ${response.status} ${JSON.stringify(response.body)}`);
      if (operationId === 'createTask' || operationId === 'updateTask') versions.set(response.body.id, response.body.version);
      if (name === 'createTask') taskIds.push(response.body.id);
      // The bare statement right after each request: both meet the same load on the (shared) server.
      if (bareStatement) {
        const bareStarted = performance.now();
        await bareStatement(i);
        bareTimes.push(performance.now() - bareStarted);
      }
    }
    const p50 = quantile(times, 0.5);
    observed.set(name, { calls: callsBetween(before, awsCalls), requests: ITERATIONS, meanMs: times.reduce((a, b) => a + b, 0) / times.length, memoryMb: memoryOf(route(operationId).function) });
    const barePgP50Ms = bareStatement ? quantile(bareTimes, 0.5) : undefined;
    const maxTrips = Math.max(...trips);
    const budget = kind === 'read' ? BUDGET.readTrips : BUDGET.mutationTrips;
    figures[name] = { p50Ms: p50, p95Ms: quantile(times, 0.95), trips: maxTrips, ...(barePgP50Ms === undefined ? {} : { barePgP50Ms }) };
    const side = barePgP50Ms === undefined ? `${''.padStart(7)} ${''.padStart(7)}` : `${fmt(barePgP50Ms, 2)} ${`${(p50 / barePgP50Ms).toFixed(1)}×`.padStart(7)}`;
    console.log(`${label.padEnd(26)} ${fmt(p50, 2)} ${fmt(quantile(times, 0.95), 2)} ${fmt(maxTrips, 0)} ${side}${maxTrips > budget ? '  ✗ over budget' : ''}`);
  }
  await bare.close();
  const added = figures.createTaskWithKey!.p50Ms - figures.createTask!.p50Ms;
  console.log(`Idempotency layer adds ${added.toFixed(2)} ms at p50 to a create (two DynamoDB writes, against local dynalite).`);
  const rateLimitWritesPerRequest = await rateLimits(awsCalls, caller);

  const broadcast = taskflow.queues.broadcast.consumer;
  const mutation = apiRequestUsage(observed.get('updateTask')!);
  const costPerMillion = printCosts({
    read: apiRequestUsage(observed.get('getTask')!),
    mutation,
    mutationNotifying: addUsage(mutation, consumersUsage(observed.get('updateTask')!, taskflow.name, taskflow.queues)),
    feedEvent100: feedEventUsage(100, memoryOf(broadcast)),
  });
  console.log(`AWS calls a read made (getTask, at the wire): ${callsPerRequest(observed.get('getTask')!)}`);
  console.log(`AWS calls a mutation made (updateTask, at the wire): ${callsPerRequest(observed.get('updateTask')!)}`);

  await outboxLag(caller, project.id, db.url, sqs.environment);
  await deletionImpact();
  await closeDatabase();
  await db.stop();
  await dynamo.stop();
  await sqs.stop();
  return { operations: figures, rateLimitWritesPerRequest, costPerMillion };
}

/**
 * DynamoDB writes on the rate-limits table per request under steady load: RATE_LIMIT_CALLERS callers (two
 * organizations, two addresses) each making ITERATIONS requests in turn through the check every JWT route makes.
 * Counted at the wire, so the figure follows whatever the limiter does.
 */
async function rateLimits(awsCalls: CallCounts, caller: Identity): Promise<number> {
  const { enforceRateLimits } = await import('../functions/domain/request-quotas');
  const table = process.env[tableNameVariable('rateLimits')]!;
  const callers = Array.from({ length: RATE_LIMIT_CALLERS }, (_, n) => ({ orgId: `${caller.orgId}_${n % 2}`, userId: `${caller.userId}_${n}`, role: 'member' as const, ip: `203.0.113.${n % 2}` }));
  const before = snapshotCalls(awsCalls);
  const checks: number[] = [];
  for (let i = 0; i < ITERATIONS * RATE_LIMIT_CALLERS; i += 1) {
    const { ip, ...who } = callers[i % RATE_LIMIT_CALLERS]!;
    const started = performance.now();
    await enforceRateLimits({ ...who, email: '', name: '' }, ip);
    checks.push(performance.now() - started);
  }
  const writes = dynamoDbWriteCalls(callsBetween(before, awsCalls), table) / checks.length;
  console.log(
    `Rate limits add ${quantile(checks, 0.5).toFixed(2)} ms at p50, ${quantile(checks, 0.95).toFixed(2)} ms at p95, to every JWT request, ` +
      `and ${writes.toFixed(2)} DynamoDB writes a request on ${table} (${checks.length} requests from ${RATE_LIMIT_CALLERS} callers, counted at the wire; goal ≤ 0.5).`,
  );
  return writes;
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

const { values: options } = parseArgs({ options: { json: { type: 'string' } } });
const built = await bundles();
const measured = await latencies();
const feedDatabase = await database();
let feed: Awaited<ReturnType<typeof feedLatency>>;
try {
  feed = await feedLatency(feedDatabase.url);
} finally {
  await feedDatabase.stop();
}
if (options.json) {
  await writeBenchJson(options.json, { ...built, ...measured, feed });
  console.log(`\nEvery figure written to ${options.json}`);
}
