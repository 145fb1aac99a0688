// Request and response shapes of the REST API. The handlers validate with them and the OpenAPI
// document is generated from them, so the contract is written once. zod/mini keeps each
// function bundle small (about 25 KB of zod instead of 100+).
import * as z from 'zod/mini';
import { en } from 'zod/locales';

z.config(en());

export const TaskStatus = z.enum(['todo', 'in_progress', 'in_review', 'done']);
export const TaskPriority = z.enum(['none', 'low', 'medium', 'high', 'urgent']);

// Text PostgreSQL can store: no NUL characters.
export const text = () => z.string().check(z.refine((value) => !value.includes('\u0000'), 'must not contain NUL characters'));
export const Id = z.uuid();
export const UserId = text().check(z.minLength(1), z.maxLength(255));
// Years 0001–9999: what a PostgreSQL date and the API's YYYY-MM-DD both hold.
export const IsoDate = z.iso.date().check(z.refine((date) => !date.startsWith('0000'), 'year must be 0001 or later'));
const Title = text().check(z.trim(), z.minLength(1), z.maxLength(500));
const Description = text().check(z.maxLength(20_000));
const ProjectName = text().check(z.trim(), z.minLength(1), z.maxLength(200));
const ProjectDescription = text().check(z.maxLength(5_000));
const Label = text().check(z.trim(), z.minLength(1), z.maxLength(50));
const Labels = z
  .array(Label)
  .check(
    z.maxLength(20),
    z.refine((labels) => new Set(labels).size === labels.length, 'labels must be unique'),
  );
export const Limit = (max: number, fallback: number) => z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(max)), fallback);
export const Cursor = text().check(z.minLength(1), z.maxLength(512));
const someChange = (ignored: string[] = []) =>
  z.refine((body: unknown) => Object.keys(body as object).some((key) => !ignored.includes(key)), 'at least one field must change');

// A client may choose the id of what it creates, so a retried create finds its first result.
export const ClientId = z.optional(Id);

export const CreateProjectBody = z.strictObject({
  id: ClientId,
  name: ProjectName,
  description: z._default(ProjectDescription, ''),
});
export const UpdateProjectBody = z
  .strictObject({ name: z.optional(ProjectName), description: z.optional(ProjectDescription), archived: z.optional(z.boolean()) })
  .check(someChange());

export const CreateTaskBody = z.strictObject({
  id: ClientId,
  title: Title,
  description: z._default(Description, ''),
  status: z._default(TaskStatus, 'todo'),
  priority: z._default(TaskPriority, 'none'),
  assigneeId: z._default(z.nullable(UserId), null),
  dueDate: z._default(z.nullable(IsoDate), null),
  labels: z._default(Labels, []),
});
export const UpdateTaskBody = z
  .strictObject({
    version: z.optional(z.number().check(z.int(), z.minimum(1))),
    title: z.optional(Title),
    description: z.optional(Description),
    status: z.optional(TaskStatus),
    priority: z.optional(TaskPriority),
    assigneeId: z.optional(z.nullable(UserId)),
    dueDate: z.optional(z.nullable(IsoDate)),
    labels: z.optional(Labels),
    // Set operations that need no read-modify-write (and so no version when alone).
    addLabels: z.optional(z.array(Label).check(z.minLength(1), z.maxLength(20))),
    removeLabels: z.optional(z.array(Label).check(z.minLength(1), z.maxLength(20))),
  })
  .check(
    someChange(['version']),
    z.refine((body) => !(body.labels && (body.addLabels || body.removeLabels)), 'send labels, or addLabels/removeLabels, not both'),
  );

