import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { pause } from './lambda';

// Local stand-ins for the third-party APIs TaskFlow calls (Slack, SendGrid): one HTTP server on loopback that
// answers like each API, records every call, and fails on demand. The local runtime points the functions at it
// through the same variables that name the real APIs in AWS; the tests use it the same way.

/** The credentials and sender the sandboxes accept (and the local runtime gives the functions). */
export const SANDBOX_CREDENTIALS = {
  SLACK_BOT_TOKEN: 'xoxb-local-sandbox',
  SENDGRID_API_KEY: 'SG.local-sandbox',
  NOTIFICATION_FROM_EMAIL: 'notifications@taskflow.local',
} as const;

/** Addresses at this domain have no Slack account (users.lookupByEmail answers users_not_found). */
export const NO_SLACK_DOMAIN = 'no-slack.example';
/** SendGrid refuses addresses at this domain (400). */
export const INVALID_EMAIL_DOMAIN = 'invalid.example';

export type FaultMode = 'ok' | 'error' | 'down' | 'slow' | 'rate-limit';

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
}

export interface RecordedCall {
  service: string;
  method: string;
  /** The path under the service's base URL, e.g. `/chat.postMessage` or `/v3/mail/send`. */
  path: string;
  /** Every request header, names lower-case. */
  headers: Record<string, string>;
  /** Parsed: JSON and form bodies as objects, anything else as text (undefined when empty). */
  body: unknown;
  /** The status answered; null while a slow answer is pending, and when the service was down (socket destroyed). */
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
  /** The variables the functions need to call it here, given the base URL. */
  environment(baseUrl: string): Record<string, string>;
  handle(request: SandboxRequest): SandboxAnswer;
  /** What it answers when told to fail with `status` (`error`) or to rate-limit (429). */
  failure(status: number): SandboxAnswer;
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
    environment: (baseUrl) => ({ SLACK_API_URL: baseUrl, SLACK_BOT_TOKEN: SANDBOX_CREDENTIALS.SLACK_BOT_TOKEN }),
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
    environment: (baseUrl) => ({
      SENDGRID_API_URL: baseUrl,
      SENDGRID_API_KEY: SANDBOX_CREDENTIALS.SENDGRID_API_KEY,
      NOTIFICATION_FROM_EMAIL: SANDBOX_CREDENTIALS.NOTIFICATION_FROM_EMAIL,
    }),
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

const SERVICES = { slack, sendgrid } satisfies Record<string, () => SandboxService>;

export type SandboxServiceName = keyof typeof SERVICES;
export const SANDBOX_SERVICES = Object.keys(SERVICES) as SandboxServiceName[];

export interface Sandboxes {
  /** http://127.0.0.1:<port> */
  url: string;
  /** Each service's base URL (what replaces e.g. https://slack.com/api). */
  urls: Record<SandboxServiceName, string>;
  /** SLACK_API_URL, SLACK_BOT_TOKEN, SENDGRID_API_URL, SENDGRID_API_KEY, NOTIFICATION_FROM_EMAIL. */
  environment: Record<string, string>;
  /** The recorded calls, oldest first (all services when none is named). */
  calls(service?: SandboxServiceName): RecordedCall[];
  clearCalls(service?: SandboxServiceName): void;
  setFault(service: SandboxServiceName, fault: Fault): void;
  faults(): Record<SandboxServiceName, Fault>;
  stop(): Promise<void>;
}

const FAULT_MODES: readonly FaultMode[] = ['ok', 'error', 'down', 'slow', 'rate-limit'];

/** Checks a fault setting from outside (the control API); the reason it is not one, or null. */
export function faultProblem(fault: unknown): string | null {
  if (!fault || typeof fault !== 'object') return 'a fault is an object with a mode';
  const { mode, status, errorRate, latencyMs, retryAfterSeconds, ...rest } = fault as Record<string, unknown>;
  if (!FAULT_MODES.includes(mode as FaultMode)) return `mode must be one of ${FAULT_MODES.join(', ')}`;
  if (Object.keys(rest).length) return `unknown fields: ${Object.keys(rest).join(', ')}`;
  if (status !== undefined && !(Number.isInteger(status) && (status as number) >= 400 && (status as number) <= 599)) return 'status must be an HTTP error status (400-599)';
  if (errorRate !== undefined && !(typeof errorRate === 'number' && errorRate >= 0 && errorRate <= 1)) return 'errorRate must be a number from 0 to 1';
  if (latencyMs !== undefined && !(typeof latencyMs === 'number' && latencyMs >= 0)) return 'latencyMs must be a number ≥ 0';
  if (retryAfterSeconds !== undefined && !(Number.isInteger(retryAfterSeconds) && (retryAfterSeconds as number) >= 0)) return 'retryAfterSeconds must be an integer ≥ 0';
  return null;
}

/**
 * The sandbox server on 127.0.0.1 (`port` 0: a free one). Slack at `/slack/api`, SendGrid at `/sendgrid`, and a
 * control API: `GET /_sandbox/calls?service=`, `DELETE /_sandbox/calls`, `GET /_sandbox/faults`,
 * `PUT /_sandbox/faults/{service}` with a Fault.
 */
export async function startSandboxes(options: { port?: number } = {}): Promise<Sandboxes> {
  const services = Object.fromEntries(Object.entries(SERVICES).map(([name, make]) => [name, make()])) as Record<SandboxServiceName, SandboxService>;
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
    faults[service] = { ...fault };
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

    if (url.pathname === '/_sandbox/calls' || url.pathname.startsWith('/_sandbox/faults')) return control(res, method, url, raw);

    const entry = (Object.entries(services) as [SandboxServiceName, SandboxService][]).find(
      ([, service]) => url.pathname === service.base || url.pathname.startsWith(`${service.base}/`),
    );
    if (!entry) return send(res, { status: 404, body: { message: `No sandbox at ${url.pathname}` } });
    const [name, service] = entry;
    const request: SandboxRequest = { method, path: url.pathname.slice(service.base.length) || '/', query: url.searchParams, headers, body: parseBody(raw, headers['content-type']) };
    const call: RecordedCall = { service: name, method, path: request.path, headers, body: request.body, status: null, at: new Date().toISOString() };
    recorded.push(call);

    const fault = faults[name];
    let answer: SandboxAnswer;
    switch (fault.mode) {
      case 'down':
        // As a dead host looks to a client: the connection drops with no answer.
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
    const service = decodeURIComponent(url.pathname.slice('/_sandbox/faults/'.length));
    if (!known(service)) return send(res, { status: 404, body: { message: `No sandbox named ${service}` } });
    if (method === 'GET') return send(res, { status: 200, body: faults[service] });
    if (method !== 'PUT') return send(res, { status: 405, body: { message: 'GET or PUT' } });
    let fault: unknown;
    try {
      fault = JSON.parse(raw);
    } catch {
      return send(res, { status: 400, body: { message: 'The body must be JSON' } });
    }
    const problem = faultProblem(fault);
    if (problem) return send(res, { status: 400, body: { message: problem } });
    faults[service] = fault as Fault;
    return send(res, { status: 200, body: faults[service] });
  }

  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', fail);
      done();
    });
  });
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const urls = Object.fromEntries(Object.entries(services).map(([name, service]) => [name, `${url}${service.base}`])) as Record<SandboxServiceName, string>;
  const environment = Object.assign({}, ...Object.entries(services).map(([name, service]) => service.environment(urls[name as SandboxServiceName])));

  return {
    url,
    urls,
    environment,
    calls,
    clearCalls,
    setFault,
    faults: () => structuredClone(faults),
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
