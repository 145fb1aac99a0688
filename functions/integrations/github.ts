import type { GithubSyncRequest, ImportedIssue, RunOutcome } from '../domain/messages';
import { secretValue } from '../shared/secrets';
import type { Trace } from '../shared/trace';
import { callIntegration, retryAfterMs, type HttpAnswer, type SendOptions } from './http';
import { INTEGRATIONS } from './services';

// A linked repository's changed issues, from GitHub's REST API (list repository issues), within GitHub's rate
// limits. A run fetches what changed since the last one, oldest change first (sort=updated, direction=asc), so
// `since` (the newest updated_at seen) is a cursor: a run that stops early (rate limit, time, page cap) loses
// nothing, the next one goes on from there. The first page is conditional (If-None-Match: the last run's ETag),
// and a 304 costs nothing of the rate limit.
//
// Pages are walked by time, not by number: the next page is asked `since` the last item's updated_at (GitHub's
// `since` is inclusive, "updated at or after"), the items already seen dropped. Page numbers (the Link header's
// rel="next") shift under a run: an issue of an earlier page edited meanwhile moves to the end, everything after
// it moves back one place, and one issue would never be listed (and `since` would then move past it for good).
// Only when a whole page shares one updated_at (no progress by time) are the pages of that same `since` numbered.
//
// GitHub's rate limits are the service working as designed, not an outage: a 403 or 429 that says so (no
// requests left, or Retry-After) is neither retried in the run nor counted on the breaker; the run ends
// `rate_limited` with the time to come back. 5xx and no answer are retried by the HTTP layer and counted.

const GITHUB_PAGE_SIZE = 100;
/** A run stops after this many pages (the next run goes on from its `since`): bounded memory and results per run. */
const GITHUB_MAX_PAGES = 10;
/** A page is started only with this much of the budget left; else the run ends and the next goes on. */
const PAGE_RESERVE_MS = 15_000;
/** A secondary rate limit without Retry-After or reset: GitHub asks to wait at least a minute. */
const SECONDARY_LIMIT_WAIT_MS = 60_000;
const ERROR_CHARS = 500;

export interface GithubRun {
  /** The issues changed (pull requests left out), oldest change first. */
  issues: ImportedIssue[];
  /** `etag` and `since` for the next run; `retryAt`: not before (a rate limit's reset). */
  outcome: RunOutcome;
}

export interface FetchOptions extends SendOptions {
  trace: Trace;
}

/**
 * The issues of `request.repository` changed since `request.since`, through the integration layer (timeouts,
 * retries of 5xx and no answer, GitHub's circuit breaker). Answers the run's outcome:
 * - `ok`: the issues found (all of them, or as many as the time and the page cap allowed; the next run goes on);
 * - `unchanged`: the first page answered 304 (nothing changed since the last run's ETag);
 * - `rate_limited`: GitHub's rate limit was met (before or during paging); `retryAt` its reset; the issues of
 *   the pages fetched before are returned and `since` moves up to them (never past an issue not returned);
 * - `failed`: GitHub refused the run for good (no such repository or no access: 404, 401, 403, 410, 422...), the
 *   repository name cannot be asked for (a `.` or `..` part), or GitHub answered something that is not a list
 *   of issues (retrying the message would only meet it again). The issues of the pages before are returned.
 *
 * Throws BreakerOpen or RetryLater (try again later) or IntegrationUnavailable (every try failed): the caller
 * retries the whole run (same `since`, same ETag).
 */
