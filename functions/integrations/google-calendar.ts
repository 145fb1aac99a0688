import type { CalendarSyncRequest, RunOutcome } from '../domain/messages';
import type { Trace } from '../shared/trace';
import { forgetGoogleTokens, googleAccessToken } from './google-auth';
import { callIntegration, PermanentFailure, RetryLater, retryAfterMs, type HttpAnswer, type SendOptions } from './http';
import { INTEGRATIONS } from './services';

// A linked Google calendar's events, one all-day event per task with a due date, written through Calendar API v3
// with the service account's token. The event ids are TaskFlow's (stable per link and task), so a retried change
// finds the event it made. Two runs of one link may be in flight together (one presumed lost and dispatched again,
// a send that timed out but went through): each event carries the task version it shows
// (extendedProperties.private.taskflowVersion), and a change never replaces a newer one. An upsert reads the event
// first (GET), and writes it only if it shows no newer version, with If-Match: the etag read (412: another write
// came in between, so read again and decide again); none: an insert with its id (409: one came in between, decide
// again). A delete with a version reads the event too and leaves one showing a newer version; a delete without
// (the task is gone) deletes whatever the event shows. A change that finds a newer version is skipped: not
// reported applied (the newer run reports its own, and what the database records never moves back anyway).

type Change = CalendarSyncRequest['changes'][number];

export interface AppliedEvent {
  taskId: string;
  eventId: string;
  /** An upsert: the task version the event now shows; a delete: null. */
  version: number | null;
}

export interface CalendarRun {
  applied: AppliedEvent[];
  /** Changes not made because the event shows a newer task version (another run's): not in `applied`. */
  skipped: number;
  outcome: RunOutcome;
}

export interface CalendarOptions extends SendOptions {
  trace: Trace;
  /**
   * Where each change is added once made (default: a new list, the one returned): a caller whose run ends with an
   * error can still report the changes made before it.
   */
  applied?: AppliedEvent[];
}

/** A change is started only with this much of the budget left; the rest waits for the next run. */
const CHANGE_RESERVE_MS = 10_000;
/** Google's rate limits (a 403 or a 429 usageLimits) without a Retry-After: come back after this, not sooner. */
const RATE_LIMIT_WAIT_MS = 60_000;
const RATE_LIMIT_REASONS = new Set(['rateLimitExceeded', 'userRateLimitExceeded', 'quotaExceeded', 'dailyLimitExceeded']);
/** Reads and conditional writes of one change: another write coming in between each time, it waits for the next run. */
const MAX_DECISIONS = 3;
const ERROR_CHARS = 1_000;

/** What became of one change: made; skipped (the event shows a newer version); contended (kept changing under it); refused (why). */
type ChangeResult = { kind: 'made' } | { kind: 'skipped' } | { kind: 'contended' } | { kind: 'refused'; reason: string };
const MADE: ChangeResult = { kind: 'made' };
const refused = (reason: string): ChangeResult => ({ kind: 'refused', reason });

/**
 * Makes the run's changes on the calendar, one after the other. Each is independent: one Google refuses for good
 * (400 invalid, 403 no write access, 404 no such calendar) is reported in the outcome (`failed`, with every
 * refusal in `error`) and the others are still made. One that finds the event showing a newer version is skipped
 * (`skipped`, not applied). The service failing (BreakerOpen, RetryLater, IntegrationUnavailable, Google's rate
 * limits as RetryLater) ends the run with that error, so its message is tried again later: what was made already
 * is found made (the same ids and versions). Google refusing the service account (GoogleAuthRefused) ends the run
 * `failed`. Runs out of time, or an event kept changing under a change: `ok` with the changes made; the next run
 * has the others.
 */
