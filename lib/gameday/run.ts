import { randomUUID } from 'node:crypto';
import { SQSClient } from '@aws-sdk/client-sqs';
import { taskflow } from '../app';
import { queuePairs, queueState, redrive } from '../dlq';
import type { LocalRuntime } from '../local/runtime';
import { withClient } from '../local/database';
import type { SloStatus } from '../slo/report';
import { account, intact, settled, type Accounting } from './accounting';
import { steadyLoad } from './load';
import type { Scenario } from './scenarios';

/** How long each phase lasts: `npm run gameday` takes the full one, `--short` (and CI) the short one. */
export interface GameDayTimings {
  /** Load before the fault, so the fault meets traffic under way. */
  warmMs: number;
  faultMs: number;
  /** Load after the fault is healed, before the load stops. */
  afterMs: number;
  /** The longest wait for the pipeline to settle after the load stops. */
  settleTimeoutMs: number;
  clients: number;
  pauseMs: number;
}

export const FULL: GameDayTimings = { warmMs: 10_000, faultMs: 30_000, afterMs: 10_000, settleTimeoutMs: 120_000, clients: 4, pauseMs: 50 };
export const SHORT: GameDayTimings = { warmMs: 1_000, faultMs: 3_000, afterMs: 1_000, settleTimeoutMs: 60_000, clients: 2, pauseMs: 150 };

export interface ScenarioResult {
  scenario: string;
  expected: string;
  /** Each SLO's compliance over the fault (good and total counted from its start to its end), when it saw events. */
  sloDuringFault: { name: string; good: number; total: number; compliance: number }[];
  /** Creation and read attempts during the fault and how many of each failed (a server error or no answer). */
  duringFault: { creations: number; failedCreations: number; reads: number; failedReads: number };
  /** From the heal to the first attempt answered without a server error after the last that was not (0: none failed). */
  apiRecoveryMs: number | null;
  /** From the heal to everything acknowledged being stored, published and notified (null: not within the wait). */
  settledMs: number | null;
  /** Messages that reached a dead-letter queue and were redriven (as the DLQ alarm's runbook says) before it settled. */
  redriven: number;
  accounting: Accounting;
  intact: boolean;
}

