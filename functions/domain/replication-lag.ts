import { db, hasReplica, read, replicaRead } from '../shared/db';
import { logger } from '../shared/logger';
import { REPORTS_MAX_REPLICA_LAG_SECONDS } from '../shared/telemetry';

// Review S4: how far the read replica is behind the primary, from a heartbeat row the primary writes every minute
// (the replicaHeartbeat schedule; migration 0016). The lag is measured from a fresh write, so an idle primary does
// not read as lag, as the replay-timestamp lag RDS reports does.

/** How often the replicaHeartbeat schedule writes the heartbeat. */
const HEARTBEAT_INTERVAL_SECONDS = 60;

interface Beat {
  /** The heartbeat on the primary, and the primary's clock now (seconds since the epoch). */
  at: number;
  now: number;
}

const beatOf = (row: { at: string; now: string }): Beat => ({ at: Number(row.at), now: Number(row.now) });

/** Seconds the replica is behind at least, when it shows the heartbeat `replicaAt` and the primary `primary`. */
function lagFrom(primary: Beat, replicaAt: number): number {
  if (replicaAt >= primary.at) return 0;
  // It has not replayed the primary's heartbeat, committed at primary.at, nor (heartbeats being a minute apart)
  // anything after the one that followed its own.
  return Math.max(primary.now - primary.at, primary.now - replicaAt - HEARTBEAT_INTERVAL_SECONDS);
}

const PRIMARY_BEAT = 'SELECT extract(epoch FROM at) AS at, extract(epoch FROM clock_timestamp()) AS now FROM replication_heartbeat';
const primaryBeat = async () => beatOf((await read<{ at: string; now: string }>(PRIMARY_BEAT)).rows[0]!);
const replicaBeat = async () => Number((await replicaRead<{ at: string }>('SELECT extract(epoch FROM at) AS at FROM replication_heartbeat')).rows[0]!.at);

/**
 * Writes the heartbeat on the primary and waits up to `waitMs` for the replica to show it: the lag is the time that
 * took, or past the wait, what the heartbeats tell at least (lagFrom). Null without a replica.
 */
export async function measureReplicaLag(waitMs = 10_000, pollMs = 200): Promise<number | null> {
  if (!hasReplica()) return null;
  const { rows } = await db.query<{ at: string; now: string }>(
    'UPDATE replication_heartbeat SET at = clock_timestamp() RETURNING extract(epoch FROM at) AS at, extract(epoch FROM clock_timestamp()) AS now',
  );
  const written = beatOf(rows[0]!);
  const started = Date.now();
  for (;;) {
    const replicaAt = await replicaBeat();
    if (replicaAt >= written.at) return (Date.now() - started) / 1000;
    if (Date.now() - started >= waitMs) {
      return Math.max(waitMs / 1000, lagFrom(await primaryBeat(), replicaAt));
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/**
 * The reader for lag-tolerant work (the weekly reports): the replica while it is within `maxLagSeconds` of the
 * primary, else the primary, with a warning saying so. A replica that cannot be read counts as lagging.
 */
export async function lagTolerantReader(maxLagSeconds = REPORTS_MAX_REPLICA_LAG_SECONDS): Promise<typeof read> {
  if (!hasReplica()) return read;
  const [primary, replicaAt] = await Promise.all([
    primaryBeat(),
    replicaBeat().catch((error: unknown) => {
      logger.warn('read replica cannot be read; reading the primary', { error });
      return Number.NEGATIVE_INFINITY;
    }),
  ]);
  const lagSeconds = lagFrom(primary, replicaAt);
  if (lagSeconds <= maxLagSeconds) return replicaRead;
  if (Number.isFinite(lagSeconds)) logger.warn('read replica lags; reading the primary', { lagSeconds, maxLagSeconds });
  return read;
}
