import { createHash, createPublicKey, generateKeyPair, randomBytes, verify, type KeyObject } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { promisify } from 'node:util';
import { pause } from './lambda';
import { INTEGRATIONS, INTEGRATION_NAMES, type IntegrationName } from '../../functions/integrations/services';

// Local stand-ins for the third-party APIs TaskFlow calls (Slack, SendGrid, GitHub, Google Calendar and Google's
// OAuth token endpoint): one HTTP server on loopback that answers like each API, records every call, and fails on
// demand. The local runtime points the functions at it through the same variables that name the real APIs in AWS;
// the tests use it the same way.

/** The credentials and sender the sandboxes accept (and the local runtime gives the functions). */
export const SANDBOX_CREDENTIALS = {
  SLACK_BOT_TOKEN: 'xoxb-local-sandbox',
  SENDGRID_API_KEY: 'SG.local-sandbox',
  NOTIFICATION_FROM_EMAIL: 'notifications@taskflow.local',
  GITHUB_TOKEN: 'ghp_local-sandbox',
  /** The Google service account's e-mail; its key pair is made when the sandboxes start (GOOGLE_CALENDAR_CREDENTIALS). */
  GOOGLE_CLIENT_EMAIL: 'taskflow-sync@taskflow-local.iam.gserviceaccount.com',
} as const;

/** Addresses at this domain have no Slack account (users.lookupByEmail answers users_not_found). */
export const NO_SLACK_DOMAIN = 'no-slack.example';
/** SendGrid refuses addresses at this domain (400). */
export const INVALID_EMAIL_DOMAIN = 'invalid.example';
/** The GitHub sandbox's primary rate limit per hour, until setRateLimit changes it (GitHub's for a token). */
export const GITHUB_RATE_LIMIT = 5_000;
/** The scopes the Google token endpoint grants (either lets the calendar sandbox be written). */
export const GOOGLE_CALENDAR_SCOPES = ['https://www.googleapis.com/auth/calendar', 'https://www.googleapis.com/auth/calendar.events'] as const;

/**
 * - `error`: answers an error status; `rate-limit`: 429 with Retry-After; `down`: the connection drops without
 *   an answer; `slow`: answers after a delay (nothing happens if the client gave up first);
 * - `lost`: the call is handled (its effect happens), then the connection drops before the answer, as when an
 *   answer is lost on the way: the client cannot tell whether it happened.
 */
export type FaultMode = 'ok' | 'error' | 'down' | 'slow' | 'rate-limit' | 'lost';

export interface Fault {
  mode: FaultMode;
  /** `error`: the status to answer (default 503). */
  status?: number;
  /** `error`: the share of calls that fail, 0..1 (default 1). */
  errorRate?: number;
  /** `slow`: the delay before the (normal) answer (default 30 000 ms). */
  latencyMs?: number;
  /** `rate-limit`: the Retry-After the 429 carries (default 1). */
  retryAfterSeconds?: number;
  /** Only calls with these HTTP methods meet the fault (the others are answered normally); default: every call. */
  methods?: string[];
}

export interface RecordedCall {
  service: string;
  method: string;
  /** The path under the service's base URL, e.g. `/chat.postMessage` or `/v3/mail/send` (without the query). */
  path: string;
  /** The query string's parameters (empty when there is none). */
  query: Record<string, string>;
  /** Every request header, names lower-case. */
  headers: Record<string, string>;
  /** Parsed: JSON and form bodies as objects, anything else as text (undefined when empty). */
  body: unknown;
  /** The status answered; null while a slow answer is pending, and when the service was down or the answer lost (socket destroyed). */
  status: number | null;
  /** When it arrived (ISO 8601). */
  at: string;
}

export interface SandboxRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Record<string, string>;
  body: unknown;
}

export interface SandboxAnswer {
  status: number;
  headers?: Record<string, string>;
  /** An object is sent as JSON; undefined sends no body. */
  body?: unknown;
}

/** One sandboxed API. Adding a service is one more entry in `SERVICES`. */
interface SandboxService {
  /** Its base URL's path on the sandbox server, e.g. `/slack/api`. */
  base: string;
  /** The credential it accepts, for a service TaskFlow calls (functions/integrations/services.ts). */
  credential?(): string;
  handle(request: SandboxRequest): SandboxAnswer;
  /** What it answers when told to fail with `status` (`error`) or to rate-limit (429). */
  failure(status: number): SandboxAnswer;
}

/** What the services share: the server's own URL (known once it listens) and the state of the stateful ones. */
interface SandboxContext {
  url(): string;
  github: GithubModel;
  google: GoogleModel;
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}): SandboxAnswer => ({ status, body, headers });

function bearer(headers: Record<string, string>): string | null {
  const match = /^Bearer\s+(.+)$/i.exec(headers.authorization ?? '');
  return match ? match[1]!.trim() : null;
}

const emailPattern = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const domainOf = (email: string) => email.slice(email.lastIndexOf('@') + 1).toLowerCase();

/** Slack's Web API (https://slack.com/api): the methods TaskFlow calls. Answers HTTP 200 with `ok`, as Slack does. */
function slack(): SandboxService {
  let sequence = 0;
  const fields = (request: SandboxRequest): Record<string, unknown> => ({
    ...Object.fromEntries(request.query),
    ...(request.body && typeof request.body === 'object' ? (request.body as Record<string, unknown>) : {}),
  });
  return {
    base: '/slack/api',
    credential: () => SANDBOX_CREDENTIALS.SLACK_BOT_TOKEN,
    failure: (status) => json(status, { ok: false, error: status === 429 ? 'ratelimited' : 'service_unavailable' }),
    handle(request) {
      const token = bearer(request.headers);
      if (!token) return json(200, { ok: false, error: 'not_authed' });
      if (token !== SANDBOX_CREDENTIALS.SLACK_BOT_TOKEN) return json(200, { ok: false, error: 'invalid_auth' });
      if (request.method !== 'POST' && request.method !== 'GET') return json(405, { ok: false, error: 'method_not_supported' });
      const args = fields(request);
      switch (request.path) {
        case '/users.lookupByEmail': {
          const email = typeof args.email === 'string' ? args.email.trim() : '';
          if (!email) return json(200, { ok: false, error: 'invalid_arguments' });
          if (!emailPattern.test(email) || domainOf(email) === NO_SLACK_DOMAIN) return json(200, { ok: false, error: 'users_not_found' });
          const id = `U${createHash('sha256').update(email.toLowerCase()).digest('hex').slice(0, 10).toUpperCase()}`;
          const name = email.slice(0, email.indexOf('@'));
          return json(200, { ok: true, user: { id, team_id: 'T0LOCAL', name, real_name: name, profile: { email } } });
        }
        case '/chat.postMessage': {
          const channel = typeof args.channel === 'string' ? args.channel : '';
          if (!channel) return json(200, { ok: false, error: 'channel_not_found' });
          if (!args.text && !args.blocks && !args.attachments) return json(200, { ok: false, error: 'no_text' });
          const ts = `${Math.floor(Date.now() / 1000)}.${String(++sequence).padStart(6, '0')}`;
          return json(200, { ok: true, channel, ts, message: { type: 'message', user: 'U0LOCALBOT', text: args.text ?? '', ts } });
        }
        default:
          return json(200, { ok: false, error: 'unknown_method' });
      }
    },
  };
}

