// The bodies of TaskFlow's queue messages. Consumers check every message against its schema first:
// one that does not fit is a poison message, logged with the reason and left to reach the DLQ.
import * as z from 'zod/mini';
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
  kind: z.enum(['assigned', 'mentioned', 'status_changed']),
  text: z.string().check(z.minLength(1), z.maxLength(4000)),
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
