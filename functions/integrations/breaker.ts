import { randomUUID } from 'node:crypto';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { CircuitState, CountBreaker, circuitBreaker, handleWhen, type CircuitBreakerPolicy } from 'cockatiel';
import { tableNameVariable } from '../shared/resource-variables';
import { DynamoDbError, dynamoDb, type AttributeValue } from '../shared/dynamodb';
import { requiredEnv } from '../shared/env';
import { logger } from '../shared/logger';
import { metrics } from '../shared/metrics';
import { BREAKER_METRICS } from '../shared/telemetry';
import {
  BREAKER_POLICY,
  parsePolicy,
  snapshotOf,
  statusesOf,
  viewOf,
  type IntegrationStatus,
  type PolicyJson,
  type Snapshot,
} from './breaker-state';
import { INTEGRATIONS, INTEGRATION_NAMES, type IntegrationName } from './services';

export { BREAKER_POLICY, readStatuses, type BreakerState, type IntegrationStatus } from './breaker-state';

// Review C4: a circuit breaker per integration, whose state every Lambda environment shares. The state
// machine is cockatiel's (CircuitBreakerPolicy with a CountBreaker); its state (`toJSON()`) lives in the
// integrations table, one item per integration (id = its name) with a `version`:
//
// - Before a call, the item is read. Closed: the call goes ahead. Open for less than 30 s: refused
//   (BreakerOpen, with the time left). Open for 30 s or more (half-open): one environment takes the trial
//   call with a conditional write (`trialId`, `trialUntil`: a lease as long as the call may take); the
//   others find it taken and wait for its outcome (polling the item, as long as the caller allows:
//   `maxWaitMs`), or are refused as if open.
// - After the call, its outcome is applied to a policy rebuilt from the item (cockatiel does the counting
//   and the transitions) and the new state written back on the condition that `version` is unchanged. When
//   another environment wrote first, the item is read again and the outcome applied to that state: no
//   environment's outcome is lost to another's (a few attempts, then it is given up with a warning). An
//   environment's concurrent calls (a batch handled in parallel) have their outcomes written together, so
//   the environments contend for the item, not each of their calls. A success that changes nothing (a
//   window full of successes) only updates `lastSuccessAt`, at most every few seconds per environment.
// - DynamoDB failing must not stop deliveries: the call then goes ahead without the breaker (fail open),
//   with a warning.
//
// What counts as a failure is the caller's to say (`isFailure`); the HTTP layer counts no answer
// (transport errors, timeouts), 5xx and 429. A call while the circuit is open in another environment's
// write, or an outcome that does not count (neither success nor failure), changes nothing.

// cockatiel's CountBreaker opens on MORE than `threshold` of the window failing; the review says at 50 % or
// more. Just under a half makes exactly a half count and nothing less: with at most 20 calls, a share below a
// half is at most (n − 1) / 2n, and n × 0.001 ≤ 0.02 is far from the half call that separates them.
const THRESHOLD = BREAKER_POLICY.failureRate - 0.001;

/** Conditional writes lost to other environments before an outcome is given up (logged). */
const RECORD_ATTEMPTS = 16;
/** A success that changes nothing but `lastSuccessAt` is written at most this often per environment. */
const SUCCESS_STAMP_INTERVAL_MS = 5_000;
const REASON_CHARS = 200;
/** How often a call waiting for another environment's trial call reads the item again. */
const TRIAL_POLL_MS = 250;

/** The integration's circuit is open: the call was not made. Try again in `retryAfterMs` (when it turns half-open). */
export class BreakerOpen extends Error {
  constructor(
    readonly integration: IntegrationName,
    readonly retryAfterMs: number,
    why: string,
  ) {
    super(`${INTEGRATIONS[integration].displayName}: the circuit breaker is open (${why}); retry in ${Math.ceil(retryAfterMs / 1000)} s`);
    this.name = 'BreakerOpen';
  }
}