/** SendGrid's v3 API (https://api.sendgrid.com): mail send. */
function sendgrid(): SandboxService {
  const error = (message: string, field: string | null) => ({ message, field, help: null });
  return {
    base: '/sendgrid',
    credential: () => SANDBOX_CREDENTIALS.SENDGRID_API_KEY,
    failure: (status) => json(status, { errors: [error(status === 429 ? 'Too many requests' : 'Service unavailable', null)] }),
    handle(request) {
      if (bearer(request.headers) !== SANDBOX_CREDENTIALS.SENDGRID_API_KEY) {
        return json(401, { errors: [error('The provided authorization grant is invalid, expired, or revoked', null)] });
      }
      if (request.path !== '/v3/mail/send') return json(404, { errors: [error('Not found', null)] });
      if (request.method !== 'POST') return json(405, { errors: [error('Method not allowed', null)] });
      const mail = request.body;
      if (!mail || typeof mail !== 'object' || Array.isArray(mail)) return json(400, { errors: [error('Bad Request', null)] });
      const errors = validateMail(mail as Record<string, any>, error);
      if (errors.length) return json(400, { errors });
      const from = String((mail as { from: { email: string } }).from.email).toLowerCase();
      if (from !== SANDBOX_CREDENTIALS.NOTIFICATION_FROM_EMAIL) {
        return json(403, {
          errors: [error('The from address does not match a verified Sender Identity. Mail cannot be sent until this error is resolved.', 'from')],
        });
      }
      return { status: 202, headers: { 'X-Message-Id': randomBytes(16).toString('base64url').slice(0, 22) } };
    },
  };
}

function validateMail(mail: Record<string, any>, error: (message: string, field: string | null) => unknown): unknown[] {
  const errors: unknown[] = [];
  const address = (value: unknown) => typeof value === 'string' && emailPattern.test(value) && domainOf(value) !== INVALID_EMAIL_DOMAIN;
  const personalizations = mail.personalizations;
  if (!Array.isArray(personalizations) || personalizations.length === 0 || personalizations.length > 1000) {
    errors.push(error('The personalizations field is required and must have at least one personalization.', 'personalizations'));
  } else {
    personalizations.forEach((personalization: any, i: number) => {
      const to = personalization?.to;
      if (!Array.isArray(to) || to.length === 0) {
        errors.push(error('The to array is required for all personalization objects, and must have at least one email object with a valid email address.', `personalizations.${i}.to`));
        return;
      }
      to.forEach((recipient: any, j: number) => {
        if (!address(recipient?.email)) errors.push(error('Does not contain a valid address.', `personalizations.${i}.to.${j}.email`));
      });
    });
  }
  if (!mail.from || typeof mail.from !== 'object') {
    errors.push(error('The from object must be provided for every email send. It is an object that requires the email parameter, but may also contain a name parameter.', 'from'));
  } else if (!address(mail.from.email)) {
    errors.push(error('The from email does not contain a valid address.', 'from.email'));
  }
  const templated = typeof mail.template_id === 'string' && mail.template_id.length > 0;
  const everySubject = Array.isArray(personalizations) && personalizations.length > 0 && personalizations.every((p: any) => typeof p?.subject === 'string' && p.subject);
  if (!templated && !(typeof mail.subject === 'string' && mail.subject) && !everySubject) {
    errors.push(error('The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined.', 'subject'));
  }
  if (!templated) {
    if (!Array.isArray(mail.content) || mail.content.length === 0) {
      errors.push(error('Unless a valid template_id is provided, the content parameter is required. There must be at least one defined content block.', 'content'));
    } else {
      mail.content.forEach((block: any, i: number) => {
        if (typeof block?.type !== 'string' || !block.type) errors.push(error('The content type must be a string at least one character in length.', `content.${i}.type`));
        if (typeof block?.value !== 'string' || !block.value) errors.push(error('The content value must be a string at least one character in length.', `content.${i}.value`));
      });
    }
  }
  return errors;
}


// ---------------------------------------------------------------------------------------------------------
// GitHub

/** An issue (or pull request) as the GitHub sandbox keeps it. */
export interface SandboxIssue {
  number: number;
  title: string;
  body: string | null;
  state: 'open' | 'closed';
  /** A pull request: listed with the issues, with a `pull_request` field, as GitHub lists them. */
  pullRequest: boolean;
  createdAt: string;
  updatedAt: string;
  closedAt: string | null;
}

export interface SandboxIssueInput {
  title: string;
  body?: string | null;
  state?: 'open' | 'closed';
  pullRequest?: boolean;
  /** ISO 8601; default now. Lets a test seed issues with distinct, ordered times. */
  updatedAt?: string;
}

export interface GithubRateLimit {
  limit: number;
  used: number;
  remaining: number;
  /** When the hour's budget starts again, in epoch seconds (x-ratelimit-reset). */
  reset: number;
}

/** A page of issues the GitHub sandbox is about to answer (200), as a test's hook sees it. */
export interface ListedIssues {
  /** `owner/name`, as created. */
  repository: string;
  /** The request's query parameters. */
  query: Record<string, string>;
  /** The numbers of the issues and pull requests on the page, in order. */
  numbers: number[];
}

/** What a hook answers in place of a page of issues; what it leaves out is the page's own (headers are added). */
export interface ListingOverride {
  status?: number;
  /** Sent as is. */
  body?: string;
  /** Spelled as the sandbox's own (e.g. `X-RateLimit-Remaining`, `Retry-After`) to replace one. */
  headers?: Record<string, string>;
}

/** The GitHub sandbox's repositories and rate limit, for tests and demos (also through the control API). */
export interface GithubSandbox {
  /** `owner/name`; creating one that exists does nothing. */
  createRepository(fullName: string): void;
  /** Numbered in its repository after the issues and pull requests before it; the repository is created if needed. */
  createIssue(fullName: string, issue: SandboxIssueInput): SandboxIssue;
  /** Edits an issue (updated_at: now, or `updatedAt`); closing stamps closed_at. Throws for an unknown issue. */
  updateIssue(fullName: string, number: number, change: Partial<Omit<SandboxIssueInput, 'pullRequest'>>): SandboxIssue;
  /** The repository's issues and pull requests, by number ([] for an unknown repository). */
  issues(fullName: string): SandboxIssue[];
  /** Sets the hourly budget (and how much of it is used), starting a new hour. */
  setRateLimit(limit: { limit?: number; used?: number }): void;
  rateLimit(): GithubRateLimit;
  /**
   * Calls `hook` as each page of issues is answered (200), once the page is made: an issue it edits shows on the
   * next pages, as an edit made while a client pages does. What it returns replaces the page's status, body or
   * headers (an answer that is not a list, a secondary rate limit). Null removes it. Not on the control API.
   */
  onListIssues(hook: ((page: ListedIssues) => ListingOverride | void) | null): void;
}

interface Repository {
  id: number;
  fullName: string;
  issues: (SandboxIssue & { id: number })[];
}

const GITHUB_API_VERSION = '2022-11-28';
const githubDocs = (path: string) => `https://docs.github.com/rest/${path}`;
const isoSeconds = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