const PageQuery = z.strictObject({ limit: Limit(100, 50), cursor: z.optional(Cursor) });
// `?archived=true` lists the archived projects (they are left out otherwise).
export const ListProjectsQuery = z.extend(PageQuery, { archived: z._default(z.enum(['true', 'false']), 'false') });
export const ListTasksQuery = z.strictObject({
  status: z.optional(TaskStatus),
  assignee: z.optional(UserId),
  dueBefore: z.optional(IsoDate),
  limit: Limit(100, 50),
  cursor: z.optional(Cursor),
});
export const ListCommentsQuery = PageQuery;
export const SearchQuery = z.strictObject({
  q: text().check(z.trim(), z.minLength(1), z.maxLength(200)),
  limit: Limit(50, 20),
});

const CommentText = text().check(z.trim(), z.minLength(1), z.maxLength(10_000));
export const CreateCommentBody = z.strictObject({ id: ClientId, body: CommentText });
export const UpdateCommentBody = z.strictObject({ version: z.optional(z.number().check(z.int(), z.minimum(1))), body: CommentText });

export const Timestamp = z.iso.datetime({ offset: true });

export const Project = z.object({
  id: Id,
  name: z.string(),
  description: z.string(),
  archived: z.boolean(),
  archivedAt: z.nullable(Timestamp),
  createdBy: UserId,
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export const Task = z.object({
  id: Id,
  projectId: Id,
  title: z.string(),
  description: z.string(),
  status: TaskStatus,
  priority: TaskPriority,
  assigneeId: z.nullable(UserId),
  dueDate: z.nullable(IsoDate),
  labels: z.array(z.string()),
  version: z.number().check(z.int()),
  createdBy: UserId,
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
/** A PATCH /tasks/{taskId} answer: the task, and whether a stale update was merged into it. */
export const TaskUpdate = z.extend(Task, { merged: z.boolean() });

export const Comment = z.object({
  id: Id,
  taskId: Id,
  authorId: UserId,
  body: z.string(),
  version: z.number().check(z.int()),
  createdAt: Timestamp,
  editedAt: z.nullable(Timestamp),
});

export const page = <T extends z.ZodMiniType>(item: T) => z.object({ items: z.array(item), nextCursor: z.nullable(z.string()) });
export const ProjectPage = page(Project);
export const TaskPage = page(Task);
export const CommentPage = page(Comment);

export const SearchResults = z.object({
  items: z.array(
    z.discriminatedUnion('type', [
      z.object({ type: z.literal('task'), rank: z.number(), task: Task }),
      z.object({ type: z.literal('comment'), rank: z.number(), comment: Comment }),
    ]),
  ),
});

export const ActivityQuery = z.object({
  afterSeq: z._default(z.coerce.number().check(z.int(), z.minimum(0), z.maximum(Number.MAX_SAFE_INTEGER)), 0),
  limit: Limit(200, 100),
  projectId: z.optional(Id),
});
/** An event as the activity feed and GET /activity give it (docs/feed.md). */
export const ActivityEvent = z.object({
  seq: z.number().check(z.int()),
  prevSeq: z.number().check(z.int()),
  id: Id,
  type: z.string(),
  subjectId: Id,
  projectId: z.nullable(Id),
  actorId: UserId,
  occurredAt: Timestamp,
  requestId: z.nullable(z.string()),
  payload: z.unknown(),
});
export const ActivityPage = z.object({ events: z.array(ActivityEvent), throughSeq: z.number().check(z.int()), more: z.boolean() });
/** The organization's feed connections against its cap: why a WebSocket handshake may have been refused. */
export const FeedConnections = z.object({ connections: z.number().check(z.int()), cap: z.number().check(z.int()), atCap: z.boolean() });

/** GET /health/integrations: each third-party integration as TaskFlow sees it. */
export const IntegrationsHealth = z.object({
  /** The integrations whose breaker is open: what the X-Degraded-Integrations header names. */
  degraded: z.array(z.string()),
  integrations: z.array(
    z.object({
      integration: z.string(),
      breaker: z.enum(['closed', 'open', 'half-open']),
      lastSuccessAt: z.nullable(Timestamp),
      lastFailureAt: z.nullable(Timestamp),
      lastFailureReason: z.nullable(z.string()),
      /** Messages waiting in its queue (visible and in flight); null: no queue, or its depth could not be read. */
      backlog: z.nullable(z.number()),
      deadLetters: z.nullable(z.number()),
    }),
  ),
});

const DependencyStatus = z.enum(['ok', 'unavailable']);
export const Health = z.object({
  status: DependencyStatus,
  dependencies: z.record(
    z.string(),
    z.object({
      status: DependencyStatus,
      latencyMs: z.number(),
      /** The WebSocket side: the synthetic probe's last run (connect, subscribe, change, frame). */
      lastProbe: z.optional(z.nullable(z.object({ at: Timestamp, ok: z.boolean(), deliveryMs: z.optional(z.number()), reason: z.optional(z.string()) }))),
    }),
  ),
});

// What an attachment may be (the presigned POST's policy holds S3 to the declared type).
export const ATTACHMENT_TYPES = [
  'image/png', 'image/jpeg', 'image/gif', 'image/webp', 'application/pdf', 'text/plain', 'text/csv', 'application/json', 'application/zip',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  'application/vnd.openxmlformats-officedocument.presentationml.presentation',
] as const;
const MAX_ATTACHMENT_BYTES = 50 * 1024 * 1024;
export const CreateAttachmentBody = z.strictObject({
  fileName: text().check(z.trim(), z.minLength(1), z.maxLength(255), z.refine((name) => !/[\u0000-\u001f/\\]/.test(name), 'must not contain control characters or slashes')),
  contentType: z.enum(ATTACHMENT_TYPES),
  size: z.number().check(z.int(), z.minimum(1), z.maximum(MAX_ATTACHMENT_BYTES)),
});
export const Attachment = z.object({
  id: z.uuid(),
  taskId: z.uuid(),
  fileName: z.string(),
  contentType: z.string(),
  size: z.number(),
  uploadedBy: z.string(),
  createdAt: z.string(),
});
export const AttachmentWithLink = z.extend(Attachment, { downloadUrl: z.string() });
export const AttachmentList = z.object({ items: z.array(AttachmentWithLink) });
export const UploadForm = z.object({
  attachmentId: z.uuid(),
  upload: z.object({ url: z.string(), fields: z.record(z.string(), z.string()) }),
  expiresAt: z.string(),
  maxBytes: z.number(),
});

const QuotaUsage = z.object({ used: z.number(), limit: z.number() });
export const Usage = z.object({
  plan: z.enum(['free', 'pro', 'enterprise']),
  /** false: an enterprise plan; its limits are where alerting starts, nothing is refused. */
  enforced: z.boolean(),
  quotas: z.object({ projects: QuotaUsage, tasks: QuotaUsage, storageBytes: QuotaUsage, requestsPerHour: z.object({ limit: z.number() }) }),
});

export const Problem = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().check(z.int()),
  code: z.string(),
  detail: z.optional(z.string()),
  requestId: z.string(),
  errors: z.optional(z.array(z.object({ path: z.string(), message: z.string() }))),
  // A 409 VERSION_CONFLICT's task or comment as it now is.
  current: z.optional(z.union([Task, Comment])),
  yourChanges: z.optional(z.record(z.string(), z.unknown())),
  conflictingFields: z.optional(z.array(z.string())),
  quota: z.optional(z.string()),
  plan: z.optional(z.string()),
  limit: z.optional(z.number()),
});

export type ProjectDto = z.infer<typeof Project>;
export type TaskDto = z.infer<typeof Task>;
export type CommentDto = z.infer<typeof Comment>;
export type CreateProjectInput = z.infer<typeof CreateProjectBody>;
export type CreateTaskInput = z.infer<typeof CreateTaskBody>;
export type CreateCommentInput = z.infer<typeof CreateCommentBody>;
export type UpdateTaskInput = z.infer<typeof UpdateTaskBody>;
export type AttachmentDto = z.infer<typeof Attachment>;
export type CreateAttachmentInput = z.infer<typeof CreateAttachmentBody>;
