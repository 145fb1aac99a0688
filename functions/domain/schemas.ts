import { z } from 'zod';

// Request and response shapes of the REST API. The handlers validate with them and the OpenAPI
// document is generated from them, so the contract is written once.

export const TaskStatus = z.enum(['todo', 'in_progress', 'in_review', 'done']);
export const TaskPriority = z.enum(['none', 'low', 'medium', 'high', 'urgent']);

const Id = z.uuid();
const UserId = z.string().min(1).max(255);
const IsoDate = z.iso.date();
const Title = z.string().trim().min(1).max(500);
const Description = z.string().max(20_000);
const Labels = z
  .array(z.string().trim().min(1).max(50))
  .max(20)
  .refine((labels) => new Set(labels).size === labels.length, 'labels must be unique');
const Limit = z.coerce.number().int().min(1).max(100).default(50);
const Cursor = z.string().min(1).max(512);

export const CreateProjectBody = z.strictObject({
  name: z.string().trim().min(1).max(200),
  description: z.string().max(5_000).default(''),
});
export const UpdateProjectBody = z
  .strictObject({
    name: z.string().trim().min(1).max(200).optional(),
    description: z.string().max(5_000).optional(),
  })
  .refine((body) => Object.keys(body).length > 0, 'at least one field must change');

export const CreateTaskBody = z.strictObject({
  title: Title,
  description: Description.default(''),
  status: TaskStatus.default('todo'),
  priority: TaskPriority.default('none'),
  assigneeId: UserId.nullable().default(null),
  dueDate: IsoDate.nullable().default(null),
  labels: Labels.default([]),
});
export const UpdateTaskBody = z
  .strictObject({
    version: z.number().int().min(1).optional(),
    title: Title.optional(),
    description: Description.optional(),
    status: TaskStatus.optional(),
    priority: TaskPriority.optional(),
    assigneeId: UserId.nullable().optional(),
    dueDate: IsoDate.nullable().optional(),
    labels: Labels.optional(),
  })
  .refine(({ version: _, ...changes }) => Object.keys(changes).length > 0, 'at least one field must change');

export const ListProjectsQuery = z.strictObject({ limit: Limit, cursor: Cursor.optional() });
export const ListTasksQuery = z.strictObject({
  status: TaskStatus.optional(),
  assignee: UserId.optional(),
  dueBefore: IsoDate.optional(),
  limit: Limit,
  cursor: Cursor.optional(),
});
export const ListCommentsQuery = ListProjectsQuery;
export const SearchQuery = z.strictObject({
  q: z.string().trim().min(1).max(200),
  limit: z.coerce.number().int().min(1).max(50).default(20),
});

export const CreateCommentBody = z.strictObject({ body: z.string().trim().min(1).max(10_000) });

const Timestamp = z.iso.datetime({ offset: true });

export const Project = z.object({
  id: Id,
  name: z.string(),
  description: z.string(),
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
  assigneeId: UserId.nullable(),
  dueDate: IsoDate.nullable(),
  labels: z.array(z.string()),
  version: z.number().int(),
  createdBy: UserId,
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export const Comment = z.object({
  id: Id,
  taskId: Id,
  authorId: UserId,
  body: z.string(),
  createdAt: Timestamp,
});

const page = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), nextCursor: z.string().nullable() });
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

export const Health = z.object({
  status: z.enum(['ok', 'unavailable']),
  dependencies: z.record(z.string(), z.object({ status: z.enum(['ok', 'unavailable']), latencyMs: z.number() })),
});

export const Problem = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  code: z.string(),
  detail: z.string().optional(),
  requestId: z.string(),
  errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  current: Task.optional(),
});

export type ProjectDto = z.infer<typeof Project>;
export type TaskDto = z.infer<typeof Task>;
export type CommentDto = z.infer<typeof Comment>;
export type CreateTaskInput = z.infer<typeof CreateTaskBody>;
export type UpdateTaskInput = z.infer<typeof UpdateTaskBody>;