class GithubModel implements GithubSandbox {
  private readonly repositories = new Map<string, Repository>();
  private nextRepositoryId = 100_001;
  private nextIssueId = 2_000_001;
  private limit = GITHUB_RATE_LIMIT;
  private used = 0;
  private reset = 0;
  private listingHook: ((page: ListedIssues) => ListingOverride | void) | null = null;

  createRepository(fullName: string): void {
    if (!/^[^/\s]+\/[^/\s]+$/.test(fullName)) throw new Error(`not a repository name (owner/name): ${fullName}`);
    if (!this.repositories.has(fullName.toLowerCase())) {
      this.repositories.set(fullName.toLowerCase(), { id: this.nextRepositoryId++, fullName, issues: [] });
    }
  }

  createIssue(fullName: string, input: SandboxIssueInput): SandboxIssue {
    this.createRepository(fullName);
    const repository = this.repository(fullName)!;
    const at = input.updatedAt ? Date.parse(input.updatedAt) : Date.now();
    if (Number.isNaN(at)) throw new Error(`updatedAt is not a date: ${input.updatedAt}`);
    const state = input.state ?? 'open';
    const issue = {
      id: this.nextIssueId++,
      number: repository.issues.length + 1,
      title: input.title,
      body: input.body === undefined ? null : input.body,
      state,
      pullRequest: input.pullRequest ?? false,
      createdAt: isoSeconds(at),
      updatedAt: isoSeconds(at),
      closedAt: state === 'closed' ? isoSeconds(at) : null,
    };
    repository.issues.push(issue);
    return publicIssue(issue);
  }

  updateIssue(fullName: string, number: number, change: Partial<Omit<SandboxIssueInput, 'pullRequest'>>): SandboxIssue {
    const issue = this.repository(fullName)?.issues.find((candidate) => candidate.number === number);
    if (!issue) throw new Error(`No issue ${fullName}#${number}`);
    const at = change.updatedAt ? Date.parse(change.updatedAt) : Date.now();
    if (Number.isNaN(at)) throw new Error(`updatedAt is not a date: ${change.updatedAt}`);
    if (change.title !== undefined) issue.title = change.title;
    if (change.body !== undefined) issue.body = change.body;
    if (change.state !== undefined && change.state !== issue.state) {
      issue.state = change.state;
      issue.closedAt = change.state === 'closed' ? isoSeconds(at) : null;
    }
    issue.updatedAt = isoSeconds(at);
    return publicIssue(issue);
  }

  issues(fullName: string): SandboxIssue[] {
    return (this.repository(fullName)?.issues ?? []).map(publicIssue);
  }

  setRateLimit({ limit, used }: { limit?: number; used?: number }): void {
    if (limit !== undefined && !(Number.isInteger(limit) && limit >= 0)) throw new Error('limit must be an integer ≥ 0');
    if (used !== undefined && !(Number.isInteger(used) && used >= 0)) throw new Error('used must be an integer ≥ 0');
    this.limit = limit ?? this.limit;
    this.used = Math.min(used ?? 0, this.limit);
    this.reset = Math.ceil(Date.now() / 1000) + 3_600;
  }

  onListIssues(hook: ((page: ListedIssues) => ListingOverride | void) | null): void {
    this.listingHook = hook;
  }

  /** The test's hook for a page about to be answered; what replaces the answer, if anything. */
  listed(page: ListedIssues): ListingOverride | undefined {
    return this.listingHook?.(page) ?? undefined;
  }

  rateLimit(): GithubRateLimit {
    this.window();
    return { limit: this.limit, used: this.used, remaining: this.limit - this.used, reset: this.reset };
  }

  /** The hour's window: a new one once the reset time has passed. */
  private window(): void {
    const now = Date.now() / 1000;
    if (now >= this.reset) {
      this.used = 0;
      this.reset = Math.ceil(now) + 3_600;
    }
  }

  /** Counts a request against the budget; false when it is spent (GitHub's 403). */
  spend(): boolean {
    this.window();
    if (this.used >= this.limit) return false;
    this.used += 1;
    return true;
  }

  rateHeaders(): Record<string, string> {
    const { limit, used, remaining, reset } = this.rateLimit();
    return {
      'X-RateLimit-Limit': String(limit),
      'X-RateLimit-Remaining': String(remaining),
      'X-RateLimit-Reset': String(reset),
      'X-RateLimit-Used': String(used),
      'X-RateLimit-Resource': 'core',
    };
  }

  repository(fullName: string): Repository | undefined {
    return this.repositories.get(fullName.toLowerCase());
  }

  repositoryById(id: number): Repository | undefined {
    return [...this.repositories.values()].find((repository) => repository.id === id);
  }
}

function publicIssue({ id: _id, ...issue }: SandboxIssue & { id: number }): SandboxIssue {
  return { ...issue };
}

/** An issue as GitHub's REST API answers it. */
function issueResource(repository: Repository, issue: SandboxIssue & { id: number }, apiBase: string): Record<string, unknown> {
  const api = `${apiBase}/repos/${repository.fullName}`;
  const web = `https://github.com/${repository.fullName}`;
  return {
    url: `${api}/issues/${issue.number}`,
    repository_url: api,
    html_url: `${web}/${issue.pullRequest ? 'pull' : 'issues'}/${issue.number}`,
    id: issue.id,
    node_id: `${issue.pullRequest ? 'PR' : 'I'}_kwDO${Buffer.from(`${repository.id}:${issue.id}`).toString('base64url')}`,
    number: issue.number,
    title: issue.title,
    user: { login: 'octocat', id: 1, type: 'User' },
    labels: [],
    state: issue.state,
    state_reason: issue.state === 'closed' ? 'completed' : null,
    locked: false,
    assignee: null,
    assignees: [],
    comments: 0,
    created_at: issue.createdAt,
    updated_at: issue.updatedAt,
    closed_at: issue.closedAt,
    author_association: 'OWNER',
    body: issue.body,
    ...(issue.pullRequest
      ? { pull_request: { url: `${api}/pulls/${issue.number}`, html_url: `${web}/pull/${issue.number}`, diff_url: `${web}/pull/${issue.number}.diff`, patch_url: `${web}/pull/${issue.number}.patch`, merged_at: null } }
      : {}),
  };
}

/**
 * GitHub's REST API (https://api.github.com): a repository's issues, listed as `GET /repos/{owner}/{repo}/issues`
 * does (pull requests included, marked `pull_request`; state, since, sort, direction, per_page, page), with a
 * strong ETag (If-None-Match → 304, which costs nothing of the rate limit, as on GitHub), a Link header with
 * GitHub's `/repositories/{id}/issues` URLs, and the x-ratelimit-* headers on every answer. A token is required
 * (401 without or with another), and a User-Agent (403 without, as GitHub). The hour's budget spent: 403 with
 * x-ratelimit-remaining 0 and "API rate limit exceeded…" (GitHub's primary limit).
 */
