import type { CalendarSyncRequest, RunOutcome } from '../domain/messages';
import type { Trace } from '../shared/trace';
import { forgetGoogleTokens, googleAccessToken } from './google-auth';
import { callIntegration, PermanentFailure, RetryLater, type HttpAnswer, type SendOptions } from './http';
import { INTEGRATIONS } from './services';

// A linked Google calendar's events, one all-day event per task with a due date, written through Calendar API v3
// with the service account's token. The event ids are TaskFlow's (stable per link and task), which makes every
// change idempotent: an upsert is a PUT, and only when the event does not exist an insert with that id (409: an
// earlier try's insert went through after all → PUT); a delete of an event already gone is done.

type Change = CalendarSyncRequest['changes'][number];

export interface AppliedEvent {
  taskId: string;
  eventId: string;
  /** An upsert: the task version the event now shows; a delete: null. */
  version: number | null;
}

export interface CalendarRun {
  applied: AppliedEvent[];
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
/** Google's "rate limit exceeded" as a 403 (usageLimits): come back after this, not sooner. */
const RATE_LIMIT_WAIT_MS = 60_000;
const RATE_LIMIT_REASONS = new Set(['rateLimitExceeded', 'userRateLimitExceeded', 'quotaExceeded', 'dailyLimitExceeded']);
const ERROR_CHARS = 1_000;

/**
 * Makes the run's changes on the calendar, one after the other. Each is independent: one Google refuses for good
 * (400 invalid, 403 no write access, 404 no such calendar) is reported in the outcome (`failed`, with every
 * refusal in `error`) and the others are still made. The service failing (BreakerOpen, RetryLater,
 * IntegrationUnavailable, Google's 403 rate limit as RetryLater) ends the run with that error, so its message is
 * tried again later: what was made already is made again harmlessly (the same ids). Google refusing the service
 * account (GoogleAuthRefused) ends the run `failed`. Runs out of time: `ok` with the changes made; the next run
 * has the others.
 */
export async function applyCalendarChanges(request: CalendarSyncRequest, options: CalendarOptions): Promise<CalendarRun> {
  const { connectMs, readMs } = INTEGRATIONS.googleCalendar.timeouts;
  const deadline = Date.now() + (options.budgetMs ?? connectMs + readMs);
  const applied = options.applied ?? [];
  const refused: string[] = [];
  const session = new CalendarSession(request.calendarId, options, deadline);
  let left = 0;
  try {
    for (const [i, change] of request.changes.entries()) {
      if (i > 0 && deadline - Date.now() < CHANGE_RESERVE_MS) {
        left = request.changes.length - i;
        break;
      }
      const refusal = change.action === 'upsert' ? await session.upsert(change) : await session.remove(change);
      if (refusal === null) applied.push({ taskId: change.taskId, eventId: change.eventId, version: change.action === 'upsert' ? change.version : null });
      else refused.push(`${change.action} of task ${change.taskId}: ${refusal}`);
    }
  } catch (error) {
    // Google refused the service account: no change of this run can be made, and retrying will not help.
    if (!(error instanceof PermanentFailure)) throw error;
    return { applied, outcome: { status: 'failed', error: clip(error.message), retryAt: null } };
  }
  if (refused.length > 0) {
    return { applied, outcome: { status: 'failed', error: clip(`${refused.length} of ${request.changes.length} changes refused by Google Calendar: ${refused.join('; ')}`), retryAt: null } };
  }
  return { applied, outcome: { status: 'ok', error: left > 0 ? `out of time: ${left} of ${request.changes.length} changes left for the next run` : null, retryAt: null } };
}

/** The calls of one run on one calendar, with the service account's token (fetched again once after a 401). */
class CalendarSession {
  constructor(
    private readonly calendarId: string,
    private readonly options: CalendarOptions,
    private readonly deadline: number,
  ) {}

  /** PUT the event; none: insert it with its id; a duplicate id (an earlier insert went through): PUT again. Null: done; else why not. */
  async upsert(change: Extract<Change, { action: 'upsert' }>): Promise<string | null> {
    const end = nextDay(change.event.date);
    if (end === null) return `the due date ${JSON.stringify(change.event.date)} is not a date (YYYY-MM-DD)`;
    const event = {
      id: change.eventId,
      summary: change.event.summary,
      description: change.event.description,
      start: { date: change.event.date },
      end: { date: end },
      // An all-day reminder, not a busy day.
      transparency: 'transparent',
      extendedProperties: { private: { taskflowTaskId: change.taskId, taskflowVersion: String(change.version) } },
    };
    const path = `${this.events()}/${encodeURIComponent(change.eventId)}`;
    let answer = await this.call('PUT', path, event);
    if (answer.status === 404) {
      answer = await this.call('POST', this.events(), event);
      if (answer.status === 409) answer = await this.call('PUT', path, event);
      else if (answer.status === 404) return refusalOf(answer, 'the calendar does not exist or is not shared with the service account');
    }
    return answer.status === 200 || answer.status === 201 ? null : refusalOf(answer);
  }

  /** DELETE the event; one already deleted (410) or never made (404) is done too. */
  async remove(change: Extract<Change, { action: 'delete' }>): Promise<string | null> {
    const answer = await this.call('DELETE', `${this.events()}/${encodeURIComponent(change.eventId)}`);
    return [200, 204, 404, 410].includes(answer.status) ? null : refusalOf(answer);
  }

  private events(): string {
    return `/calendars/${encodeURIComponent(this.calendarId)}/events`;
  }

  /** One call; a 401 (the token expired or was revoked early) is tried once more with a new token. Google's 403 rate limit: RetryLater. */
  private async call(method: string, path: string, body?: object): Promise<HttpAnswer> {
    for (let attempt = 1; ; attempt += 1) {
      const token = await googleAccessToken({ trace: this.options.trace, budgetMs: this.deadline - Date.now(), ...(this.options.log ? { log: this.options.log } : {}) });
      const answer = await callIntegration('googleCalendar', path, {
        method,
        headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
        trace: this.options.trace,
        budgetMs: this.deadline - Date.now(),
        ...(this.options.log ? { log: this.options.log } : {}),
      });
      if (answer.status === 401 && attempt === 1) {
        forgetGoogleTokens();
        continue;
      }
      if (answer.status === 401) throw new PermanentFailure(`Google Calendar refused a new access token (HTTP 401): ${messageOf(answer)}`);
      if (answer.status === 403 && RATE_LIMIT_REASONS.has(reasonOf(answer))) {
        throw new RetryLater(`Google Calendar ${method} ${path}: ${reasonOf(answer)} (HTTP 403)`, RATE_LIMIT_WAIT_MS);
      }
      return answer;
    }
  }
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