export async function fetchChangedIssues(request: GithubSyncRequest, options: FetchOptions): Promise<GithubRun> {
  const { connectMs, readMs } = INTEGRATIONS.github.timeouts;
  const deadline = Date.now() + (options.budgetMs ?? connectMs + readMs);

  const issues: ImportedIssue[] = [];
  let newest: string | null = null;
  let etag: string | null = request.etag;
  const outcome = (status: RunOutcome['status'], extra: Partial<RunOutcome> = {}): GithubRun => ({
    issues,
    outcome: { status, error: null, etag, since: newest ?? request.since, retryAt: null, ...extra },
  });

  // `/repos/../user/issues` is `/user/issues` once the URL is resolved (encodeURIComponent leaves dots alone):
  // the message schema refuses such a name, and so does this, before any call.
  const parts = request.repository.split('/');
  if (parts.length !== 2 || parts.some((part) => part === '' || /^\.+$/.test(part))) {
    return outcome('failed', { error: clip(`GitHub repository name ${JSON.stringify(request.repository)} is not owner/name (no empty, . or .. part)`) });
  }
  const [owner, name] = parts as [string, string];
  const token = await secretValue('GITHUB_TOKEN');
  const listPath = `/repos/${encodeURIComponent(owner)}/${encodeURIComponent(name)}/issues`;

  // Where the next page starts: `since` (inclusive) and, only while a whole page shares one updated_at, a page number.
  let since = request.since;
  let pageOfSince = 1;
  // Every copy listed in this run (number @ updated_at): a page asked `since` an updated_at lists again the items of
  // that time already seen. A copy with a later updated_at (the issue edited during the run) is not a duplicate.
  const seen = new Set<string>();

  for (let page = 1; ; page += 1) {
    if (page > 1 && (page > GITHUB_MAX_PAGES || deadline - Date.now() < PAGE_RESERVE_MS)) return outcome('ok');
    const query = new URLSearchParams({ state: 'all', sort: 'updated', direction: 'asc', per_page: String(GITHUB_PAGE_SIZE) });
    if (since) query.set('since', since);
    if (pageOfSince > 1) query.set('page', String(pageOfSince));
    const answer = await callIntegration('github', `${listPath}?${query}`, {
      method: 'GET',
      headers: {
        Authorization: `Bearer ${token}`,
        Accept: 'application/vnd.github+json',
        'X-GitHub-Api-Version': '2022-11-28',
        'User-Agent': 'TaskFlow',
        ...(page === 1 && request.etag ? { 'If-None-Match': request.etag } : {}),
      },
      trace: options.trace,
      budgetMs: deadline - Date.now(),
      ...(options.log ? { log: options.log } : {}),
      // A 429 is GitHub's rate limit, read below: only 5xx (and no answer) are failures of the service.
      isFailure: (candidate) => candidate.status >= 500,
    });
    const limit = rateLimitOf(answer);
    if (limit) return outcome('rate_limited', { error: limit.reason, retryAt: limit.retryAt });
    if (answer.status === 304 && page === 1) return outcome('unchanged');
    if (answer.status !== 200) return outcome('failed', { error: refusal(answer, request.repository) });

    const items = issueList(answer.body);
    if (typeof items === 'string') {
      return outcome('failed', { error: clip(`GitHub answered page ${page} of ${request.repository}'s issues with ${items}; the run stops (the next one tries again)`) });
    }
    if (page === 1) etag = header(answer, 'etag') ?? null;
    for (const item of items) {
      const copy = `${item.number}@${Date.parse(item.updated_at)}`;
      if (seen.has(copy)) continue;
      seen.add(copy);
      // Pull requests are listed with the issues; their updates still move the cursor.
      if (newest === null || Date.parse(item.updated_at) > Date.parse(newest)) newest = item.updated_at;
      if (item.pull_request) continue;
      issues.push(imported(item, request.repository));
    }

    const more = items.length > 0 && hasNextPage(answer);
    if (more) {
      const first = items[0]!.updated_at;
      const last = items.at(-1)!.updated_at;
      if (Date.parse(first) !== Date.parse(last)) {
        // Progress by time: from the last item's updated_at on (its ties again, dropped as seen).
        since = last;
        pageOfSince = 1;
      } else if (since !== null && Date.parse(since) === Date.parse(last)) {
        // A whole page at `since` itself: asking from it again would list the same page; the next one by number.
        pageOfSince += 1;
      } else {
        // A whole page at one later time: from that time on. A first page lists nothing before it, so it was that
        // time's first page too; otherwise its first page again (the items seen dropped).
        since = last;
        pageOfSince = pageOfSince === 1 ? 2 : 1;
      }
    }
    const remainingHeader = header(answer, 'x-ratelimit-remaining');
    if (remainingHeader !== undefined && Number(remainingHeader) <= 0) {
      const retryAt = resetTime(answer) ?? new Date(Date.now() + SECONDARY_LIMIT_WAIT_MS).toISOString();
      // The budget is spent: what is left waits for the reset, and so does the next run.
      if (more) return outcome('rate_limited', { error: `GitHub rate limit spent after page ${page}; the rest after ${retryAt}`, retryAt });
      return outcome('ok', { retryAt });
    }
    if (!more) return outcome('ok');
  }
}

interface GithubIssue {
  number: number;
  title: string;
  body: string | null;
  state: string;
  html_url: string;
  updated_at: string;
  pull_request?: unknown;
}

/**
 * A page's issues, or what is wrong with it (for the run's error): GitHub answers a JSON array of issues, each
 * with a number and an updated_at. Anything else (an HTML page from a proxy, an object) would fail every try
 * the same way.
 */
function issueList(body: string): GithubIssue[] | string {
  let items: unknown;
  try {
    items = JSON.parse(body);
  } catch {
    return `something that is not JSON (${excerpt(body)})`;
  }
  if (!Array.isArray(items)) return `JSON that is not a list (${excerpt(body)})`;
  const bad = items.findIndex(
    (item) => !item || typeof item !== 'object' || typeof item.number !== 'number' || typeof item.updated_at !== 'string' || Number.isNaN(Date.parse(item.updated_at)),
  );
  if (bad >= 0) return `an item (#${bad + 1}) without a number or an updated_at`;
  return items as GithubIssue[];
}