function github(context: SandboxContext): SandboxService {
  const model = context.github;
  const answer = (status: number, body: unknown, headers: Record<string, string> = {}) =>
    json(status, body, { ...model.rateHeaders(), 'X-GitHub-Api-Version-Selected': GITHUB_API_VERSION, 'X-GitHub-Request-Id': randomBytes(8).toString('hex').toUpperCase(), ...headers });
  return {
    base: '/github',
    credential: () => SANDBOX_CREDENTIALS.GITHUB_TOKEN,
    failure: (status) =>
      answer(status, {
        message:
          status === 429
            ? 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID.'
            : 'Server Error',
        documentation_url: githubDocs('overview/rate-limits-for-the-rest-api'),
        status: String(status),
      }),
    handle(request) {
      const token = /^(?:Bearer|token)\s+(.+)$/i.exec(request.headers.authorization ?? '')?.[1]?.trim();
      if (!token) return answer(401, { message: 'Requires authentication', documentation_url: githubDocs('issues/issues#list-repository-issues'), status: '401' });
      if (token !== SANDBOX_CREDENTIALS.GITHUB_TOKEN) return answer(401, { message: 'Bad credentials', documentation_url: githubDocs(''), status: '401' });
      if (!request.headers['user-agent']) {
        return answer(403, {
          message: 'Request forbidden by administrative rules. Please make sure your request has a User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required).',
        });
      }
      const apiBase = `http://${request.headers.host}/github`;
      const byName = /^\/repos\/([^/]+)\/([^/]+)\/issues$/.exec(request.path);
      const byId = /^\/repositories\/(\d+)\/issues$/.exec(request.path);
      const notFound = () => answer(404, { message: 'Not Found', documentation_url: githubDocs('issues/issues#list-repository-issues'), status: '404' });
      const limited = () =>
        answer(403, {
          message:
            'API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, please include the request ID. (But here\'s the good news: Authenticated requests get a higher rate limit. Check out the documentation for more details.)',
          documentation_url: githubDocs('overview/rate-limits-for-the-rest-api'),
          status: '403',
        });
      if (!byName && !byId) {
        if (!model.spend()) return limited();
        return notFound();
      }
      if (request.method !== 'GET') {
        if (!model.spend()) return limited();
        return answer(404, { message: 'Not Found', documentation_url: githubDocs('issues/issues'), status: '404' });
      }
      // Spent: refused before anything else, a conditional request included.
      if (model.rateLimit().remaining === 0) return limited();
      const repository = byName ? model.repository(`${decodeURIComponent(byName[1]!)}/${decodeURIComponent(byName[2]!)}`) : model.repositoryById(Number(byId![1]));
      if (!repository) {
        model.spend();
        return notFound();
      }
      const list = listIssues(repository, request.query, apiBase);
      if ('invalid' in list) {
        model.spend();
        return answer(422, { message: 'Validation Failed', errors: [{ resource: 'Issue', field: list.invalid, code: 'invalid' }], documentation_url: githubDocs('issues/issues#list-repository-issues'), status: '422' });
      }
      const body = JSON.stringify(list.items);
      const etag = `"${createHash('sha256').update(body).update('\n').update(list.link).digest('hex')}"`;
      const headers: Record<string, string> = { ETag: etag, 'Cache-Control': 'private, max-age=60, s-maxage=60', Vary: 'Accept, Authorization' };
      if (list.link) headers.Link = list.link;
      // A 304 is free (GitHub: a conditional request answered 304 does not count against the primary rate limit).
      if (etagMatches(request.headers['if-none-match'], etag)) return answer(304, undefined, headers);
      model.spend();
      const override = model.listed({ repository: repository.fullName, query: Object.fromEntries(request.query), numbers: list.numbers });
      if (override) return answer(override.status ?? 200, override.body ?? body, { ...headers, ...override.headers });
      return answer(200, body, headers);
    },
  };
}

function listIssues(repository: Repository, query: URLSearchParams, apiBase: string): { items: unknown[]; numbers: number[]; link: string } | { invalid: string } {
  const state = query.get('state') ?? 'open';
  if (!['open', 'closed', 'all'].includes(state)) return { invalid: 'state' };
  const sinceText = query.get('since');
  const since = sinceText === null ? null : Date.parse(sinceText);
  if (since !== null && Number.isNaN(since)) return { invalid: 'since' };
  const sort = query.get('sort') ?? 'created';
  if (!['created', 'updated', 'comments'].includes(sort)) return { invalid: 'sort' };
  const direction = query.get('direction') ?? 'desc';
  if (!['asc', 'desc'].includes(direction)) return { invalid: 'direction' };
  const perPage = Math.min(100, Math.max(1, Number.parseInt(query.get('per_page') ?? '30', 10) || 30));
  const page = Math.max(1, Number.parseInt(query.get('page') ?? '1', 10) || 1);

  const key = (issue: SandboxIssue) => (sort === 'updated' ? Date.parse(issue.updatedAt) : sort === 'created' ? Date.parse(issue.createdAt) : 0);
  const sign = direction === 'asc' ? 1 : -1;
  const matching = repository.issues
    .filter((issue) => state === 'all' || issue.state === state)
    .filter((issue) => since === null || Date.parse(issue.updatedAt) >= since)
    .sort((a, b) => sign * (key(a) - key(b) || a.number - b.number));
  const last = Math.max(1, Math.ceil(matching.length / perPage));
  const listed = matching.slice((page - 1) * perPage, page * perPage);
  const items = listed.map((issue) => issueResource(repository, issue, apiBase));
  // As GitHub: the other pages at /repositories/{id}/issues, with the query as asked and the page changed.
  const pageUrl = (n: number) => {
    const params = new URLSearchParams(query);
    params.set('page', String(n));
    return `<${apiBase}/repositories/${repository.id}/issues?${params}>`;
  };
  const rels = [
    ...(page > 1 ? [`${pageUrl(page - 1)}; rel="prev"`] : []),
    ...(page < last ? [`${pageUrl(page + 1)}; rel="next"`, `${pageUrl(last)}; rel="last"`] : []),
    ...(page > 1 ? [`${pageUrl(1)}; rel="first"`] : []),
  ];
  return { items, numbers: listed.map((issue) => issue.number), link: rels.join(', ') };
}

function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  const strip = (tag: string) => tag.trim().replace(/^W\//, '');
  return header.split(',').some((tag) => tag.trim() === '*' || strip(tag) === strip(etag));
}

// ---------------------------------------------------------------------------------------------------------
// Google: the OAuth token endpoint (a service account's JWT-bearer grant) and Calendar API v3

/** A Google service account's key, as the functions get it (GOOGLE_CALENDAR_CREDENTIALS, JSON). */
export interface ServiceAccountCredentials {
  clientEmail: string;
  /** PKCS#8 PEM, as in Google's key files. */
  privateKey: string;
  /** The sandbox's token endpoint (`<url>/oauth2/token`). */
  tokenUri: string;
}

export type CalendarAccess = 'writer' | 'reader' | 'none';

/** The Google Calendar sandbox's calendars, for tests and demos (also through the control API). */
export interface CalendarSandbox {
  /** The service account the token endpoint knows, with its private key. */
  credentials(): ServiceAccountCredentials;
  /** The calendar's events as the API answers them (`status: 'cancelled'` once deleted, with `includeDeleted`). */
  events(calendarId: string, options?: { includeDeleted?: boolean }): Record<string, any>[];
  /**
   * What the service account may do on a calendar: `writer` (the default for any calendar id), `reader` (writes
   * answer 403 requiredAccessLevel), `none` (not shared: 404, as Google answers).
   */
  setCalendarAccess(calendarId: string, access: CalendarAccess): void;
  /** Forgets every access token issued: the next calendar call with one answers 401 (an expired or revoked token). */
  revokeTokens(): void;
}

interface StoredEvent {
  resource: Record<string, any>;
  deleted: boolean;
}

