import { tableNameVariable } from '../shared/resource-variables';
import { dynamoDb, type AttributeValue } from '../shared/dynamodb';
import { requiredEnv } from '../shared/env';
import { logger } from '../shared/logger';
import { INTEGRATION_NAMES, type IntegrationName } from './services';

// The circuit breakers' state as stored in the integrations table (see breaker.ts), read without the breaker
// library: the health endpoint needs only to read it, and stays small.

// cockatiel's CircuitState.Open, as its toJSON() stores it.
const CIRCUIT_OPEN = 1;

/** The review's settings: opens at ≥ 50 % failures over at least 10 calls (of the last 20), half-open after 30 s. */
export const BREAKER_POLICY = {
  halfOpenAfterMs: 30_000,
  windowSize: 20,
  minimumCalls: 10,
  failureRate: 0.5,
} as const;

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface IntegrationStatus {
  integration: IntegrationName;
  /** `half-open`: 30 s have passed since it opened; the next call (or the one under way) is the trial. */
  state: BreakerState;
  /** ISO 8601, or null when there was none (an integration never called is closed with nulls). */
  lastSuccessAt: string | null;
  lastFailureAt: string | null;
  /** Short: the HTTP status or the transport error of the last failure. */
  lastFailureReason: string | null;
  /** When it last opened; null while closed. */
  openedAt: string | null;
}

// The stored state: cockatiel's `toJSON()`. Only the own state's value and openedAt are read here (to refuse
// a call without building a policy); the rest is cockatiel's.
export interface PolicyJson {
  ownState: { value: number; openedAt?: number; attemptNo?: number };
  breakerState?: { samples?: (boolean | null)[]; failures?: number; successes?: number };
}

export interface Snapshot {
  /** 0: no state was ever written. */
  version: number;
  /** cockatiel's state as stored (JSON), absent before the first outcome. */
  policy: string | undefined;
  trialId: string | undefined;
  trialUntil: number;
  lastSuccessAt: string | null;
  lastFailureAt: string | null;
  lastFailureReason: string | null;
  openedAt: string | null;
}

export type View = { state: 'closed' } | { state: 'open'; halfOpenAt: number } | { state: 'half-open'; trialUntil: number | null };

export function viewOf(snapshot: Snapshot, now: number): View {
  const own = parsePolicy(snapshot.policy)?.ownState;
  // toJSON() stores Closed or Open (a half-open policy is stored as open); nothing here isolates a breaker.
  if (!own || own.value !== CIRCUIT_OPEN) return { state: 'closed' };
  const halfOpenAt = (own.openedAt ?? 0) + BREAKER_POLICY.halfOpenAfterMs;
  if (now < halfOpenAt) return { state: 'open', halfOpenAt };
  return { state: 'half-open', trialUntil: snapshot.trialUntil > now ? snapshot.trialUntil : null };
}

export function parsePolicy(json: string | undefined): PolicyJson | undefined {
  if (!json) return undefined;
  try {
    const parsed = JSON.parse(json) as PolicyJson;
    if (parsed && typeof parsed === 'object' && parsed.ownState && typeof parsed.ownState.value === 'number') return parsed;
  } catch {
    // below
  }
  logger.warn('circuit breaker state unreadable: starting afresh', { state: json.slice(0, 200) });
  return undefined;
}

export function snapshotOf(item: Record<string, AttributeValue> | undefined): Snapshot {
  const s = (name: string) => {
    const value = item?.[name];
    return value && 'S' in value ? value.S : undefined;
  };
  const n = (name: string) => {
    const value = item?.[name];
    return value && 'N' in value ? Number(value.N) : 0;
  };
  return {
    version: n('version'),
    policy: s('policy'),
    trialId: s('trialId'),
    trialUntil: n('trialUntil'),
    lastSuccessAt: s('lastSuccessAt') ?? null,
    lastFailureAt: s('lastFailureAt') ?? null,
    lastFailureReason: s('lastFailureReason') ?? null,
    openedAt: s('openedAt') ?? null,
  };
}


/** Every integration's breaker and last outcomes, from the items as read (an integration never called: closed, nulls). */
export function statusesOf(snapshots: readonly Snapshot[], now = Date.now()): IntegrationStatus[] {
  return INTEGRATION_NAMES.map((integration, i) => {
    const snapshot = snapshots[i]!;
    const { state } = viewOf(snapshot, now);
    return {
      integration,
      state,
      lastSuccessAt: snapshot.lastSuccessAt,
      lastFailureAt: snapshot.lastFailureAt,
      lastFailureReason: snapshot.lastFailureReason,
      openedAt: state === 'closed' ? null : snapshot.openedAt,
    };
  });
}

/**
 * The four integrations' breakers and last outcomes (the health endpoint, the degraded header): one Scan of
 * the table, which holds an item per integration at most. Throws when DynamoDB fails.
 */
export async function readStatuses(options?: { timeoutMs: number; attempts: number }): Promise<IntegrationStatus[]> {
  const { Items = [] } = await dynamoDb(process.env, options)<{ Items?: Record<string, AttributeValue>[] }>('Scan', {
    TableName: requiredEnv(tableNameVariable('integrations')),
  });
  const byName = new Map(Items.map((item) => [(item.id as { S: string }).S, item]));
  return statusesOf(INTEGRATION_NAMES.map((name) => snapshotOf(byName.get(name))));
}