export async function runScenario(runtime: LocalRuntime, scenario: Scenario, timings: GameDayTimings, log: (line: string) => void = () => undefined): Promise<ScenarioResult> {
  const tag = `gameday-${scenario.name}-${randomUUID().slice(0, 6)}`;
  const { projectId, token, assigneeId } = await stage(runtime, tag);
  const load = steadyLoad({ url: runtime.url, token, projectId, assigneeId }, { clients: timings.clients, pauseMs: timings.pauseMs, tag });
  await pause(timings.warmMs);
  const before = runtime.slos();
  const faultAt = Date.now();
  log(`${scenario.name}: fault`);
  scenario.inject(runtime);
  await pause(timings.faultMs);
  await scenario.heal(runtime);
  const healedAt = Date.now();
  log(`${scenario.name}: healed after ${healedAt - faultAt} ms`);
  const during = runtime.slos();
  await pause(timings.afterMs);
  await load.stop();
  let settledMs: number | null = null;
  let redriven = 0;
  const sqs = new SQSClient({ endpoint: runtime.sqs.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  try {
    while (Date.now() - healedAt < timings.afterMs + timings.settleTimeoutMs) {
      if (await settled(runtime, projectId, load.creations, tag).catch(() => false)) {
        settledMs = Date.now() - healedAt;
        break;
      }
      // What the DLQ alarm asks of the operator (docs/runbooks/dlq-redrive.md), once the fault is over.
      redriven += await redriveDeadLetters(sqs);
      await pause(500);
    }
  } finally {
    sqs.destroy();
  }
  const inFault = load.attempts.filter((a) => a.at >= faultAt && a.at < healedAt);
  const lastFailure = load.attempts.filter((a) => !a.ok).reduce((latest, a) => Math.max(latest, a.at), 0);
  const firstOkAfter = Math.min(...load.attempts.filter((a) => a.ok && a.at > lastFailure).map((a) => a.at));
  const accounting = await account(runtime, projectId, load.creations, tag);
  return {
    scenario: scenario.name,
    expected: scenario.expected,
    sloDuringFault: sloDelta(before, during),
    duringFault: {
      creations: inFault.filter((a) => a.kind === 'create').length,
      failedCreations: inFault.filter((a) => a.kind === 'create' && !a.ok).length,
      reads: inFault.filter((a) => a.kind === 'read').length,
      failedReads: inFault.filter((a) => a.kind === 'read' && !a.ok).length,
    },
    apiRecoveryMs: lastFailure === 0 ? 0 : Number.isFinite(firstOkAfter) ? Math.max(0, firstOkAfter - healedAt) : null,
    settledMs,
    redriven,
    accounting,
    intact: intact(accounting) && settledMs !== null,
  };
}

/** Moves every message of every dead-letter queue back to its queue; how many there were. */
async function redriveDeadLetters(sqs: SQSClient): Promise<number> {
  let moved = 0;
  for (const pair of queuePairs(taskflow)) {
    const [deadLetter, source] = [await queueState(sqs, pair.deadLetter), await queueState(sqs, pair.source)];
    if (!deadLetter || !source || deadLetter.visible === 0) continue;
    const task = await redrive(sqs, { sourceArn: deadLetter.arn, destinationArn: source.arn, pollMs: 250 });
    moved += Number(task.ApproximateNumberOfMessagesMoved ?? 0);
  }
  return moved;
}

/** An organization of its own per scenario: Ann (on the enterprise plan, past the free plan's quotas) assigns Bob. */
async function stage(runtime: LocalRuntime, tag: string): Promise<{ projectId: string; token: string; assigneeId: string }> {
  const org = `org_${tag.replace(/\W/g, '_')}`;
  const mint = (user: string, name: string) => runtime.issuer.mint({ org, user: `${user}_${tag}`, email: `${user}.${tag}@example.com`, name });
  const [ann, bob] = [await mint('ann', 'Ann Lee'), await mint('bob', 'Bob Stone')];
  const call = async (token: string, method: string, path: string, body?: unknown) => {
    const response = await fetch(`${runtime.url}${path}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', 'Idempotency-Key': randomUUID() },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
    return response.json() as Promise<{ id: string }>;
  };
  await call(bob, 'GET', '/projects'); // Bob's first request makes him a member.
  await withClient(runtime.databaseUrl, (client) => client.query("UPDATE organizations SET plan = 'enterprise' WHERE id = $1", [org]));
  const project = await call(ann, 'POST', '/projects', { name: tag });
  return { projectId: project.id, token: ann, assigneeId: `bob_${tag}` };
}

function sloDelta(before: SloStatus[], after: SloStatus[]): ScenarioResult['sloDuringFault'] {
  return after.flatMap((now) => {
    const then = before.find((s) => s.name === now.name);
    const good = now.good - (then?.good ?? 0);
    const total = now.total - (then?.total ?? 0);
    return total > 0 ? [{ name: now.name, good, total, compliance: good / total }] : [];
  });
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The figures per scenario, as `npm run gameday` prints them. */
export function formatResult(result: ScenarioResult): string {
  const a = result.accounting;
  const ms = (value: number | null) => (value === null ? 'not within the wait' : `${(value / 1000).toFixed(1)} s`);
  const slos = result.sloDuringFault.map((s) => `${s.name} ${(s.compliance * 100).toFixed(1)} % (${s.good}/${s.total})`).join(', ') || 'no events';
  return [
    `${result.scenario} — ${result.expected}`,
    `  SLOs during the fault: ${slos}`,
    `  during the fault: creations failed ${result.duringFault.failedCreations}/${result.duringFault.creations} attempts, reads failed ${result.duringFault.failedReads}/${result.duringFault.reads}`,
    `  recovery: API ${ms(result.apiRecoveryMs)} after the heal; pipeline settled ${ms(result.settledMs)} after it${result.redriven ? ` (${result.redriven} dead-lettered messages redriven)` : ''}`,
    `  tasks requested ${a.requested}, acknowledged ${a.acknowledged}; lost ${a.lostTasks}, duplicated ${a.duplicateTasks}; events without outbox ${a.eventsWithoutOutbox}, outbox unpublished ${a.unpublishedOutbox}; notifications undelivered ${a.undelivered}, delivered twice ${a.deliveredTwice}`,
    `  ${result.intact ? 'INTACT: nothing lost or duplicated' : 'NOT INTACT'}`,
  ].join('\n');
}