interface Calendar {
  access: CalendarAccess;
  events: Map<string, StoredEvent>;
}

const GOOGLE_TOKEN_SECONDS = 3_600;
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

class GoogleModel implements CalendarSandbox {
  private readonly tokens = new Map<string, number>();
  private readonly calendars = new Map<string, Calendar>();

  constructor(
    private readonly keys: { privateKey: string; publicKey: KeyObject },
    private readonly url: () => string,
  ) {}

  static async create(url: () => string): Promise<GoogleModel> {
    const { privateKey, publicKey } = await promisify(generateKeyPair)('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
    return new GoogleModel({ privateKey, publicKey: createPublicKey(publicKey) }, url);
  }

  tokenUri(): string {
    return `${this.url()}/oauth2/token`;
  }

  credentials(): ServiceAccountCredentials {
    return { clientEmail: SANDBOX_CREDENTIALS.GOOGLE_CLIENT_EMAIL, privateKey: this.keys.privateKey, tokenUri: this.tokenUri() };
  }

  events(calendarId: string, { includeDeleted = false } = {}): Record<string, any>[] {
    return [...(this.calendars.get(calendarId)?.events.values() ?? [])].filter((event) => includeDeleted || !event.deleted).map((event) => structuredClone(event.resource));
  }

  setCalendarAccess(calendarId: string, access: CalendarAccess): void {
    if (!['writer', 'reader', 'none'].includes(access)) throw new Error('access is writer, reader or none');
    this.calendar(calendarId).access = access;
  }

  revokeTokens(): void {
    this.tokens.clear();
  }

  /** Any calendar id names a calendar the service account may write, until told otherwise. */
  calendar(calendarId: string): Calendar {
    let calendar = this.calendars.get(calendarId);
    if (!calendar) this.calendars.set(calendarId, (calendar = { access: 'writer', events: new Map() }));
    return calendar;
  }

  issue(): { token: string; expiresIn: number } {
    const token = `ya29.local-${randomBytes(24).toString('base64url')}`;
    this.tokens.set(token, Date.now() + GOOGLE_TOKEN_SECONDS * 1000);
    return { token, expiresIn: GOOGLE_TOKEN_SECONDS };
  }

  valid(token: string | null): boolean {
    return token !== null && (this.tokens.get(token) ?? 0) > Date.now();
  }

  /** Google's checks of a JWT-bearer assertion: null when it is good, else the OAuth error. */
  refusal(assertion: unknown): { error: string; error_description: string } | null {
    const invalid = (description: string) => ({ error: 'invalid_grant', error_description: description });
    if (typeof assertion !== 'string' || !assertion) return { error: 'invalid_request', error_description: 'Missing required parameter: assertion' };
    const parts = assertion.split('.');
    if (parts.length !== 3) return invalid('Invalid JWT: not a JWS compact serialization.');
    const [header, claims] = parts.slice(0, 2).map((part) => {
      try {
        return JSON.parse(Buffer.from(part!, 'base64url').toString('utf8')) as Record<string, unknown>;
      } catch {
        return null;
      }
    });
    if (!header || !claims) return invalid('Invalid JWT: the header or the claims are not JSON.');
    if (header.alg !== 'RS256') return invalid('Invalid JWT: the signing algorithm must be RS256.');
    const signed = verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), this.keys.publicKey, Buffer.from(parts[2]!, 'base64url'));
    if (!signed) return invalid('Invalid JWT Signature.');
    if (claims.iss !== SANDBOX_CREDENTIALS.GOOGLE_CLIENT_EMAIL) return invalid('Invalid email or User ID');
    if (claims.aud !== this.tokenUri()) return invalid(`Invalid JWT: Failed audience check. The right audience is ${this.tokenUri()}`);
    const now = Date.now() / 1000;
    const { iat, exp } = claims;
    if (typeof iat !== 'number' || typeof exp !== 'number' || exp <= now || iat > now + 60 || exp - iat > GOOGLE_TOKEN_SECONDS) {
      return invalid('Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.');
    }
    const scopes = typeof claims.scope === 'string' ? claims.scope.split(/\s+/).filter(Boolean) : [];
    if (scopes.length === 0) return { error: 'invalid_scope', error_description: 'Empty or missing scope not allowed.' };
    if (!scopes.some((scope) => (GOOGLE_CALENDAR_SCOPES as readonly string[]).includes(scope))) {
      return { error: 'invalid_scope', error_description: `Invalid OAuth scope or ID token audience provided: ${scopes.join(' ')}` };
    }
    return null;
  }
}

/**
 * Google's OAuth 2.0 token endpoint (https://oauth2.googleapis.com/token) for a service account: the JWT-bearer
 * grant (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<RS256 JWT>`), the signature checked
 * with the service account's public key, and iss, aud (this endpoint), scope, iat and exp as Google checks them.
 * A sandbox of its own (`googleOAuth`): in reality a separate host from the Calendar API, so the calendar's
 * faults leave it healthy; it can be told to fail on its own.
 */
function googleOAuth(context: SandboxContext): SandboxService {
  const google = context.google;
  return {
    base: '/oauth2',
    failure: (status) => json(status, { error: status === 429 ? 'rate_limit_exceeded' : 'internal_failure', error_description: status === 429 ? 'Rate limit exceeded' : 'Internal error' }),
    handle(request) {
      if (request.path !== '/token') return json(404, { error: 'not_found', error_description: `No endpoint at /oauth2${request.path}` });
      if (request.method !== 'POST') return json(405, { error: 'invalid_request', error_description: 'Use POST' });
      const form = request.body && typeof request.body === 'object' ? (request.body as Record<string, unknown>) : {};
      if (form.grant_type !== JWT_BEARER) return json(400, { error: 'unsupported_grant_type', error_description: `Invalid grant_type: ${String(form.grant_type ?? '')}` });
      const refusal = google.refusal(form.assertion);
      if (refusal) return json(400, refusal);
      const { token, expiresIn } = google.issue();
      return json(200, { access_token: token, expires_in: expiresIn, token_type: 'Bearer' });
    },
  };
}

const googleError = (code: number, message: string, reason: string, extra: Record<string, unknown> = {}) =>
  json(code, { error: { code, message, errors: [{ domain: 'global', reason, message, ...extra }] } });

const EVENT_ID = /^[a-v0-9]{5,1024}$/;

/** A real calendar date, YYYY-MM-DD. */
function calendarDate(value: unknown): number | null {
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(value)) return null;
  const time = Date.parse(`${value}T00:00:00Z`);
  return !Number.isNaN(time) && new Date(time).toISOString().slice(0, 10) === value ? time : null;
}

/** The time of an event's start or end ({date} or {dateTime}); a Google 400 when it has neither or a bad one. */
function eventTime(value: unknown, which: 'start' | 'end'): number | SandboxAnswer {
  if (!value || typeof value !== 'object') return googleError(400, `Missing ${which} time.`, 'required');
  const { date, dateTime } = value as { date?: unknown; dateTime?: unknown };
  const time = date !== undefined ? calendarDate(date) : typeof dateTime === 'string' ? Date.parse(dateTime) : null;
  if (time === null || Number.isNaN(time)) return googleError(400, `Invalid ${which} time.`, 'invalid');
  return time;
}

