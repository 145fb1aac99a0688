import { db, read } from '../shared/db';
import type { Trace } from '../shared/trace';
import type { EventMessage } from './messages';
import { FAST_PATH_LEASE, OUTBOX_ENTRIES, publishNow, type OutboxEntry } from './outbox';
import { preferencesAt } from './preferences';
import { watches } from './watchers';
import { uuidV5 } from '../shared/uuid';

export type NotificationKind = 'assigned' | 'mentioned' | 'status_changed';

/** A member of the event's organization who might be told about it. */
export interface Person {
  id: string;
  email: string | null;
  name: string | null;
}

/** How a member wants to be told, as their preferences stood when the event happened. */
interface Channels {
  slackOn: boolean;
  emailOn: boolean;
  /** The event's project is one they muted: nothing at all. */
  muted: boolean;
}

export interface Notification {
  id: string;
  userId: string;
  kind: NotificationKind;
}

// `@handle`: a member's e-mail local part or name without spaces, case-insensitive.
const MENTION = /(?:^|[^\w.@])@([\w.-]*\w)/g;

export function mentionsIn(text: string): string[] {
  return [...new Set([...text.matchAll(MENTION)].map((match) => match[1]!.toLowerCase()))];
}

export const handleMatches = (person: Person, handle: string) =>
  person.email?.split('@')[0]?.toLowerCase() === handle || person.name?.replace(/\s+/g, '').toLowerCase() === handle;

/**
 * Who is told what about an event: the assignee when a task is assigned to them, the members
 * @mentioned in a comment, and the task's watchers (watchers.ts: its creator, its assignee, everyone who
 * commented on it and who chose to watch it, less who chose not to) when its status changes. Nobody is
 * told about their own change, and nobody twice for the same reason. Ids are derived from the event, so a
 * redelivered event names the same ones.
 */
export function decide(event: EventMessage, people: { watchers: readonly string[]; mentioned: readonly string[] }): Notification[] {
  const wanted: { userId: string; kind: NotificationKind }[] = [];
  const task = event.type === 'comment.created' ? null : event.payload;
  if (task && task.assigneeId && task.assigneeId !== (event.previous?.assigneeId ?? null)) {
    wanted.push({ userId: task.assigneeId, kind: 'assigned' });
  }
  if (event.type === 'task.updated' && event.previous && task && task.status !== event.previous.status) {
    for (const userId of people.watchers) wanted.push({ userId, kind: 'status_changed' });
  }
  if (event.type === 'comment.created') {
    for (const userId of people.mentioned) wanted.push({ userId, kind: 'mentioned' });
  }
  const seen = new Set<string>();
  return wanted
    .filter(({ userId, kind }) => userId !== event.actorId && !seen.has(`${kind}:${userId}`) && seen.add(`${kind}:${userId}`))
    .map(({ userId, kind }) => ({ id: uuidV5(`${event.eventId}:${kind}:${userId}`, NOTIFICATION_IDS), userId, kind }));
}

// The UUIDv5 namespace of notification ids (a fixed, random UUID).
const NOTIFICATION_IDS = '0d7c2f4e-8a51-4b6b-9e3d-5c1f7a2b9e60';

/**
 * Takes an event into effect once: decides who is told, records the notifications and queues one Slack
 * message and one e-mail for each (on the channels the member had on when the event happened) through the
 * outbox, all in one statement that also records the event as consumed, so a redelivered event changes
 * nothing and sends nothing.
 */
export async function notify(event: EventMessage, trace: Trace): Promise<{ notifications: number; duplicate: boolean }> {
  const context = await contextOf(event);
  const byId = new Map(context.people.map((person) => [person.id, person]));
  // A removed member (not among the people) is told nothing, nor is one who muted the event's project; an archived
  // (or deleted) project notifies nobody, of its last events before that too.
  const notifications = context.projectOpen
    ? decide(event, context).filter((notification) => byId.get(notification.userId)?.muted === false)
    : [];
  const actor = byId.get(event.actorId)?.name ?? 'Someone';
  const messages = notifications.flatMap((notification) => {
    const person = byId.get(notification.userId);
    // Without an address there is nowhere to send it (Slack users are found by e-mail too).
    if (!person?.email) return [];
    const { subject, text } = compose(notification.kind, event, actor, context.taskTitle);
    const common = { notificationId: notification.id, organizationId: event.organizationId, eventId: event.eventId, kind: notification.kind, occurredAt: event.occurredAt };
    // Each channel only if the member has it on (their preferences when the event happened).
    return [
      ...(person.slackOn ? [{ destination: 'slack', body: { ...common, email: person.email, text } }] : []),
      ...(person.emailOn ? [{ destination: 'email', body: { ...common, to: { email: person.email, name: person.name ?? person.email }, subject, text } }] : []),
    ];
  });
  const { rows } = await db.query<{ consumed: boolean; outbox: OutboxEntry[] }>(
    `WITH consumed AS (
       INSERT INTO consumed_events (consumer, event_id) VALUES ('notifications', $1) ON CONFLICT DO NOTHING RETURNING event_id
     ), recorded AS (
       INSERT INTO notifications (id, organization_id, event_id, user_id, kind)
       SELECT n.id, $2, $1, n."userId", n.kind FROM consumed, jsonb_to_recordset($3::jsonb) AS n(id uuid, "userId" text, kind text)
       ON CONFLICT (id) DO NOTHING
     ), outboxed AS (
       INSERT INTO outbox (organization_id, event_id, destination, body, request_id, traceparent, locked_until)
       SELECT $2, $1, m.destination, m.body, $5, $6, ${FAST_PATH_LEASE}
       FROM consumed, jsonb_to_recordset($4::jsonb) AS m(destination text, body jsonb)
       RETURNING id, destination, body, request_id, traceparent
     )
     SELECT EXISTS (SELECT 1 FROM consumed) AS consumed, ${OUTBOX_ENTRIES}`,
    [event.eventId, event.organizationId, JSON.stringify(notifications), JSON.stringify(messages), trace.requestId, trace.traceparent],
  );
  const row = rows[0]!;
  await publishNow(row.outbox);
  return { notifications: row.consumed ? notifications.length : 0, duplicate: !row.consumed };
}

