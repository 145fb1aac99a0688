// Request and response shapes of members, watchers and notification preferences (issue 17), apart from schemas.ts
// so the task and project functions do not bundle them.
import * as z from 'zod/mini';
import { Cursor, Id, Limit, page, text, Timestamp, UserId } from './schemas';

export const Role = z.enum(['member', 'admin']);

export const Preferences = z.object({ slack: z.boolean(), email: z.boolean(), mutedProjectIds: z.array(Id) });
// A frontend sends what changed; muting is per organization, so a project of another organization is not found.
export const UpdatePreferencesBody = z
  .strictObject({
    slack: z.optional(z.boolean()),
    email: z.optional(z.boolean()),
    mutedProjectIds: z.optional(
      z.array(Id).check(z.maxLength(500), z.refine((ids) => new Set(ids).size === ids.length, 'project ids must be unique')),
    ),
  })
  .check(z.refine((body) => Object.keys(body).length > 0, 'at least one field must change'));

export const Me = z.object({
  id: UserId,
  name: z.nullable(z.string()),
  email: z.nullable(z.string()),
  role: Role,
  organizationId: z.string(),
  plan: z.enum(['free', 'pro', 'enterprise']),
  preferences: Preferences,
});

export const Member = z.object({
  id: UserId,
  name: z.nullable(z.string()),
  email: z.nullable(z.string()),
  role: Role,
  lastSeenAt: z.nullable(Timestamp),
  /** Set for a member an admin removed (listed with `includeRemoved=true`; their assignments stay). */
  removedAt: z.nullable(Timestamp),
});
export const MemberPage = page(Member);
export const ListMembersQuery = z.strictObject({
  q: z.optional(text().check(z.trim(), z.minLength(1), z.maxLength(200))),
  includeRemoved: z._default(z.enum(['true', 'false']), 'false'),
  limit: Limit(100, 50),
  cursor: z.optional(Cursor),
});

/** One of a task's watchers, and why they watch it (`explicit`: they chose to; else creator, assignee, commenter). */
export const Watcher = z.object({
  userId: UserId,
  name: z.nullable(z.string()),
  email: z.nullable(z.string()),
  reasons: z.array(z.enum(['explicit', 'creator', 'assignee', 'commenter'])),
});
export const WatcherList = z.object({ taskId: Id, items: z.array(Watcher) });

export type PreferencesDto = z.infer<typeof Preferences>;
export type UpdatePreferencesInput = z.infer<typeof UpdatePreferencesBody>;
export type MeDto = z.infer<typeof Me>;
export type MemberDto = z.infer<typeof Member>;
export type ListMembersInput = z.infer<typeof ListMembersQuery>;
export type WatcherListDto = z.infer<typeof WatcherList>;
