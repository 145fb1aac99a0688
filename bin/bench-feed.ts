// Part of `npm run bench`: the activity feed's delivery latency, from a change's commit to its frame on
// every connected client, on the local runtime (REST API, outbox fast path, local SQS, broadcast worker,
// WebSocket emulation with @connections), with 50 and then 500 connections subscribed.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { startLocalRuntime } from '../lib/local/runtime';

const CHANGES = Number(process.env.BENCH_FEED_CHANGES ?? 100);
// One change every 50 ms: a busy team, not a flood (the chaos test is the flood).
const INTERVAL_MS = 50;

const quantile = (values: number[], q: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(q * values.length))]!;
const fmt = (n: number) => n.toFixed(1).padStart(7);

export async function feedLatency(databaseUrl: string): Promise<{ connections: number; p50Ms: number; p99Ms: number; maxMs: number }[]> {
  const dataDir = await mkdtemp(join(tmpdir(), 'taskflow-bench-feed-'));
  const runtime = await startLocalRuntime({ port: 0, dataDir, schedules: false, rateLimitScale: 1000, databaseUrl });
  const figures: { connections: number; p50Ms: number; p99Ms: number; maxMs: number }[] = [];
  try {
    console.log(`\nFeed delivery, commit → frame on each client (${CHANGES} task changes, one every ${INTERVAL_MS} ms)`);
    console.log(`${'connections'.padEnd(26)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'max ms'.padStart(7)}   target: < 5 000 ms (the probe's alarm)`);
    for (const connections of [50, 500]) {
      const latencies = await measure(runtime.url, runtime.websocketUrl, await runtime.issuer.mint({ org: `org_bench_${randomUUID()}`, user: 'bench' }), connections);
      const missing = CHANGES * connections - latencies.length;
      figures.push({ connections, p50Ms: quantile(latencies, 0.5), p99Ms: quantile(latencies, 0.99), maxMs: Math.max(...latencies) });
      console.log(
        `${String(connections).padEnd(26)} ${fmt(quantile(latencies, 0.5))} ${fmt(quantile(latencies, 0.99))} ${fmt(Math.max(...latencies))}` +
          (missing > 0 ? `  ✗ ${missing} frames missing` : ''),
      );
    }
  } finally {
    await runtime.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
  return figures;
}

async function measure(apiUrl: string, websocketUrl: string, token: string, connections: number): Promise<number[]> {
  const api = async (method: string, path: string, body: unknown) => {
    const response = await fetch(`${apiUrl}${path}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', 'If-Match': '*' },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status}`);
    return (await response.json()) as { id: string };
  };
  const project = await api('POST', '/projects', { name: 'Bench feed' });
  const task = await api('POST', `/projects/${project.id}/tasks`, { title: 'Bench' });

  const latencies: number[] = [];
  const sockets = await Promise.all(
    Array.from({ length: connections }, async () => {
      const socket = new WebSocket(`${websocketUrl}?token=${encodeURIComponent(token)}`);
      await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
      const subscribed = new Promise((resolve) => socket.once('message', resolve));
      socket.send(JSON.stringify({ action: 'subscribe' }));
      await subscribed;
      socket.on('message', (data) => {
        const arrived = Date.now();
        const frame = JSON.parse(String(data)) as { type: string; events?: { type: string; occurredAt: string }[] };
        for (const event of frame.events ?? []) {
          // occurredAt is the transaction's time on the database's clock, this machine's clock too.
          if (event.type === 'task.updated') latencies.push(arrived - Date.parse(event.occurredAt));
        }
      });
      return socket;
    }),
  );
  for (let i = 0; i < CHANGES; i += 1) {
    await api('PATCH', `/tasks/${task.id}`, { description: `change ${i}` });
    await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS));
  }
  // The last frames on their way.
  const deadline = Date.now() + 10_000;
  while (latencies.length < CHANGES * connections && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  for (const socket of sockets) socket.close();
  return latencies;
}