/**
 * The members the rules may name (actor, assignee, watchers, @mentioned), each with the preferences they had when
 * the event happened (preferences.ts), and the task's title, in one read. Removed members are not among them.
 */
async function contextOf(event: EventMessage) {
  const taskId = event.type === 'comment.created' ? event.payload.taskId : event.subjectId;
  const named = [event.actorId, ...(event.type === 'comment.created' ? [] : [event.payload.assigneeId ?? ''])];
  const handles = event.type === 'comment.created' ? mentionsIn(event.payload.body) : [];
  const { rows } = await read<Person & Channels & { watching: boolean; title: string | null; open: boolean }>(
    `SELECT u.id, u.email, u.name, t.title, w.watching,
       coalesce(pref.notify_slack, true) AS "slackOn", coalesce(pref.notify_email, true) AS "emailOn",
       coalesce($6::uuid = ANY(pref.muted_project_ids), false) AS muted, project_open($6::uuid) AS open
     FROM memberships m
     JOIN users u ON u.id = m.user_id
     LEFT JOIN tasks t ON t.organization_id = $1 AND t.id = $2
     CROSS JOIN LATERAL (SELECT ${watches('t', 'u.id')} AS watching) w
     ${preferencesAt('$1', 'u.id', '$7')}
     WHERE m.organization_id = $1 AND m.removed_at IS NULL
       AND (u.id = ANY($3::text[])
         OR lower(split_part(u.email, '@', 1)) = ANY($4::text[])
         OR lower(regexp_replace(coalesce(u.name, ''), '\\s+', '', 'g')) = ANY($4::text[])
         OR ($5 AND w.watching))`,
    [event.organizationId, taskId, named, handles, event.type === 'task.updated', event.projectId, event.seq],
  );
  const title = event.type === 'comment.created' ? (rows.find((row) => row.title !== null)?.title ?? 'a task') : event.payload.title;
  return {
    people: rows,
    projectOpen: rows[0]?.open ?? false,
    taskTitle: title,
    watchers: rows.filter((row) => row.watching).map((row) => row.id),
    mentioned: rows.filter((row) => handles.some((handle) => handleMatches(row, handle))).map((row) => row.id),
  };
}

const STATUS: Record<string, string> = { todo: 'To do', in_progress: 'In progress', in_review: 'In review', done: 'Done' };

// Titles run to 500 characters; a subject line stays readable (and within the e-mail message's schema).
const SUBJECT_TITLE = 150;
const clip = (text: string, length: number) => (text.length > length ? `${text.slice(0, length - 1)}…` : text);

function compose(kind: NotificationKind, event: EventMessage, actor: string, fullTitle: string): { subject: string; text: string } {
  const title = clip(fullTitle, SUBJECT_TITLE);
  switch (kind) {
    case 'assigned':
      return { subject: `You were assigned: ${title}`, text: `${actor} assigned you the task "${fullTitle}".` };
    case 'mentioned': {
      const body = event.type === 'comment.created' ? event.payload.body : '';
      return { subject: `${clip(actor, 100)} mentioned you on ${title}`, text: `${actor} mentioned you on "${fullTitle}":\n\n${clip(body, 500)}` };
    }
    case 'status_changed': {
      const from = event.type === 'task.updated' ? (event.previous?.status ?? '') : '';
      const to = event.type === 'comment.created' ? '' : event.payload.status;
      return { subject: `${title}: ${STATUS[to] ?? to}`, text: `${actor} moved "${fullTitle}" from ${STATUS[from] ?? from} to ${STATUS[to] ?? to}.` };
    }
  }
}
