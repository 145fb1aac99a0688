// The bodies of TaskFlow's queue messages. Consumers check every message against its schema first:
// one that does not fit is a poison message, logged with the reason and left to reach the DLQ.
import * as z from 'zod/mini';
import type { FeedEvent } from './feed';
import { Comment, Task, TaskStatus } from './schemas';

const envelope = {
  eventId: z.uuid(),
  organizationId: z.string().check(z.minLength(1)),
  seq: z.number(),
  subjectId: z.uuid(),
  projectId: z.nullable(z.uuid()),
  actorId: z.string().check(z.minLength(1)),
  occurredAt: z.string(),
};

/** An event from the outbox (the `notifications` queue): the event-log row and, for updates, what it replaced. */
export const EventMessage = z.discriminatedUnion('type', [
  z.object({ ...envelope, type: z.literal('task.created'), payload: Task, previous: z.null() }),
  z.object({
    ...envelope,
    type: z.literal('task.updated'),
    payload: Task,
    previous: z.object({ status: TaskStatus, assigneeId: z.nullable(z.string()) }),
  }),
  z.object({ ...envelope, type: z.literal('comment.created'), payload: Comment, previous: z.null() }),
]);
export type EventMessage = z.infer<typeof EventMessage>;

/** A deleted project (the `deletions` queue): its id is the event's subject. */
export const ProjectDeletedMessage = z.object({ ...envelope, type: z.literal('project.deleted') });
export type ProjectDeletedMessage = z.infer<typeof ProjectDeletedMessage>;

/**
 * Any event from the outbox (the `broadcast` queue): the feed passes the payload on as the REST API
 * returned it, whatever the type, so only the envelope is checked.
 */
export const FeedMessage = z.object({
  ...envelope,
  type: z.string().check(z.minLength(1)),
  payload: z.unknown(),
});
export type FeedMessage = z.infer<typeof FeedMessage>;

const delivery = {
  notificationId: z.uuid(),
  organizationId: z.string().check(z.minLength(1)),
  eventId: z.uuid(),
  kind: z.enum(['assigned', 'mentioned', 'status_changed', 'weekly_report']),
  text: z.string().check(z.minLength(1), z.maxLength(4000)),
  /** When the event that caused it happened: the notification-delivery SLI (none for the weekly report; absent on older messages). */
  occurredAt: z.optional(z.string()),
};

/** A Slack direct message to send (the `slack` queue). */
export const SlackMessage = z.object({ ...delivery, email: z.email() });
export type SlackMessage = z.infer<typeof SlackMessage>;

/** An e-mail to send (the `email` queue). */
export const EmailMessage = z.object({
  ...delivery,
  to: z.object({ email: z.email(), name: z.string() }),
  subject: z.string().check(z.minLength(1), z.maxLength(300)),
});
export type EmailMessage = z.infer<typeof EmailMessage>;

// GitHub and Google Calendar sync. The workers that call those services run out of the VPC (no NAT) and so
// without the database: the dispatcher (integration-sync) sends each due link's run to its service's queue,
// the worker calls the service and sends what it found or did to `syncResults`, whose consumer writes it.

const run = {
  /** One run of one link; its result is applied only while the link still waits for this run. */
  runId: z.uuid(),
  linkId: z.uuid(),
  organizationId: z.string().check(z.minLength(1)),
  projectId: z.uuid(),
};

/** A GitHub repository's issues to fetch (the `github` queue): what changed since the last run. */
export const GithubSyncRequest = z.object({
  ...run,
  repository: z.string().check(z.regex(/^[a-z0-9_.-]+\/[a-z0-9_.-]+$/), z.refine((name) => !name.split('/').some((part) => /^\.+$/.test(part)), 'no . or .. part')),
  /** The ETag of the last run's first page (If-None-Match), or null. */
  etag: z.nullable(z.string()),
  /** The newest `updated_at` imported so far (the `since` parameter), or null for everything. */
  since: z.nullable(z.string()),
});
export type GithubSyncRequest = z.infer<typeof GithubSyncRequest>;

