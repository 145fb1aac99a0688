// Part of `npm run bench`: the activity feed's delivery latency at 1,000 and 10,000 connections, from a change's
// commit to its frame's post at the @connections endpoint, on the local runtime. Everything from the commit on is
// the real code: the REST API, the outbox fast path, the broadcast queue and worker (registry read, shards), the
// feedFanout queue and its parallel fan-out workers, and their signed, kept-alive posts. Only the endpoint is
// simulated: 10,000 WebSocket clients would take this machine's two cores themselves. It answers each post after
// BENCH_FEED_POST_LATENCY_MS (default 20 ms, about API Gateway's), and the latency counted for each event and
// connection is from the event's commit (occurredAt) to that answer: when API Gateway would have the frame on its
// way to the client. Real clients over the WebSocket emulation: test/e2e/feed.test.ts.
import './bench-environment';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { BatchWriteItemCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createScratchDatabase } from '../lib/local/database';
import { startLocalRuntime, type LocalRuntime } from '../lib/local/runtime';
import { fmt, quantile } from './bench-stats';
import { connectionItem } from '../functions/domain/feed-registry';

export interface FeedLatency {
  connections: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

const CHANGES = Number(process.env.BENCH_FEED_CHANGES ?? 20);
const POST_LATENCY_MS = Number(process.env.BENCH_FEED_POST_LATENCY_MS ?? 20);
// 500 is one shard: what each of the fan-out's Lambda environments posts to, whatever the organization's size.
const SIZES = (process.env.BENCH_FEED_SIZES ?? '500,1000,10000').split(',').map(Number);
// The same posts a second at each size: a change every 300 ms to 1,000 connections, every 3 s to 10,000. Every
// shard's invocation runs in this one process, on this machine's two cores, where Lambda gives each its own: faster,
// one event's posts would overlap the next one's and measure this machine's CPU rather than the fan-out.
const intervalMs = (connections: number) => Number(process.env.BENCH_FEED_INTERVAL_MS ?? (connections * 3) / 10);
const TARGET_P99_MS = 1_000;


export async function feedLatency(databaseUrl: string): Promise<FeedLatency[]> {
  const endpoint = await simulatedEndpoint(POST_LATENCY_MS);
  const dataDir = await mkdtemp(join(tmpdir(), 'taskflow-bench-feed-'));
  const runtime = await startLocalRuntime({ port: 0, dataDir, schedules: false, rateLimitScale: 1000, databaseUrl, managementUrl: `${endpoint.url}/v1` });
  const results: FeedLatency[] = [];
  try {
    console.log(
      `\nFeed delivery, commit → post answered at the simulated @connections endpoint (${POST_LATENCY_MS} ms a post, BENCH_FEED_POST_LATENCY_MS),\n` +
        'through the outbox, the broadcast queue and worker, the feedFanout queue and its parallel fan-out workers; ' +
        `${CHANGES} task changes (BENCH_FEED_CHANGES), 3,333 posts a second`,
    );
    console.log(`${'connections'.padEnd(26)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'max ms'.padStart(8)}   target: p99 < ${TARGET_P99_MS} ms at 10,000`);
    for (const connections of SIZES) {
      const { latencies, expected } = await measure(runtime, endpoint, connections);
      const result = { connections, p50Ms: quantile(latencies, 0.5), p99Ms: quantile(latencies, 0.99), maxMs: latencies.length > 0 ? latencies.reduce((max, ms) => Math.max(max, ms), 0) : Number.NaN };
      results.push(result);
      const missing = expected - latencies.length;
      console.log(
        `${`${connections.toLocaleString('en-US')} (a change / ${intervalMs(connections)} ms)`.padEnd(26)} ${fmt(result.p50Ms, 1, 8)} ${fmt(result.p99Ms, 1, 8)} ${fmt(result.maxMs, 1, 8)}` +
          (missing > 0 ? `  ✗ ${missing} of ${expected} frames missing` : ''),
      );
    }
    console.log(
      "Every fan-out invocation runs in this one process here, on this machine's two cores with the API, the emulated SQS and\n" +
        "DynamoDB and the endpoint (a post costs its client about 0.1 ms of CPU). In Lambda each shard of 500 has an environment of\n" +
        "its own: the 500 row is one shard's fan-out, and the 10,000 row is this machine's ceiling, not the fan-out's.",
    );
  } finally {
    await runtime.stop();
    await endpoint.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
  return results;
}

async function measure(runtime: LocalRuntime, endpoint: SimulatedEndpoint, connections: number): Promise<{ latencies: number[]; expected: number }> {
  const orgId = `org_bench_${randomBytes(6).toString('hex')}`;
  const token = await runtime.issuer.mint({ org: orgId, user: 'bench' });
  const api = async (method: string, path: string, body: unknown) => {
    const response = await fetch(`${runtime.url}${path}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', 'If-Match': '*' },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status}`);
    return (await response.json()) as { id: string };
  };
  const project = await api('POST', '/projects', { name: 'Bench feed' });
  const task = await api('POST', `/projects/${project.id}/tasks`, { title: 'Bench' });
  await subscribeConnections(runtime, orgId, connections);
  // The frames of the project and task creations are on their way: what is counted starts after them.
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  await endpoint.collect();

  const expected = CHANGES * connections;
  for (let i = 0; i < CHANGES; i += 1) {
    await api('PATCH', `/tasks/${task.id}`, { description: `change ${i}` });
    await new Promise((resolve) => setTimeout(resolve, intervalMs(connections)));
  }
  // The last frames on their way (a loaded machine may take a while): what has not come in 30 s is missing.
  let latencies: number[] = [];
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 250))) {
    latencies = latencies.concat(await endpoint.collect());
    if (latencies.length >= expected) break;
  }
  return { latencies, expected };
}