export async function applyCalendarChanges(request: CalendarSyncRequest, options: CalendarOptions): Promise<CalendarRun> {
  const { connectMs, readMs } = INTEGRATIONS.googleCalendar.timeouts;
  const deadline = Date.now() + (options.budgetMs ?? connectMs + readMs);
  const applied = options.applied ?? [];
  const refusals: string[] = [];
  const session = new CalendarSession(request.calendarId, options, deadline);
  let left = 0;
  let skipped = 0;
  let contended = 0;
  try {
    for (const [i, change] of request.changes.entries()) {
      if (i > 0 && deadline - Date.now() < CHANGE_RESERVE_MS) {
        left = request.changes.length - i;
        break;
      }
      const result = change.action === 'upsert' ? await session.upsert(change) : await session.remove(change);
      if (result.kind === 'made') applied.push({ taskId: change.taskId, eventId: change.eventId, version: change.action === 'upsert' ? change.version : null });
      else if (result.kind === 'skipped') skipped += 1;
      else if (result.kind === 'contended') contended += 1;
      else refusals.push(`${change.action} of task ${change.taskId}: ${result.reason}`);
    }
  } catch (error) {
    // Google refused the service account: no change of this run can be made, and retrying will not help.
    if (!(error instanceof PermanentFailure)) throw error;
    return { applied, skipped, outcome: { status: 'failed', error: clip(error.message), retryAt: null } };
  }
  if (refusals.length > 0) {
    return { applied, skipped, outcome: { status: 'failed', error: clip(`${refusals.length} of ${request.changes.length} changes refused by Google Calendar: ${refusals.join('; ')}`), retryAt: null } };
  }
  const notes = [
    ...(left > 0 ? [`out of time: ${left} of ${request.changes.length} changes left for the next run`] : []),
    ...(contended > 0 ? [`${contended} events kept changing during the run: left for the next run`] : []),
  ];
  return { applied, skipped, outcome: { status: 'ok', error: notes.length > 0 ? notes.join('; ') : null, retryAt: null } };
}

/** An event as read: its etag (for If-Match), whether it was deleted, and the task version it shows (null: none). */
interface ReadEvent {
  etag: string | null;
  cancelled: boolean;
  version: number | null;
}

/** The calls of one run on one calendar, with the service account's token (fetched again once after a 401). */
class CalendarSession {
  constructor(
    private readonly calendarId: string,
    private readonly options: CalendarOptions,
    private readonly deadline: number,
  ) {}

  /**
   * GET the event; it shows a newer version: skipped. Else PUT it with If-Match (412: read again); none: insert it
   * with its id (409: read again). A deleted event is brought back by the PUT, unless it shows this version or a
   * newer one: then it was deleted after this version was written, and this change is a late copy.
   */
  async upsert(change: Extract<Change, { action: 'upsert' }>): Promise<ChangeResult> {
    const end = nextDay(change.event.date);
    if (end === null) return refused(`the due date ${JSON.stringify(change.event.date)} is not a date (YYYY-MM-DD)`);
    const event = {
      id: change.eventId,
      summary: change.event.summary,
      description: change.event.description,
      start: { date: change.event.date },
      end: { date: end },
      // A deleted event the PUT finds is brought back.
      status: 'confirmed',
      // An all-day reminder, not a busy day.
      transparency: 'transparent',
      extendedProperties: { private: { taskflowTaskId: change.taskId, taskflowVersion: String(change.version) } },
    };
    const path = this.event(change.eventId);
    for (let decision = 1; decision <= MAX_DECISIONS; decision += 1) {
      const found = await this.call('GET', path);
      if (found.status === 404) {
        const inserted = await this.call('POST', this.events(), event);
        if (inserted.status === 200 || inserted.status === 201) return MADE;
        if (inserted.status === 409) continue; // made in between (another run, or this run's earlier try): decide again
        if (inserted.status === 404) return refused(refusalOf(inserted, 'the calendar does not exist or is not shared with the service account'));
        return refused(refusalOf(inserted));
      }
      if (found.status !== 200) return refused(refusalOf(found));
      const shown = readEvent(found);
      if (shown.version !== null && (shown.version > change.version || (shown.cancelled && shown.version === change.version))) return { kind: 'skipped' };
      const updated = await this.call('PUT', path, event, shown.etag);
      if (updated.status === 200) return MADE;
      if (updated.status === 412 || updated.status === 404) continue; // changed (or gone) since the GET: decide again
      return refused(refusalOf(updated));
    }
    return { kind: 'contended' };
  }

  /**
   * The task is gone (no version): DELETE the event. Else GET it first: one showing a newer version is kept
   * (skipped); else DELETE with If-Match (412: read again). One already deleted (410, cancelled) or never made
   * (404) is done.
   */
  async remove(change: Extract<Change, { action: 'delete' }>): Promise<ChangeResult> {
    const path = this.event(change.eventId);
    const gone = (status: number) => [200, 204, 404, 410].includes(status);
    if (change.version === null) {
      const answer = await this.call('DELETE', path);
      return gone(answer.status) ? MADE : refused(refusalOf(answer));
    }
    for (let decision = 1; decision <= MAX_DECISIONS; decision += 1) {
      const found = await this.call('GET', path);
      if (found.status === 404) return MADE;
      if (found.status !== 200) return refused(refusalOf(found));
      const shown = readEvent(found);
      if (shown.cancelled) return MADE;
      if (shown.version !== null && shown.version > change.version) return { kind: 'skipped' };
      const answer = await this.call('DELETE', path, undefined, shown.etag);
      if (answer.status === 412) continue; // changed since the GET: decide again
      return gone(answer.status) ? MADE : refused(refusalOf(answer));
    }
    return { kind: 'contended' };
  }