export interface BreakerOptions {
  /** Whether an error thrown by the call counts as a failure of the service (default: every error). Others count for nothing. */
  isFailure?: (error: unknown) => boolean;
  /** How long a trial call may hold the half-open circuit (default: the service's connect + read timeouts + 5 s). */
  trialLeaseMs?: number;
  /**
   * How long the call may wait for the circuit to let it through (default 0: refused at once). Half-open,
   * the calls of other environments wait for the trial's outcome (as cockatiel's do in one process) rather
   * than being refused: a refusal costs a queued message one of its receives.
   */
  maxWaitMs?: number;
}

type Outcome = { kind: 'success' } | { kind: 'failure'; reason: string } | { kind: 'neutral' };

/** Where the call stands with the breaker: `snapshot` undefined when DynamoDB failed (no breaker: fail open). */
interface Admission {
  snapshot: Snapshot | undefined;
  /** Set when this call is the half-open trial. */
  trialId?: string;
}

interface Pending {
  admission: Admission & { snapshot: Snapshot };
  outcome: Outcome;
  done: () => void;
}

interface Change {
  set: Record<string, AttributeValue>;
  remove: string[];
  /** On the item's version (and bumping it): the breaker's state changes. Otherwise only timestamps. */
  conditional: boolean;
  opened?: boolean;
  closed?: boolean;
}

/** A recorded failure, replayed into a policy: the only error its filter handles. */
class RecordedFailure extends Error {}

/**
 * The breakers of every integration as one Lambda environment sees them. Their state is in DynamoDB; an
 * instance holds only its DynamoDB client and when it last stamped a success. Functions use the shared
 * instance through `withBreaker` and `readStatuses`; tests make several to play several environments.
 */
export class CircuitBreakers {
  private client: { endpoint: string | undefined; call: ReturnType<typeof dynamoDb> } | undefined;
  /** When this environment last wrote a success's timestamp, per integration. */
  private readonly stamped = new Map<IntegrationName, number>();
  /** Outcomes waiting for the write under way, per integration, and the integrations with one under way. */
  private readonly pending = new Map<IntegrationName, Pending[]>();
  private readonly flushing = new Set<IntegrationName>();

  constructor(private readonly env: NodeJS.ProcessEnv = process.env) {}

  /**
   * Runs `fn` (one call to the service) through the integration's breaker: refused with BreakerOpen while
   * the circuit is open; otherwise run, and its outcome recorded. `fn`'s result or error is passed on.
   */
  async run<T>(name: IntegrationName, fn: () => Promise<T>, options: BreakerOptions = {}): Promise<T> {
    const { connectMs, readMs } = INTEGRATIONS[name].timeouts;
    const admission = await this.admit(name, options.trialLeaseMs ?? connectMs + readMs + 5_000, Math.max(0, options.maxWaitMs ?? 0));
    let value: T;
    try {
      value = await fn();
    } catch (error) {
      const counts = (options.isFailure ?? (() => true))(error);
      await this.record(name, admission, counts ? { kind: 'failure', reason: reasonOf(error) } : { kind: 'neutral' });
      throw error;
    }
    await this.record(name, admission, { kind: 'success' });
    return value;
  }

  /** Every integration's breaker and last outcomes (an integration never called: closed, nulls). Throws when DynamoDB fails. */
  async statuses(): Promise<IntegrationStatus[]> {
    return statusesOf(await Promise.all(INTEGRATION_NAMES.map((name) => this.load(name, false))));
  }

  // -------------------------------------------------------------------------------------------------------
  // Before the call