/**
 * `count` connections subscribed to the whole organization, written straight to the registry as $connect and
 * subscribe would (the handshake is not what is measured, and 10,000 of them would be most of the run).
 */
async function subscribeConnections(runtime: LocalRuntime, orgId: string, count: number): Promise<void> {
  const { endpoint, tableName } = runtime.services.dynamodb;
  const client = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  // Shaped like API Gateway's: 15 letters and digits and `=`.
  const ids = Array.from({ length: count }, () => [...randomBytes(15)].map((byte) => alphabet[byte % alphabet.length]).join('') + '=');
  const batches = Array.from({ length: Math.ceil(count / 25) }, (_, i) => ids.slice(i * 25, (i + 1) * 25));
  for (let i = 0; i < batches.length; i += 8) {
    await Promise.all(
      batches.slice(i, i + 8).map((batch) =>
        client.send(
          new BatchWriteItemCommand({
            RequestItems: {
              [tableName('connections')]: batch.map((id) => ({
                PutRequest: { Item: connectionItem(orgId, { connectionId: id, userId: 'bench', clientId: 'default', projectId: null }) },
              })),
            },
          }),
        ),
      ),
    );
  }
  client.destroy();
}

interface SimulatedEndpoint {
  url: string;
  /** The latencies recorded since the last call (commit → answer, per event and connection), and forgets them. */
  collect(): Promise<number[]>;
  stop(): Promise<void>;
}

/**
 * The @connections endpoint in a worker thread (the posts' other end gets a core of its own, as API Gateway is not on
 * the Lambda's machine): each POST is answered 200 after `latencyMs`; for each task.updated event of its frame the
 * time from its commit to that answer is recorded. It is a bare HTTP/1.1 responder on node:net (requests framed by
 * Content-Length, as the @connections client sends them), not node:http: API Gateway's own work is not this
 * machine's, and node:http's would take a third of a core at 10,000 posts.
 */
async function simulatedEndpoint(latencyMs: number): Promise<SimulatedEndpoint> {
  const source = `
    const { createServer } = require('node:net');
    const { parentPort, workerData } = require('node:worker_threads');
    let latencies = [];
    const sockets = new Set();
    const answer = (socket, method, body) => setTimeout(() => {
      if (socket.destroyed) return;
      socket.write('HTTP/1.1 200 OK\\r\\ncontent-length: 0\\r\\n\\r\\n');
      const answered = Date.now();
      if (method !== 'POST') return;
      const frame = JSON.parse(body.toString());
      for (const event of frame.events || []) if (event.type === 'task.updated') latencies.push(answered - Date.parse(event.occurredAt));
    }, workerData.latencyMs);
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
      let pending = Buffer.alloc(0);
      socket.on('data', (chunk) => {
        pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
        for (;;) {
          const headEnd = pending.indexOf('\\r\\n\\r\\n');
          if (headEnd < 0) return;
          const head = pending.subarray(0, headEnd).toString('latin1');
          const length = Number(/\\r\\ncontent-length: *(\\d+)/i.exec(head)?.[1] ?? 0);
          if (pending.length < headEnd + 4 + length) return;
          answer(socket, head.slice(0, head.indexOf(' ')), pending.subarray(headEnd + 4, headEnd + 4 + length));
          pending = pending.subarray(headEnd + 4 + length);
        }
      });
    });
    server.listen(0, '127.0.0.1', () => parentPort.postMessage({ port: server.address().port }));
    parentPort.on('message', (message) => {
      if (message === 'collect') { parentPort.postMessage({ latencies }); latencies = []; }
      if (message === 'stop') {
        server.close(() => parentPort.close());
        for (const socket of sockets) socket.destroy();
      }
    });
  `;
  const worker = new Worker(source, { eval: true, workerData: { latencyMs } });
  const next = <T>() => new Promise<T>((resolve) => worker.once('message', resolve));
  const { port } = await next<{ port: number }>();
  return {
    url: `http://127.0.0.1:${port}`,
    collect: async () => {
      const answer = next<{ latencies: number[] }>();
      worker.postMessage('collect');
      return (await answer).latencies;
    },
    stop: async () => {
      worker.postMessage('stop');
      await new Promise((resolve) => worker.once('exit', resolve));
    },
  };
}

// `npx tsx bin/bench-feed.ts` runs this part alone, in a scratch database of TASKFLOW_TEST_DATABASE_URL's server.
if (import.meta.url === `file://${process.argv[1]}`) {
  const server = process.env.TASKFLOW_TEST_DATABASE_URL;
  if (!server) throw new Error('set TASKFLOW_TEST_DATABASE_URL to a PostgreSQL server to run the feed benchmark alone');
  const scratch = await createScratchDatabase(server, 'taskflow_bench_feed');
  try {
    await feedLatency(scratch.url);
  } finally {
    await scratch.drop();
  }
}
