// Request and response shapes of the links (GitHub and Google Calendar sync) and the weekly reports, apart from
// schemas.ts so the task and project functions do not bundle them (each function stays under 250 KB).
import * as z from 'zod/mini';
import { ClientId, Id, IsoDate, ListProjectsQuery, page, text, Timestamp, UserId } from './schemas';

// A project's link to a GitHub repository (`owner/name`) or a Google calendar (its id), synced every 5 minutes.
export const LinkType = z.enum(['github', 'googleCalendar']);
// GitHub's names are case-insensitive: kept lower-case, so `Acme/Repo` and `acme/repo` are one link and one import.
// No `.` or `..` part: the path to GitHub is built from it.
const Repository = text().check(
  z.regex(/^[A-Za-z0-9_.-]{1,100}\/[A-Za-z0-9_.-]{1,100}$/, 'must be a repository as owner/name'),
  z.refine((name) => !name.split('/').some((part) => /^\.+$/.test(part)), 'must be a repository as owner/name'),
  z.toLowerCase(),
);
const CalendarId = text().check(z.trim(), z.minLength(1), z.maxLength(1024));
export const CreateLinkBody = z.discriminatedUnion('type', [
  z.strictObject({ id: ClientId, type: z.literal('github'), target: Repository }),
  z.strictObject({ id: ClientId, type: z.literal('googleCalendar'), target: CalendarId }),
]);
export const SyncStatus = z.enum(['ok', 'unchanged', 'rate_limited', 'failed']);
export const Link = z.object({
  id: Id,
  projectId: Id,
  type: LinkType,
  target: z.string(),
  createdBy: UserId,
  createdAt: Timestamp,
  /** The last finished run: null until the first one. */
  lastSync: z.nullable(
    z.object({
      at: Timestamp,
      status: SyncStatus,
      /** Why it failed or was cut short; null when it did not. */
      error: z.nullable(z.string()),
      /** Tasks imported or updated (GitHub), events written or deleted (Google Calendar). */
      changes: z.number().check(z.int()),
    }),
  ),
  /** A run is in flight. */
  running: z.boolean(),
  /**
   * When the next run starts: for a link that waits for nothing, the next dispatch (every 5 minutes); else the end of
   * its wait (a failure's backoff, a rate limit's reset).
   */
  nextSyncAt: Timestamp,
});
export const LinkList = z.object({ items: z.array(Link) });

// A project's weekly reports, newest first (cursor pages), each with a download link valid for 5 minutes.
export const ReportMetrics = z.object({
  completed: z.number().check(z.int()),
  created: z.number().check(z.int()),
  /** Open tasks whose due date had passed at the end of the week. */
  overdue: z.number().check(z.int()),
  /** Median hours from creation to completion of the tasks completed in the week; null when none were. */
  cycleTimeHours: z.nullable(z.number()),
});
export const Report = z.object({
  id: Id,
  projectId: Id,
  weekStart: IsoDate,
  metrics: ReportMetrics,
  createdAt: Timestamp,
  downloadUrl: z.string(),
});
export const ReportPage = page(Report);
export const ListReportsQuery = ListProjectsQuery;

export type CreateLinkInput = z.infer<typeof CreateLinkBody>;
export type LinkDto = z.infer<typeof Link>;
export type ReportDto = z.infer<typeof Report>;
export type ReportMetricsDto = z.infer<typeof ReportMetrics>;