  /**
   * Whether the call may go: closed, or the half-open trial taken by this call. While open or while another
   * environment's trial is under way, waits (polling the item) if the circuit may let the call through
   * within `maxWaitMs`; otherwise refuses with BreakerOpen.
   */
  private async admit(name: IntegrationName, trialLeaseMs: number, maxWaitMs: number): Promise<Admission> {
    try {
      // The wait is measured on the monotonic clock; the circuit's times are Date.now()'s, as cockatiel's.
      const started = performance.now();
      let snapshot = await this.load(name);
      for (let conflicts = 0; ; ) {
        const now = Date.now();
        const view = viewOf(snapshot, now);
        if (view.state === 'closed') return { snapshot };
        // Open until it turns half-open; or another environment's trial under way, which may end any moment.
        const blocked =
          view.state === 'open'
            ? { until: view.halfOpenAt, lookAt: view.halfOpenAt, why: 'open' }
            : view.trialUntil !== null
              ? { until: view.trialUntil, lookAt: Math.min(view.trialUntil, now + TRIAL_POLL_MS), why: 'half-open, a trial call under way' }
              : null;
        if (blocked) {
          if (blocked.lookAt - now > maxWaitMs - (performance.now() - started)) throw this.refuse(name, blocked.until - now, blocked.why);
          await sleep(blocked.lookAt - now);
          snapshot = await this.load(name);
          continue;
        }
        // Half-open and nobody is trying: take the trial, unless another environment changes the item first.
        const trialId = randomUUID();
        const trialUntil = now + trialLeaseMs;
        try {
          await this.write(name, snapshot, { set: { trialId: str(trialId), trialUntil: num(trialUntil) }, remove: [], conditional: true });
          return { snapshot: { ...snapshot, version: snapshot.version + 1, trialId, trialUntil }, trialId };
        } catch (error) {
          snapshot = await this.afterConflict(name, error);
          if ((conflicts += 1) >= 5) throw this.refuse(name, 1_000, 'half-open, contended');
        }
      }
    } catch (error) {
      if (error instanceof BreakerOpen) throw error;
      logger.warn('circuit breaker state unavailable: calling the service without it', { integration: name, error });
      return { snapshot: undefined };
    }
  }

  private refuse(name: IntegrationName, waitMs: number, why: string): BreakerOpen {
    emitOpen(name);
    return new BreakerOpen(name, Math.max(0, Math.ceil(waitMs)), why);
  }

  // -------------------------------------------------------------------------------------------------------
  // After the call

  /**
   * Records an outcome; resolves once it is written (or given up: never rejects). The outcomes of this
   * environment's concurrent calls are written together, one conditional write for all that came in while
   * the previous write was under way: environments then contend for the item, not each of their calls.
   */
  private record(name: IntegrationName, admission: Admission, outcome: Outcome): Promise<void> {
    if (!admission.snapshot) return Promise.resolve(); // failed open: DynamoDB was not there a moment ago
    return new Promise((done) => {
      const queue = this.pending.get(name) ?? [];
      queue.push({ admission: { ...admission, snapshot: admission.snapshot! }, outcome, done });
      this.pending.set(name, queue);
      if (!this.flushing.has(name)) void this.flush(name);
    });
  }

  private async flush(name: IntegrationName): Promise<void> {
    this.flushing.add(name);
    try {
      for (let batch = this.pending.get(name) ?? []; batch.length > 0; batch = this.pending.get(name) ?? []) {
        this.pending.set(name, []);
        await this.commit(name, batch);
        for (const { done } of batch) done();
      }
    } finally {
      this.flushing.delete(name);
    }
  }

  private async commit(name: IntegrationName, batch: Pending[]): Promise<void> {
    // The freshest state any of them saw, to start from.
    let snapshot = batch.map(({ admission }) => admission.snapshot).reduce((a, b) => (b.version > a.version ? b : a));
    try {
      for (let attempt = 1; attempt <= RECORD_ATTEMPTS; attempt += 1) {
        const change = await this.change(name, snapshot, batch, Date.now());
        if (!change) return;
        try {
          await this.write(name, snapshot, change);
        } catch (error) {
          snapshot = await this.afterConflict(name, error);
          // Full jitter: the environments that lost spread out instead of colliding again.
          await sleep(Math.random() * Math.min(500, 20 * 2 ** attempt));
          continue;
        }
        if ('lastSuccessAt' in change.set) this.stamped.set(name, Date.now());
        if (change.opened) {
          logger.warn('circuit breaker opened', { integration: name, reason: (change.set.lastFailureReason as { S: string } | undefined)?.S });
          emitOpen(name);
        }
        if (change.closed) logger.info('circuit breaker closed: the trial call succeeded', { integration: name });
        return;
      }
      logger.warn('circuit breaker: outcomes not recorded (too many concurrent updates)', { integration: name, outcomes: batch.length });
    } catch (error) {
      logger.warn('circuit breaker: outcomes not recorded (DynamoDB failed)', { integration: name, outcomes: batch.length, error });
    }
  }

