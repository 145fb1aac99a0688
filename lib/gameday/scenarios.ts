import type { LocalRuntime } from '../local/runtime';

/**
 * One of the review's GameDay scenarios (M5) on the local runtime: the fault begins with `inject` and ends when
 * `heal` resolves (for a deploy, `inject` starts the restart and `heal` waits for it).
 */
export interface Scenario {
  name: string;
  /** What is expected of TaskFlow meanwhile, as docs/gameday.md states it. */
  expected: string;
  inject(runtime: LocalRuntime): void;
  heal(runtime: LocalRuntime): Promise<void>;
}

export function scenarios(): Scenario[] {
  let restarting: Promise<void> | undefined;
  return [
    {
      name: 'database-down',
      expected: 'mutations answer 503 and clients retry with their Idempotency-Key; once it is back, none lost, none twice',
      inject: (runtime) => runtime.outages.database.down(),
      heal: async (runtime) => runtime.outages.database.restore(),
    },
    {
      name: 'slack-down',
      expected: 'the API is unaffected; Slack messages wait (breaker open) and are all delivered once after it is back',
      inject: (runtime) => runtime.sandboxes.setFault('slack', { mode: 'down' }),
      heal: async (runtime) => runtime.sandboxes.setFault('slack', { mode: 'ok' }),
    },
    {
      name: 'dynamodb-down',
      expected: 'reads go on (rate limits fail open); mutations answer 503, as the idempotency store they need is away; nothing lost',
      inject: (runtime) => runtime.outages.dynamodb.down(),
      heal: async (runtime) => runtime.outages.dynamodb.restore(),
    },
    {
      name: 'deploy-restart',
      expected: 'requests under way finish or are retried; the new functions start cold; none lost, none twice',
      inject: (runtime) => void (restarting = runtime.restart()),
      heal: async () => restarting,
    },
  ];
}