  private events(): string {
    return `/calendars/${encodeURIComponent(this.calendarId)}/events`;
  }

  private event(eventId: string): string {
    return `${this.events()}/${encodeURIComponent(eventId)}`;
  }

  /**
   * One call (with If-Match when given an etag); a 401 (the token expired or was revoked early) is tried once more
   * with a new token. Google's rate limits (a 403 with a rate-limit reason, a 429): RetryLater, and not failures
   * for the breaker, which is every tenant's (only 5xx and no answer count and are retried).
   */
  private async call(method: string, path: string, body?: object, ifMatch?: string | null): Promise<HttpAnswer> {
    for (let attempt = 1; ; attempt += 1) {
      const token = await googleAccessToken({ trace: this.options.trace, budgetMs: this.deadline - Date.now(), ...(this.options.log ? { log: this.options.log } : {}) });
      const answer = await callIntegration('googleCalendar', path, {
        method,
        headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}), ...(ifMatch ? { 'If-Match': ifMatch } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
        trace: this.options.trace,
        budgetMs: this.deadline - Date.now(),
        isFailure: (answer) => answer.status >= 500,
        ...(this.options.log ? { log: this.options.log } : {}),
      });
      if (answer.status === 401 && attempt === 1) {
        forgetGoogleTokens();
        continue;
      }
      if (answer.status === 401) throw new PermanentFailure(`Google Calendar refused a new access token (HTTP 401): ${messageOf(answer)}`);
      if (answer.status === 429) {
        throw new RetryLater(`Google Calendar ${method} ${path}: ${reasonOf(answer) || 'too many requests'} (HTTP 429)`, retryAfterMs(answer.headers['retry-after']) ?? RATE_LIMIT_WAIT_MS);
      }
      if (answer.status === 403 && RATE_LIMIT_REASONS.has(reasonOf(answer))) {
        throw new RetryLater(`Google Calendar ${method} ${path}: ${reasonOf(answer)} (HTTP 403)`, retryAfterMs(answer.headers['retry-after']) ?? RATE_LIMIT_WAIT_MS);
      }
      return answer;
    }
  }
}

/** A GET's event: its etag (the resource's, else the header's), whether it is deleted, the task version it shows. */
function readEvent(answer: HttpAnswer): ReadEvent {
  type Resource = { etag?: unknown; status?: unknown; extendedProperties?: { private?: { taskflowVersion?: unknown } } } | null;
  let resource: Resource = null;
  try {
    resource = JSON.parse(answer.body) as Resource;
  } catch {
    // No body to read: no version, and the header's etag if any.
  }
  const header = Array.isArray(answer.headers.etag) ? answer.headers.etag[0] : answer.headers.etag;
  const etag = typeof resource?.etag === 'string' ? resource.etag : (header ?? null);
  const shown = resource?.extendedProperties?.private?.taskflowVersion;
  const version = typeof shown === 'string' && /^\d{1,15}$/.test(shown) ? Number(shown) : null;
  return { etag, cancelled: resource?.status === 'cancelled', version };
}

/** YYYY-MM-DD → the next day (an all-day event's end is exclusive); null if it is not a date. */
function nextDay(date: string): string | null {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (!match) return null;
  const next = new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]) + 1));
  return Number.isNaN(next.getTime()) ? null : next.toISOString().slice(0, 10);
}

function refusalOf(answer: HttpAnswer, meaning?: string): string {
  const message = messageOf(answer);
  return `HTTP ${answer.status}${reasonOf(answer) ? ` ${reasonOf(answer)}` : ''}${message ? ` (${message})` : ''}${meaning ? `: ${meaning}` : ''}`;
}

function errorOf(answer: HttpAnswer): { message?: unknown; errors?: { reason?: unknown }[] } | null {
  try {
    const body = JSON.parse(answer.body) as { error?: { message?: unknown; errors?: { reason?: unknown }[] } };
    return body?.error && typeof body.error === 'object' ? body.error : null;
  } catch {
    return null;
  }
}

function messageOf(answer: HttpAnswer): string {
  const message = errorOf(answer)?.message;
  return typeof message === 'string' ? message : '';
}

function reasonOf(answer: HttpAnswer): string {
  const reason = errorOf(answer)?.errors?.[0]?.reason;
  return typeof reason === 'string' ? reason : '';
}

const clip = (text: string) => (text.length > ERROR_CHARS ? `${text.slice(0, ERROR_CHARS - 1)}…` : text);