/** Calendar changes to make (the `googleCalendar` queue): one per task whose event is missing, stale or orphaned. */
export const CalendarSyncRequest = z.object({
  ...run,
  calendarId: z.string().check(z.minLength(1)),
  changes: z.array(
    z.discriminatedUnion('action', [
      z.object({
        action: z.literal('upsert'),
        taskId: z.uuid(),
        /** Chosen by TaskFlow, stable per link and task: a retried insert finds the event it made. */
        eventId: z.string().check(z.regex(/^[a-v0-9]{5,1024}$/)),
        version: z.number(),
        event: z.object({ summary: z.string(), description: z.string(), date: z.string() }),
      }),
      z.object({
        action: z.literal('delete'),
        taskId: z.uuid(),
        eventId: z.string().check(z.regex(/^[a-v0-9]{5,1024}$/)),
        /** The task's version when it lost its due date (an event showing a later one is kept); null: the task is gone. */
        version: z.nullable(z.number()),
      }),
    ]),
  ),
});
export type CalendarSyncRequest = z.infer<typeof CalendarSyncRequest>;

/** How a run ended (the last result message of a run carries it). */
export const RunOutcome = z.object({
  status: z.enum(['ok', 'unchanged', 'rate_limited', 'failed']),
  error: z.nullable(z.string()),
  /** GitHub: the first page's ETag and the newest updated_at seen, for the next run. */
  etag: z.optional(z.nullable(z.string())),
  since: z.optional(z.nullable(z.string())),
  /** Not before this time (a rate limit's reset); else the next scheduled run. */
  retryAt: z.optional(z.nullable(z.string())),
});
export type RunOutcome = z.infer<typeof RunOutcome>;

/** An issue as imported: `owner/name#number`, its title, body and whether it is closed. */
export const ImportedIssue = z.object({
  externalId: z.string().check(z.minLength(3)),
  title: z.string(),
  body: z.string(),
  closed: z.boolean(),
  url: z.string(),
  updatedAt: z.string(),
});
export type ImportedIssue = z.infer<typeof ImportedIssue>;

/** What a run found or did (the `syncResults` queue); a run may send several, the last with its outcome. */
export const SyncResult = z.discriminatedUnion('kind', [
  z.object({ ...run, kind: z.literal('github'), issues: z.array(ImportedIssue), outcome: z.nullable(RunOutcome) }),
  z.object({
    ...run,
    kind: z.literal('googleCalendar'),
    /** The changes made: an upsert with the task version the event now shows, a delete with null. */
    applied: z.array(z.object({ taskId: z.uuid(), eventId: z.string(), version: z.nullable(z.number()) })),
    outcome: z.nullable(RunOutcome),
  }),
]);
export type SyncResult = z.infer<typeof SyncResult>;

// What a fan-out shard's events must have: the rest is passed on as it came.
const FeedEventChain = z.object({ seq: z.number(), prevSeq: z.number(), projectId: z.nullable(z.string()), occurredAt: z.string() });

/** Connections per fan-out shard at most: one invocation's posts, a few hundred milliseconds of them. */
export const FANOUT_SHARD_CONNECTIONS = 500;

/**
 * One shard of a broadcast (the `feedFanout` queue): a batch's events for an organization, fitted and in sequence
 * order, and up to FANOUT_SHARD_CONNECTIONS of its subscribed connections, each with its subscription (null: the
 * whole organization). The events are passed on as the broadcast worker made them; only their chain is checked.
 */
export const FanoutShard = z.object({
  organizationId: z.string().check(z.minLength(1)),
  events: z.array(z.custom<FeedEvent>((value) => z.safeParse(FeedEventChain, value).success, 'an event of the feed')).check(z.minLength(1)),
  connections: z
    .array(z.object({ connectionId: z.string().check(z.minLength(1)), projectId: z.nullable(z.string()) }))
    .check(z.minLength(1), z.maxLength(FANOUT_SHARD_CONNECTIONS)),
});
export type FanoutShard = z.infer<typeof FanoutShard>;