/**
 * Google Calendar API v3 (https://www.googleapis.com/calendar/v3): a calendar's events. Insert
 * (`POST /calendars/{calendarId}/events`, a client-chosen `id` allowed: one used before, even by a deleted
 * event, answers 409 duplicate), update (`PUT …/events/{eventId}`: 404 if none; it restores a deleted event),
 * get (a deleted one: `status: 'cancelled'`), delete (204; 410 if already deleted; 404 if it never existed),
 * list. An event's etag changes with every write (in the resource and the ETag header); an update or a delete
 * with `If-Match` answers 412 conditionNotMet unless it names the current one (`*`: any). Events need a start and an end (all-day `{date}` or `{dateTime}`), the end after the start. Every call
 * needs an access token from the token endpoint (401 otherwise).
 */
function googleCalendar(context: SandboxContext): SandboxService {
  const google = context.google;
  let sequence = 0;
  const etag = () => `"${Date.now()}${String(++sequence).padStart(6, '0')}"`;
  const notFound = () => googleError(404, 'Not Found', 'notFound');
  const conditionNotMet = () => googleError(412, 'Precondition Failed', 'conditionNotMet', { locationType: 'header', location: 'If-Match' });
  return {
    base: '/calendar/v3',
    credential: () => JSON.stringify(google.credentials()),
    failure: (status) =>
      status === 429
        ? json(429, { error: { code: 429, message: 'Rate Limit Exceeded', errors: [{ domain: 'usageLimits', reason: 'rateLimitExceeded', message: 'Rate Limit Exceeded' }] } })
        : googleError(status, status >= 500 ? 'Backend Error' : 'Error', status >= 500 ? 'backendError' : 'badRequest'),
    handle(request) {
      if (!google.valid(bearer(request.headers))) {
        return json(401, {
          error: {
            code: 401,
            message: 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
            errors: [{ message: 'Invalid Credentials', domain: 'global', reason: 'authError', location: 'Authorization', locationType: 'header' }],
            status: 'UNAUTHENTICATED',
          },
        });
      }
      const segments = request.path.split('/').slice(1);
      if (segments[0] !== 'calendars' || !segments[1] || segments[2] !== 'events' || segments.length > 4) return notFound();
      const calendarId = decodeURIComponent(segments[1]);
      const eventId = segments[3] === undefined ? null : decodeURIComponent(segments[3]);
      const calendar = google.calendar(calendarId);
      if (calendar.access === 'none') return notFound();
      const write = request.method !== 'GET';
      if (write && calendar.access !== 'writer') return googleError(403, 'You need to have writer access to this calendar.', 'requiredAccessLevel');

      if (eventId === null) {
        if (request.method === 'GET') {
          const showDeleted = request.query.get('showDeleted') === 'true';
          return json(200, { kind: 'calendar#events', summary: calendarId, items: [...calendar.events.values()].filter((e) => showDeleted || !e.deleted).map((e) => e.resource) });
        }
        if (request.method !== 'POST') return googleError(405, 'Method Not Allowed', 'httpMethodNotAllowed');
        const body = (request.body && typeof request.body === 'object' ? request.body : null) as Record<string, unknown> | null;
        if (!body) return googleError(400, 'Bad Request', 'badRequest');
        const id = body.id === undefined ? randomBytes(13).toString('hex') : body.id;
        if (typeof id !== 'string' || !EVENT_ID.test(id)) return googleError(400, 'Invalid resource id value.', 'invalid');
        if (calendar.events.has(id)) return googleError(409, 'The requested identifier already exists.', 'duplicate');
        const problem = eventProblem(body);
        if (problem) return problem;
        const now = new Date().toISOString();
        const resource = eventResource(calendarId, id, body, { created: now, updated: now, sequence: 0, etag: etag() });
        calendar.events.set(id, { resource, deleted: false });
        return json(200, resource, { ETag: resource.etag });
      }

      const stored = calendar.events.get(eventId);
      switch (request.method) {
        case 'GET':
          return stored ? json(200, stored.resource, { ETag: stored.resource.etag }) : notFound();
        case 'PUT': {
          if (!stored) return notFound();
          if (!ifMatches(request.headers['if-match'], stored.resource.etag)) return conditionNotMet();
          const body = (request.body && typeof request.body === 'object' ? request.body : null) as Record<string, unknown> | null;
          if (!body) return googleError(400, 'Bad Request', 'badRequest');
          const problem = eventProblem(body);
          if (problem) return problem;
          const resource = eventResource(calendarId, eventId, body, {
            created: stored.resource.created,
            updated: new Date().toISOString(),
            sequence: stored.resource.sequence + 1,
            etag: etag(),
          });
          // The whole resource is replaced: a deleted event comes back (its status is what the body says, confirmed by default).
          calendar.events.set(eventId, { resource, deleted: resource.status === 'cancelled' });
          return json(200, resource, { ETag: resource.etag });
        }
        case 'DELETE':
          if (!stored) return notFound();
          if (!ifMatches(request.headers['if-match'], stored.resource.etag)) return conditionNotMet();
          if (stored.deleted) return googleError(410, 'Resource has been deleted', 'deleted');
          stored.deleted = true;
          stored.resource = { ...stored.resource, status: 'cancelled', updated: new Date().toISOString(), etag: etag() };
          return { status: 204 };
        default:
          return googleError(405, 'Method Not Allowed', 'httpMethodNotAllowed');
      }
    },
  };
}

/** A write's If-Match against the event's etag: none, `*` or one of the listed etags passes. */
function ifMatches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return true;
  return header.split(',').some((tag) => tag.trim() === '*' || tag.trim() === etag);
}

function eventProblem(body: Record<string, unknown>): SandboxAnswer | null {
  const start = eventTime(body.start, 'start');
  if (typeof start !== 'number') return start;
  const end = eventTime(body.end, 'end');
  if (typeof end !== 'number') return end;
  if (end <= start) return googleError(400, 'The specified time range is empty.', 'timeRangeEmpty');
  if (body.summary !== undefined && typeof body.summary !== 'string') return googleError(400, 'Invalid value for: summary', 'invalid');
  if (body.description !== undefined && typeof body.description !== 'string') return googleError(400, 'Invalid value for: description', 'invalid');
  return null;
}

function eventResource(
  calendarId: string,
  id: string,
  body: Record<string, unknown>,
  meta: { created: string; updated: string; sequence: number; etag: string },
): Record<string, any> {
  const { id: _id, kind: _kind, etag: _etag, created: _created, updated: _updated, sequence: _sequence, htmlLink: _link, iCalUID: _uid, ...fields } = body;
  return {
    kind: 'calendar#event',
    etag: meta.etag,
    id,
    ...fields,
    status: fields.status === 'cancelled' || fields.status === 'tentative' ? fields.status : 'confirmed',
    htmlLink: `https://www.google.com/calendar/event?eid=${Buffer.from(`${id} ${calendarId}`).toString('base64url')}`,
    created: meta.created,
    updated: meta.updated,
    iCalUID: `${id}@google.com`,
    sequence: meta.sequence,
  };
}

// ---------------------------------------------------------------------------------------------------------
// The server

const SERVICES = { slack, sendgrid, github, googleCalendar, googleOAuth } satisfies Record<string, (context: SandboxContext) => SandboxService>;

export type SandboxServiceName = keyof typeof SERVICES;
export const SANDBOX_SERVICES = Object.keys(SERVICES) as SandboxServiceName[];