const excerpt = (body: string) => (body.trim() ? `${JSON.stringify(body.trim().slice(0, 80))}${body.trim().length > 80 ? '…' : ''}` : 'empty');

function imported(item: GithubIssue, repository: string): ImportedIssue {
  return {
    externalId: `${repository}#${item.number}`,
    title: String(item.title ?? ''),
    body: typeof item.body === 'string' ? item.body : '',
    closed: item.state === 'closed',
    url: String(item.html_url ?? ''),
    updatedAt: item.updated_at,
  };
}

function header(answer: HttpAnswer, name: string): string | undefined {
  const value = answer.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function resetTime(answer: HttpAnswer): string | null {
  const reset = Number(header(answer, 'x-ratelimit-reset'));
  return header(answer, 'x-ratelimit-reset') !== undefined && Number.isFinite(reset) && reset > 0 ? new Date(reset * 1000).toISOString() : null;
}

/**
 * GitHub's rate limits (docs: "Rate limits for the REST API"): a 403 or 429 with x-ratelimit-remaining 0 is the
 * primary limit (wait for x-ratelimit-reset); with Retry-After, or a 429, or a message saying so (GitHub's "secondary
 * rate limit", formerly "abuse detection mechanism"), a secondary limit: wait Retry-After, else until the reset if
 * nothing remains, else a minute (GitHub: "at least one minute"). Null: not a limit.
 *
 * GitHub also asks for an exponentially longer wait while the secondary limit is hit again; a run knows only its
 * request (not whether the link's last run met the limit), so that doubling is not made here.
 */
function rateLimitOf(answer: HttpAnswer, now = Date.now()): { retryAt: string; reason: string } | null {
  if (answer.status !== 403 && answer.status !== 429) return null;
  const remaining = header(answer, 'x-ratelimit-remaining');
  const asked = retryAfterMs(answer.headers['retry-after'], now);
  const message = messageOf(answer);
  const primary = remaining !== undefined && Number(remaining) === 0;
  if (!primary && asked === undefined && answer.status !== 429 && !/rate limit|abuse detection/i.test(message)) return null;
  const retryAt =
    asked !== undefined
      ? new Date(now + asked).toISOString()
      : primary
        ? (resetTime(answer) ?? new Date(now + SECONDARY_LIMIT_WAIT_MS).toISOString())
        : new Date(now + SECONDARY_LIMIT_WAIT_MS).toISOString();
  const kind = primary && asked === undefined ? 'rate limit' : 'secondary rate limit';
  return { retryAt, reason: clip(`GitHub ${kind} (HTTP ${answer.status}), until ${retryAt}${message ? `: ${message}` : ''}`) };
}

/** Why GitHub refused the run, for the link's status: what an operator or the user fixes. */
function refusal(answer: HttpAnswer, repository: string): string {
  const message = messageOf(answer);
  const detail = message ? `: ${message}` : '';
  switch (answer.status) {
    case 401:
      return clip(`GitHub refused the token (HTTP 401${detail}); the GITHUB_TOKEN secret needs a valid token`);
    case 403:
      return clip(`GitHub refused access to ${repository} (HTTP 403${detail}); the token needs read access to its issues`);
    case 404:
      return clip(`GitHub repository ${repository} not found (HTTP 404), or the token cannot see it`);
    case 301:
    case 308:
      return clip(`GitHub repository ${repository} moved to ${header(answer, 'location') ?? 'another name'} (HTTP ${answer.status}); link the new name`);
    case 410:
      return clip(`GitHub issues are disabled or gone for ${repository} (HTTP 410${detail})`);
    default:
      return clip(`GitHub refused the issues of ${repository} (HTTP ${answer.status}${detail})`);
  }
}

function messageOf(answer: HttpAnswer): string {
  try {
    const body = JSON.parse(answer.body) as { message?: unknown };
    return typeof body?.message === 'string' ? body.message : '';
  } catch {
    return '';
  }
}

/**
 * Whether the Link header has a rel="next": more items after this page. Its URL is not followed (pages are
 * asked by time, see above); an answer without a Link header is the last page.
 */
function hasNextPage(answer: HttpAnswer): boolean {
  const link = header(answer, 'link');
  if (!link) return false;
  return link
    .split(',')
    .map((part) => /<[^>]*>\s*;(.*)$/.exec(part.trim()))
    .some((match) => match !== null && /\brel="?([^"]*\s)?next(\s[^"]*)?"?/.test(match[1]!));
}

const clip = (text: string) => (text.length > ERROR_CHARS ? `${text.slice(0, ERROR_CHARS - 1)}…` : text);
