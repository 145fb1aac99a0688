import { DynamoDbError, type AttributeValue } from './dynamodb';
import { rateLimitsTable } from './rate-limits-table';

// The rate limits' shared state (review S1) as one Lambda environment sees it. Each limit is one DynamoDB item —
// a token bucket's "theoretical arrival time" (`tat`, GCRA) or an hour's request count (`n`) — that every
// environment shares. An environment does not write it on every request: it decides from its own view of the
// item (DynamoDB's value when it last read or wrote it, moved on by its own requests since) and writes its
// requests back a slice at a time. So a burst across environments can pass a limit by at most what the other
// environments took and have not written back yet — a slice each — and one environment alone is exact.
// docs/api.md states the bound; test/integration/rate-limit-environments.test.ts holds the limiter to it.

/** An item of the rate-limits table, as this environment sees it. */
export interface SharedValue {
  readonly id: string;
  /** DynamoDB's value at the last read or write, plus this environment's requests since. */
  value: number;
  /** This environment's requests not written back yet (negative: tokens given back). */
  pending: number;
  loaded?: Promise<void>;
  writing?: Promise<void>;
}

/** How an item takes a slice of requests: a bucket moves its tat on by an interval each; a count adds them. */
export type WriteBack = { kind: 'bucket'; intervalMs: number; expiration: number } | { kind: 'count'; expiration: number };

/** The most requests an environment takes before it writes them back. */
export const MAX_SLICE = 10;

/**
 * How many requests an environment may take before it writes them back, when `left` are left: a tenth of
 * them, at most MAX_SLICE and at least 1 (every request, near the limit, where a slice would matter most).
 */
export const sliceFor = (left: number) => Math.min(MAX_SLICE, Math.max(1, Math.floor(left / 10)));


const CACHE_ENTRIES = 10_000;
const num = (n: number) => ({ N: String(n) });
const numberIn = (item: Record<string, AttributeValue> | undefined, attribute: string) => {
  const value = item?.[attribute];
  return value && 'N' in value ? Number(value.N) : 0;
};

/** One Lambda environment's view of the rate-limits table. */
export class SharedState {
  private readonly values = new Map<string, SharedValue>();

  constructor(private readonly table: string) {}

  /** The item as this environment sees it, read from DynamoDB the first time (once, however many ask at once). */
  async view(id: string, attribute: 'tat' | 'n'): Promise<SharedValue> {
    let shared = this.values.get(id);
    if (!shared) {
      this.makeRoom();
      const created: SharedValue = { id, value: 0, pending: 0 };
      created.loaded = this.read(id, attribute).then(
        (value) => {
          created.value += value;
        },
        (error: unknown) => {
          // Not known after all: the next request reads it again.
          if (this.values.get(id) === created) this.values.delete(id);
          throw error;
        },
      );
      this.values.set(id, created);
      shared = created;
    }
    await shared.loaded;
    return shared;
  }

  /**
   * Writes this environment's pending requests to the item and takes DynamoDB's value back (which holds every
   * environment's written requests). One write at a time per item; requests taken meanwhile stay pending.
   * A failed write keeps them pending for the next one.
   */
  async writeBack(shared: SharedValue, how: WriteBack, now: number): Promise<void> {
    while (shared.writing) await shared.writing.catch(() => undefined);
    const taken = shared.pending;
    if (taken === 0) return;
    shared.pending = 0;
    shared.writing = (async () => {
      try {
        const written =
          how.kind === 'bucket'
            ? // Idle in DynamoDB too, most likely, if this environment's view without its own requests is.
              await this.advanceBucket(shared.id, taken, how, now, shared.value - (taken + shared.pending) * how.intervalMs <= now)
            : await this.addCount(shared.id, taken, how.expiration);
        // DynamoDB's value now holds this environment's `taken`; the requests taken meanwhile come on top.
        shared.value = how.kind === 'bucket' ? Math.max(written, now) + shared.pending * how.intervalMs : written + shared.pending;
      } catch (error) {
        shared.pending += taken;
        throw error;
      } finally {
        shared.writing = undefined;
      }
    })();
    await shared.writing;
  }

  private async read(id: string, attribute: 'tat' | 'n'): Promise<number> {
    const { Item } = await rateLimitsTable()<{ Item?: Record<string, AttributeValue> }>('GetItem', { TableName: this.table, Key: { id: { S: id } }, ConsistentRead: true });
    return numberIn(Item, attribute);
  }

  /**
   * GCRA for `taken` requests at once: an idle bucket (tat in the past, or no item) starts at now, a busy one moves
   * on from its tat. Two conditional updates, each atomic; the one that fails says the other holds.
   */
  private async advanceBucket(id: string, taken: number, { intervalMs, expiration }: { intervalMs: number; expiration: number }, now: number, idleFirst: boolean): Promise<number> {
    const advance = taken * intervalMs;
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const idle = (attempt % 2 === 0) === idleFirst;
      try {
        const { Attributes } = await rateLimitsTable()<{ Attributes: { tat: { N: string } } }>('UpdateItem', {
          TableName: this.table,
          Key: { id: { S: id } },
          UpdateExpression: idle ? 'SET tat = :next, expiration = :expiration' : 'SET tat = tat + :advance, expiration = :expiration',
          ConditionExpression: idle ? 'attribute_not_exists(tat) OR tat <= :now' : 'tat > :now',
          ExpressionAttributeValues: idle
            ? { ':next': num(now + advance), ':now': num(now), ':expiration': num(expiration) }
            : { ':advance': num(advance), ':now': num(now), ':expiration': num(expiration) },
          ReturnValues: 'UPDATED_NEW',
        });
        return Number(Attributes.tat.N);
      } catch (error) {
        if (!(error instanceof DynamoDbError && error.name === 'ConditionalCheckFailedException')) throw error;
      }
    }
    throw new Error(`rate limit bucket ${id}: neither update applied`);
  }

  private async addCount(id: string, taken: number, expiration: number): Promise<number> {
    const { Attributes } = await rateLimitsTable()<{ Attributes: { n: { N: string } } }>('UpdateItem', {
      TableName: this.table,
      Key: { id: { S: id } },
      UpdateExpression: 'ADD n :taken SET expiration = :expiration',
      ExpressionAttributeValues: { ':taken': num(taken), ':expiration': num(expiration) },
      ReturnValues: 'UPDATED_NEW',
    });
    return Number(Attributes.n.N);
  }

  /** Forgets items with nothing pending once the view is full (an item forgotten is read again when needed). */
  private makeRoom(): void {
    if (this.values.size < CACHE_ENTRIES) return;
    for (const [id, shared] of this.values) {
      if (shared.pending === 0 && !shared.writing) this.values.delete(id);
      if (this.values.size < CACHE_ENTRIES / 2) return;
    }
  }
}