export interface Sandboxes {
  /** http://127.0.0.1:<port> */
  url: string;
  /** Each service's base URL (what replaces e.g. https://slack.com/api). */
  urls: Record<SandboxServiceName, string>;
  /** The credential each service accepts (Google's: a service account's JSON, clientEmail, privateKey, tokenUri). */
  credentials: Record<IntegrationName, string>;
  /**
   * For a function invoked in this process: each service's base URL and credential under the variables of
   * functions/integrations/services.ts (SLACK_API_URL, SLACK_BOT_TOKEN, …), and NOTIFICATION_FROM_EMAIL.
   */
  environment: Record<string, string>;
  /** The recorded calls, oldest first (all services when none is named). */
  calls(service?: SandboxServiceName): RecordedCall[];
  clearCalls(service?: SandboxServiceName): void;
  setFault(service: SandboxServiceName, fault: Fault): void;
  faults(): Record<SandboxServiceName, Fault>;
  /** The GitHub sandbox's repositories, issues and rate limit. */
  github: GithubSandbox;
  /** The Google Calendar sandbox's calendars and events, and the service account its token endpoint knows. */
  googleCalendar: CalendarSandbox;
  stop(): Promise<void>;
}

const FAULT_MODES: readonly FaultMode[] = ['ok', 'error', 'down', 'slow', 'rate-limit', 'lost'];

/** Checks a fault setting from outside (the control API); the reason it is not one, or null. */
export function faultProblem(fault: unknown): string | null {
  if (!fault || typeof fault !== 'object') return 'a fault is an object with a mode';
  const { mode, status, errorRate, latencyMs, retryAfterSeconds, methods, ...rest } = fault as Record<string, unknown>;
  if (!FAULT_MODES.includes(mode as FaultMode)) return `mode must be one of ${FAULT_MODES.join(', ')}`;
  if (Object.keys(rest).length) return `unknown fields: ${Object.keys(rest).join(', ')}`;
  if (status !== undefined && !(Number.isInteger(status) && (status as number) >= 400 && (status as number) <= 599)) return 'status must be an HTTP error status (400-599)';
  if (errorRate !== undefined && !(typeof errorRate === 'number' && errorRate >= 0 && errorRate <= 1)) return 'errorRate must be a number from 0 to 1';
  if (latencyMs !== undefined && !(typeof latencyMs === 'number' && latencyMs >= 0)) return 'latencyMs must be a number ≥ 0';
  if (retryAfterSeconds !== undefined && !(Number.isInteger(retryAfterSeconds) && (retryAfterSeconds as number) >= 0)) return 'retryAfterSeconds must be an integer ≥ 0';
  if (methods !== undefined && !(Array.isArray(methods) && methods.length > 0 && methods.every((m) => typeof m === 'string' && /^[A-Za-z]+$/.test(m)))) {
    return 'methods must be a non-empty list of HTTP methods';
  }
  return null;
}

/**
 * The sandbox server on 127.0.0.1 (`port` 0: a free one). Slack at `/slack/api`, SendGrid at `/sendgrid`, GitHub
 * at `/github`, Google Calendar at `/calendar/v3` and Google's token endpoint at `/oauth2/token`, and a control API:
 * - `GET /_sandbox/calls?service=`, `DELETE /_sandbox/calls`, `GET /_sandbox/faults`, `PUT /_sandbox/faults/{service}` with a Fault;
 * - `GET|POST /_sandbox/github/repos/{owner}/{repo}/issues` (every issue; create one: `{title, body?, state?,
 *   pull_request?: true, updated_at?}` → 201), `PATCH /_sandbox/github/repos/{owner}/{repo}/issues/{number}`
 *   (`{title?, body?, state?, updated_at?}`), `GET|PUT /_sandbox/github/rate-limit` (`{limit?, used?}`: a new hour);
 * - `GET /_sandbox/googleCalendar/calendars/{calendarId}/events` (deleted ones included),
 *   `PUT /_sandbox/googleCalendar/calendars/{calendarId}` (`{access: writer|reader|none}`).
 */
