import type { LocalRuntime } from '../local/runtime';
import { sqlAt } from '../local/database';
import type { Creation } from './load';

/** What became of a scenario's creations, once the pipeline has settled (or the wait for it ended). */
export interface Accounting {
  /** Creations the clients asked for, and those a 2xx acknowledged (the others were given up while retrying). */
  requested: number;
  acknowledged: number;
  /** Acknowledged tasks missing from the database; tasks stored more than once for one creation. */
  lostTasks: number;
  duplicateTasks: number;
  /** task.created events of the scenario without an outbox entry; outbox entries still unpublished. */
  eventsWithoutOutbox: number;
  unpublishedOutbox: number;
  /** Acknowledged creations whose Slack message or e-mail never came; messages or e-mails that came more than once. */
  undelivered: number;
  deliveredTwice: number;
}

const markerOf = (tag: string) => new RegExp(`${tag.replace(/[^\w-]/g, '\\$&')} n\\d+\\b`);

/** How many times each marker was delivered through Slack and by SendGrid (successful calls only). */
export function deliveries(runtime: LocalRuntime, tag: string): { slack: Map<string, number>; email: Map<string, number> } {
  const marker = markerOf(tag);
  const tally = (texts: string[]) =>
    texts.reduce((counts, text) => {
      const found = marker.exec(text)?.[0];
      return found ? counts.set(found, (counts.get(found) ?? 0) + 1) : counts;
    }, new Map<string, number>());
  const slack = runtime.sandboxes.calls('slack').filter((c) => c.path === '/chat.postMessage' && c.status === 200);
  const email = runtime.sandboxes.calls('sendgrid').filter((c) => c.status === 202);
  return {
    slack: tally(slack.map((c) => (c.body as { text: string }).text)),
    email: tally(email.map((c) => (c.body as { content: { value: string }[] }).content[0]?.value ?? '')),
  };
}

/** Whether everything acknowledged has gone through: the outbox published, each notification sent both ways. */
export async function settled(runtime: LocalRuntime, projectId: string, creations: readonly Creation[], tag: string): Promise<boolean> {
  const [row] = await sqlAt(runtime.databaseUrl)<{ unpublished: number }>('SELECT count(*)::int AS unpublished FROM outbox o JOIN event_log e ON e.id = o.event_id WHERE e.project_id = $1 AND o.published_at IS NULL', [projectId]);
  if (row!.unpublished > 0) return false;
  const { slack, email } = deliveries(runtime, tag);
  return creations.every((c) => !c.taskId || (slack.has(c.marker) && email.has(c.marker)));
}

export async function account(runtime: LocalRuntime, projectId: string, creations: readonly Creation[], tag: string): Promise<Accounting> {
  const tasks = await sqlAt(runtime.databaseUrl)<{ title: string; id: string }>('SELECT title, id::text FROM tasks WHERE project_id = $1', [projectId]);
  const stored = tasks.reduce((counts, task) => counts.set(task.title, (counts.get(task.title) ?? 0) + 1), new Map<string, number>());
  const [events] = await sqlAt(runtime.databaseUrl)<{ without_outbox: number; unpublished: number }>(
    `SELECT count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM outbox o WHERE o.event_id = e.id))::int AS without_outbox,
            (SELECT count(*) FROM outbox o JOIN event_log x ON x.id = o.event_id WHERE x.project_id = $1 AND o.published_at IS NULL)::int AS unpublished
     FROM event_log e WHERE e.project_id = $1 AND e.type = 'task.created'`,
    [projectId],
  );
  const acknowledged = creations.filter((c) => c.taskId);
  const { slack, email } = deliveries(runtime, tag);
  return {
    requested: creations.length,
    acknowledged: acknowledged.length,
    lostTasks: acknowledged.filter((c) => !stored.has(c.marker)).length,
    duplicateTasks: [...stored.values()].filter((n) => n > 1).length,
    eventsWithoutOutbox: events!.without_outbox,
    unpublishedOutbox: events!.unpublished,
    undelivered: acknowledged.filter((c) => !slack.has(c.marker) || !email.has(c.marker)).length,
    deliveredTwice: [...slack.values(), ...email.values()].filter((n) => n > 1).length,
  };
}

/** Nothing acknowledged was lost, nothing was done twice. */
export const intact = (a: Accounting) => a.lostTasks + a.duplicateTasks + a.eventsWithoutOutbox + a.unpublishedOutbox + a.undelivered + a.deliveredTwice === 0;

