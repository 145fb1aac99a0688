import type { ScheduledEvent } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { lagTolerantReader, measureReplicaLag } from '../../functions/domain/replication-lag';
import { closeDatabase, read, replicaRead, replicaRoundTrips } from '../../functions/shared/db';
import { logger } from '../../functions/shared/logger';
import { metrics } from '../../functions/shared/metrics';
import { handler as replicaHeartbeat } from '../../functions/workers/replica-heartbeat';
import { lambdaContext } from '../../lib/local/proxy-event';
import { ownDatabase } from '../support/own-database';
import { sqlAt } from '../support/sql';

// Review S4: the read replica's lag, measured from the heartbeat the primary writes every minute, and the weekly
// reports reading the primary while the replica lags. The "replica" here is either the primary itself (a replica
// that keeps up) or a database of its own whose heartbeat nobody replays (one that stopped five minutes ago).

let stale: { url: string; drop(): Promise<void> };

beforeAll(async () => {
  stale = await ownDatabase('taskflow_stale_replica');
  await sqlAt(stale.url)("UPDATE replication_heartbeat SET at = now() - interval '5 minutes'");
}, 60_000);

afterAll(async () => {
  await stale.drop();
});

afterEach(async () => {
  delete process.env.DATABASE_READ_URL;
  await closeDatabase(); // the pools are made on first use, from the environment of that moment
  vi.restoreAllMocks();
});

async function replicaAt(url: string) {
  process.env.DATABASE_READ_URL = url;
  await closeDatabase();
}

describe('read replica lag', () => {
  it('is measured from a fresh heartbeat: a replica that keeps up shows it at once, and the lag is published', async () => {
    await replicaAt(inject('databaseUrl'));
    const before = Number((await read<{ at: string }>('SELECT extract(epoch FROM at) AS at FROM replication_heartbeat')).rows[0]!.at);
    const addMetric = vi.spyOn(metrics, 'addMetric');
    await replicaHeartbeat({ id: 'heartbeat-1', 'detail-type': 'Scheduled Event', source: 'aws.events', detail: {} } as ScheduledEvent, lambdaContext('ReplicaHeartbeat', 30_000));
    const after = Number((await read<{ at: string }>('SELECT extract(epoch FROM at) AS at FROM replication_heartbeat')).rows[0]!.at);
    expect(after).toBeGreaterThan(before); // the heartbeat was written
    expect(addMetric).toHaveBeenCalledWith('ReplicaLagSeconds', 'Seconds', expect.any(Number));
    expect(addMetric.mock.calls[0]![2]).toBeLessThan(2);
  });

  it('is at least what the heartbeats tell when the replica never shows the new one', async () => {
    await replicaAt(stale.url);
    const lag = await measureReplicaLag(300, 50);
    // Its heartbeat is five minutes old and heartbeats are a minute apart: at least four minutes behind.
    expect(lag).toBeGreaterThan(230);
    expect(lag).toBeLessThan(400);
  });

  it('is not measured, and nothing is written, without a replica', async () => {
    const before = (await read<{ at: string }>('SELECT at::text FROM replication_heartbeat')).rows[0]!.at;
    expect(await measureReplicaLag()).toBeNull();
    expect((await read<{ at: string }>('SELECT at::text FROM replication_heartbeat')).rows[0]!.at).toBe(before);
  });

  it('sends lag-tolerant reads to the replica while it keeps up, to the primary (saying so) once it lags', async () => {
    await replicaAt(inject('databaseUrl'));
    await measureReplicaLag();
    expect(await lagTolerantReader()).toBe(replicaRead);

    await replicaAt(stale.url);
    const warn = vi.spyOn(logger, 'warn');
    const reader = await lagTolerantReader();
    expect(reader).toBe(read);
    expect(warn).toHaveBeenCalledWith('read replica lags; reading the primary', expect.objectContaining({ maxLagSeconds: 60 }));
    const before = replicaRoundTrips.count;
    await reader('SELECT 1');
    expect(replicaRoundTrips.count).toBe(before);
  });
});