  /** What the outcomes change on the item as it is in `snapshot`, applied in order; null: nothing. */
  private async change(name: IntegrationName, snapshot: Snapshot, batch: Pending[], now: number): Promise<Change | null> {
    const at = new Date(now).toISOString();
    const stamps: Record<string, AttributeValue> = {};
    const initial = parsePolicy(snapshot.policy);
    let state = initial;
    let changed = false;
    let releaseTrial = false;
    let opened = false;
    let closed = false;
    for (const { admission, outcome } of batch) {
      // The trial is this call's only while the item still names it (its lease may have run out and passed on).
      const holdsTrial = admission.trialId !== undefined && snapshot.trialId === admission.trialId;
      if (holdsTrial) releaseTrial = true;
      if (outcome.kind === 'neutral') continue;
      if (outcome.kind === 'success') stamps.lastSuccessAt = str(at);
      else Object.assign(stamps, { lastFailureAt: str(at), lastFailureReason: str(outcome.reason) });
      const view = viewOf({ ...snapshot, policy: state ? JSON.stringify(state) : undefined }, now);
      // Open (or another environment's trial under way): an outcome of a call made before it opened counts for nothing.
      if (!holdsTrial && view.state !== 'closed') continue;
      // One more success in a window of successes changes nothing of the breaker's.
      if (!holdsTrial && outcome.kind === 'success' && fullOfSuccesses(state)) continue;
      const wasOpen = state?.ownState.value === CircuitState.Open;
      const policy = policyOf(state);
      await policy
        .execute(() => {
          if (outcome.kind === 'failure') throw new RecordedFailure(outcome.reason);
        })
        .catch(() => undefined);
      state = policy.toJSON() as PolicyJson;
      changed = true;
      const open = state.ownState.value === CircuitState.Open;
      if (open && (holdsTrial || !wasOpen)) opened = true;
      if (holdsTrial && !open) closed = true;
    }
    if (changed || releaseTrial) {
      const open = state?.ownState.value === CircuitState.Open;
      return {
        set: {
          ...stamps,
          ...(changed ? { policy: str(JSON.stringify(state)) } : {}),
          ...(changed && open ? { openedAt: str(new Date(state!.ownState.openedAt ?? now).toISOString()) } : {}),
        },
        remove: [...(releaseTrial ? ['trialId', 'trialUntil'] : []), ...(changed && !open ? ['openedAt'] : [])],
        conditional: true,
        opened,
        closed,
      };
    }
    if (Object.keys(stamps).length === 0) return null;
    // Only the timestamps: no condition. A success stamp alone is written at most every few seconds here.
    if (!('lastFailureAt' in stamps) && now - (this.stamped.get(name) ?? 0) < SUCCESS_STAMP_INTERVAL_MS) return null;
    return { set: stamps, remove: [], conditional: false };
  }

  // -------------------------------------------------------------------------------------------------------
  // The item

  private call(): ReturnType<typeof dynamoDb> {
    // Follows AWS_ENDPOINT_URL_DYNAMODB if it changes (tests cut it). A short timeout: past it, fail open.
    const endpoint = this.env.AWS_ENDPOINT_URL_DYNAMODB;
    if (!this.client || this.client.endpoint !== endpoint) {
      const timeoutMs = Number(this.env.BREAKER_TIMEOUT_MS) || 1_000;
      this.client = { endpoint, call: dynamoDb(this.env, { timeoutMs, attempts: 2 }) };
    }
    return this.client.call;
  }

  private table(): string {
    return requiredEnv(tableNameVariable('integrations'));
  }

  private async load(name: IntegrationName, consistent = true): Promise<Snapshot> {
    const { Item } = await this.call()<{ Item?: Record<string, AttributeValue> }>('GetItem', {
      TableName: this.table(),
      Key: { id: { S: name } },
      ConsistentRead: consistent,
    });
    return snapshotOf(Item);
  }