export async function startSandboxes(options: { port?: number } = {}): Promise<Sandboxes> {
  let url = '';
  const context: SandboxContext = { url: () => url, github: new GithubModel(), google: await GoogleModel.create(() => url) };
  const services = Object.fromEntries(Object.entries(SERVICES).map(([name, make]) => [name, make(context)])) as Record<SandboxServiceName, SandboxService>;
  const faults = Object.fromEntries(SANDBOX_SERVICES.map((name) => [name, { mode: 'ok' }])) as Record<SandboxServiceName, Fault>;
  let recorded: RecordedCall[] = [];
  const closing = new AbortController();

  const calls = (service?: SandboxServiceName) => recorded.filter((call) => !service || call.service === service).map((call) => ({ ...call }));
  const clearCalls = (service?: SandboxServiceName) => {
    recorded = service ? recorded.filter((call) => call.service !== service) : [];
  };
  const setFault = (service: SandboxServiceName, fault: Fault) => {
    if (!(service in services)) throw new Error(`No sandbox named ${service}`);
    const problem = faultProblem(fault);
    if (problem) throw new Error(problem);
    faults[service] = structuredClone(fault);
  };

  const server = createServer((req, res) => {
    void serve(req, res).catch((error: unknown) => {
      if (!res.headersSent && !res.destroyed) send(res, { status: 500, body: { message: (error as Error).message } });
      else res.destroy();
    });
  });

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sandbox');
    const method = req.method ?? 'GET';
    const raw = await readText(req);
    const headers = lowerCaseHeaders(req.headers);

    if (url.pathname.startsWith('/_sandbox/')) return control(res, method, url, raw);

    const entry = (Object.entries(services) as [SandboxServiceName, SandboxService][]).find(
      ([, service]) => url.pathname === service.base || url.pathname.startsWith(`${service.base}/`),
    );
    if (!entry) return send(res, { status: 404, body: { message: `No sandbox at ${url.pathname}` } });
    const [name, service] = entry;
    const request: SandboxRequest = { method, path: url.pathname.slice(service.base.length) || '/', query: url.searchParams, headers, body: parseBody(raw, headers['content-type']) };
    const call: RecordedCall = {
      service: name,
      method,
      path: request.path,
      query: Object.fromEntries(url.searchParams),
      headers,
      body: request.body,
      status: null,
      at: new Date().toISOString(),
    };
    recorded.push(call);

    const setting = faults[name];
    const fault = setting.methods && !setting.methods.some((m) => m.toUpperCase() === method) ? { mode: 'ok' as const } : setting;
    let answer: SandboxAnswer;
    switch (fault.mode) {
      case 'down':
        // As a dead host looks to a client: the connection drops with no answer.
        req.socket.destroy();
        return;
      case 'lost':
        // Done, but the answer never arrives.
        service.handle(request);
        req.socket.destroy();
        return;
      case 'rate-limit': {
        const retryAfter = fault.retryAfterSeconds ?? 1;
        const failure = service.failure(429);
        answer = { ...failure, headers: { ...failure.headers, 'Retry-After': String(retryAfter) } };
        break;
      }
      case 'error':
        answer = Math.random() < (fault.errorRate ?? 1) ? service.failure(fault.status ?? 503) : service.handle(request);
        break;
      case 'slow':
        await pause(fault.latencyMs ?? 30_000, closing.signal);
        if (res.destroyed || closing.signal.aborted) return;
        answer = service.handle(request);
        break;
      default:
        answer = service.handle(request);
    }
    call.status = answer.status;
    send(res, answer);
  }

  function control(res: ServerResponse, method: string, url: URL, raw: string): void {
    const known = (name: string | null): name is SandboxServiceName => name !== null && name in services;
    const body = (): { value: unknown } | null => {
      try {
        return { value: raw ? JSON.parse(raw) : {} };
      } catch {
        send(res, { status: 400, body: { message: 'The body must be JSON' } });
        return null;
      }
    };
    // The control surface's own errors (an unknown issue, a malformed setting): 400 with the reason.
    const attempt = (status: number, make: () => unknown) => {
      let value: unknown;
      try {
        value = make();
      } catch (error) {
        return send(res, { status: /^No /.test((error as Error).message) ? 404 : 400, body: { message: (error as Error).message } });
      }
      return send(res, { status, ...(value === undefined ? {} : { body: value }) });
    };

    if (url.pathname === '/_sandbox/calls') {
      const service = url.searchParams.get('service');
      if (service !== null && !known(service)) return send(res, { status: 404, body: { message: `No sandbox named ${service}` } });
      if (method === 'GET') return send(res, { status: 200, body: calls(service ?? undefined) });
      if (method === 'DELETE') {
        clearCalls(service ?? undefined);
        return send(res, { status: 204 });
      }
      return send(res, { status: 405, body: { message: 'GET or DELETE' } });
    }
    if (url.pathname === '/_sandbox/faults') {
      if (method === 'GET') return send(res, { status: 200, body: faults });
      return send(res, { status: 405, body: { message: 'GET' } });
    }
    if (url.pathname.startsWith('/_sandbox/faults/')) {
      const service = decodeURIComponent(url.pathname.slice('/_sandbox/faults/'.length));
      if (!known(service)) return send(res, { status: 404, body: { message: `No sandbox named ${service}` } });
      if (method === 'GET') return send(res, { status: 200, body: faults[service] });
      if (method !== 'PUT') return send(res, { status: 405, body: { message: 'GET or PUT' } });
      const fault = body();
      if (!fault) return;
      const problem = faultProblem(fault.value);
      if (problem) return send(res, { status: 400, body: { message: problem } });
      faults[service] = fault.value as Fault;
      return send(res, { status: 200, body: faults[service] });
    }

    const github = context.github;
    const issues = /^\/_sandbox\/github\/repos\/([^/]+)\/([^/]+)\/issues(?:\/(\d+))?$/.exec(url.pathname);
    if (issues) {
      const fullName = `${decodeURIComponent(issues[1]!)}/${decodeURIComponent(issues[2]!)}`;
      if (issues[3] === undefined) {
        if (method === 'GET') return send(res, { status: 200, body: github.issues(fullName) });
        if (method !== 'POST') return send(res, { status: 405, body: { message: 'GET or POST' } });
        const input = body();
        if (!input) return;
        const fields = (input.value ?? {}) as Record<string, any>;
        if (typeof fields.title !== 'string') return send(res, { status: 400, body: { message: 'title is required' } });
        return attempt(201, () =>
          github.createIssue(fullName, { title: fields.title, body: fields.body, state: fields.state, pullRequest: fields.pull_request === true, updatedAt: fields.updated_at }),
        );
      }
      if (method !== 'PATCH') return send(res, { status: 405, body: { message: 'PATCH' } });
      const input = body();
      if (!input) return;
      const fields = (input.value ?? {}) as Record<string, any>;
      return attempt(200, () =>
        github.updateIssue(fullName, Number(issues[3]), { title: fields.title, body: fields.body, state: fields.state, updatedAt: fields.updated_at }),
      );
    }
    if (url.pathname === '/_sandbox/github/rate-limit') {
      if (method === 'GET') return send(res, { status: 200, body: github.rateLimit() });
      if (method !== 'PUT') return send(res, { status: 405, body: { message: 'GET or PUT' } });
      const input = body();
      if (!input) return;
      const { limit, used } = (input.value ?? {}) as { limit?: number; used?: number };
      return attempt(200, () => {
        github.setRateLimit({ limit, used });
        return github.rateLimit();
      });
    }

    const google = context.google;
    const calendar = /^\/_sandbox\/googleCalendar\/calendars\/([^/]+)(\/events)?$/.exec(url.pathname);
    if (calendar) {
      const calendarId = decodeURIComponent(calendar[1]!);
      if (calendar[2]) {
        if (method !== 'GET') return send(res, { status: 405, body: { message: 'GET' } });
        return send(res, { status: 200, body: google.events(calendarId, { includeDeleted: true }) });
      }
      if (method !== 'PUT') return send(res, { status: 405, body: { message: 'PUT' } });
      const input = body();
      if (!input) return;
      return attempt(200, () => {
        const { access } = (input.value ?? {}) as { access?: CalendarAccess };
        google.setCalendarAccess(calendarId, access as CalendarAccess);
        return { calendarId, access };
      });
    }
    return send(res, { status: 404, body: { message: `No control endpoint at ${url.pathname}` } });
  }

  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', fail);
      done();
    });
  });
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const urls = Object.fromEntries(Object.entries(services).map(([name, service]) => [name, `${url}${service.base}`])) as Record<SandboxServiceName, string>;
  const credentials = Object.fromEntries(INTEGRATION_NAMES.map((name) => [name, services[name].credential!()])) as Record<IntegrationName, string>;
  const environment: Record<string, string> = {
    ...Object.fromEntries(
      INTEGRATION_NAMES.flatMap((name) => [
        [INTEGRATIONS[name].baseUrlVariable, urls[name]],
        [INTEGRATIONS[name].credentialVariable, credentials[name]],
      ]),
    ),
    NOTIFICATION_FROM_EMAIL: SANDBOX_CREDENTIALS.NOTIFICATION_FROM_EMAIL,
  };

  return {
    url,
    urls,
    credentials,
    environment,
    calls,
    clearCalls,
    setFault,
    faults: () => structuredClone(faults),
    github: context.github,
    googleCalendar: context.google,
    stop: () =>
      new Promise<void>((done) => {
        closing.abort();
        server.close(() => done());
        server.closeAllConnections();
      }),
  };
}

function lowerCaseHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers).flatMap(([name, value]) => (value === undefined ? [] : [[name.toLowerCase(), Array.isArray(value) ? value.join(', ') : value]])),
  );
}

function parseBody(raw: string, contentType = ''): unknown {
  if (!raw) return undefined;
  if (contentType.includes('json')) {
    try {
      return JSON.parse(raw);
    } catch {
      return raw;
    }
  }
  if (contentType.includes('application/x-www-form-urlencoded')) return Object.fromEntries(new URLSearchParams(raw));
  return raw;
}

async function readText(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function send(res: ServerResponse, answer: SandboxAnswer): void {
  if (res.destroyed) return;
  const payload = answer.body === undefined ? '' : typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
  res.writeHead(answer.status, {
    ...(answer.body !== undefined ? { 'Content-Type': 'application/json; charset=utf-8' } : {}),
    'Content-Length': Buffer.byteLength(payload),
    ...answer.headers,
  });
  res.end(payload);
}