  /** The item as it is after a lost conditional write (returned by DynamoDB; read again on dynalite); rethrows other errors. */
  private async afterConflict(name: IntegrationName, error: unknown): Promise<Snapshot> {
    if (!(error instanceof DynamoDbError && error.name === 'ConditionalCheckFailedException')) throw error;
    return error.item ? snapshotOf(error.item) : this.load(name);
  }

  /** Applies a change; a conditional one only if the item's version is still the snapshot's, and bumps it. */
  private async write(name: IntegrationName, snapshot: Snapshot, change: Change): Promise<void> {
    const names: Record<string, string> = {};
    const values: Record<string, AttributeValue> = {};
    const set = { ...change.set, ...(change.conditional ? { version: num(snapshot.version + 1) } : {}) };
    const assignments = Object.entries(set).map(([attribute, value], i) => {
      names[`#s${i}`] = attribute;
      values[`:s${i}`] = value;
      return `#s${i} = :s${i}`;
    });
    const removals = change.remove.map((attribute, i) => {
      names[`#r${i}`] = attribute;
      return `#r${i}`;
    });
    let condition: string | undefined;
    if (change.conditional) {
      names['#version'] = 'version';
      if (snapshot.version === 0) condition = 'attribute_not_exists(#version)';
      else {
        condition = '#version = :version';
        values[':version'] = num(snapshot.version);
      }
    }
    await this.call()('UpdateItem', {
      TableName: this.table(),
      Key: { id: { S: name } },
      UpdateExpression: [assignments.length ? `SET ${assignments.join(', ')}` : '', removals.length ? `REMOVE ${removals.join(', ')}` : ''].join(' ').trim(),
      ExpressionAttributeNames: names,
      ...(Object.keys(values).length ? { ExpressionAttributeValues: values } : {}),
      ...(condition ? { ConditionExpression: condition, ReturnValuesOnConditionCheckFailure: 'ALL_OLD' } : {}),
    });
  }
}

// ---------------------------------------------------------------------------------------------------------
// The state

/** A cockatiel policy in the stored state (a fresh, closed one when there is none). Time is Date.now(), as cockatiel's. */
function policyOf(state: PolicyJson | undefined): CircuitBreakerPolicy {
  return circuitBreaker(
    handleWhen((error) => error instanceof RecordedFailure),
    {
      halfOpenAfter: BREAKER_POLICY.halfOpenAfterMs,
      breaker: new CountBreaker({ threshold: THRESHOLD, size: BREAKER_POLICY.windowSize, minimumNumberOfCalls: BREAKER_POLICY.minimumCalls }),
      ...(state ? { initialState: state } : {}),
    },
  );
}

/** Closed, with a full window of successes. */
function fullOfSuccesses(state: PolicyJson | undefined): boolean {
  const samples = state?.breakerState?.samples;
  return (
    state?.ownState.value === CircuitState.Closed &&
    Array.isArray(samples) &&
    samples.length === BREAKER_POLICY.windowSize &&
    samples.every((sample) => sample === true)
  );
}

const str = (value: string): AttributeValue => ({ S: value });
const num = (value: number): AttributeValue => ({ N: String(value) });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function reasonOf(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.length > REASON_CHARS ? `${text.slice(0, REASON_CHARS - 1)}…` : text;
}

/** IntegrationBreakerOpen, 1, with the integration as a dimension: a call refused, or the circuit opening. */
function emitOpen(name: IntegrationName): void {
  const metric = metrics.singleMetric();
  metric.addDimension('integration', name);
  metric.addMetric(BREAKER_METRICS.open, MetricUnit.Count, 1);
}

// ---------------------------------------------------------------------------------------------------------
// This environment's breakers

const shared = new CircuitBreakers();

/** Runs one call to the integration through its circuit breaker (see CircuitBreakers.run). */
export function withBreaker<T>(name: IntegrationName, fn: () => Promise<T>, options?: BreakerOptions): Promise<T> {
  return shared.run(name, fn, options);
}

