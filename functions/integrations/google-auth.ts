import { createSign } from 'node:crypto';
import { secretValue } from '../shared/secrets';
import { logger } from '../shared/logger';
import type { Trace } from '../shared/trace';
import { call, IntegrationUnavailable, PermanentFailure, RETRY_POLICY, TransportError, type HttpAnswer, type SendOptions } from './http';
import { INTEGRATIONS } from './services';

// A Google service account's access token (OAuth 2.0 JWT-bearer grant, RFC 7523, as Google documents it for
// server-to-server calls): an RS256 JWT signed with the account's private key is exchanged at its token URI for
// a bearer token valid for an hour, kept until five minutes before it expires. node:crypto signs it (no library:
// the bundle budget). The token endpoint is a service of its own (oauth2.googleapis.com), so its failures are
// not the Calendar API's: they do not count on the Calendar circuit breaker.

/** Events on the calendars shared with the service account: read, write, delete. */
export const CALENDAR_EVENTS_SCOPE = 'https://www.googleapis.com/auth/calendar.events';

const GOOGLE_TOKEN_URI = 'https://oauth2.googleapis.com/token';
const ASSERTION_SECONDS = 3_600;
/** A token is used until this long before it expires. */
const REFRESH_MARGIN_MS = 5 * 60_000;
const TOKEN_ATTEMPTS = 3;

export interface ServiceAccount {
  clientEmail: string;
  /** PEM (PKCS#8, as in Google's key files). */
  privateKey: string;
  tokenUri: string;
}

/** Google refused the service account (a revoked key, a wrong e-mail, a scope not allowed): trying again cannot help. */
export class GoogleAuthRefused extends PermanentFailure {
  constructor(message: string) {
    super(message);
    this.name = 'GoogleAuthRefused';
  }
}

/**
 * The service account from its JSON: Google's own key file (`client_email`, `private_key`, `token_uri`) or the
 * local sandbox's (`clientEmail`, `privateKey`, `tokenUri`). Without a token URI, Google's.
 */
function parseServiceAccount(text: string): ServiceAccount {
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new GoogleAuthRefused('the Google service account credentials are not JSON');
  }
  const field = (...names: string[]) => names.map((name) => parsed?.[name]).find((value): value is string => typeof value === 'string' && value.length > 0);
  const clientEmail = field('clientEmail', 'client_email');
  const privateKey = field('privateKey', 'private_key');
  if (!clientEmail || !privateKey) throw new GoogleAuthRefused('the Google service account credentials need client_email and private_key');
  return { clientEmail, privateKey, tokenUri: field('tokenUri', 'token_uri') ?? GOOGLE_TOKEN_URI };
}

/** The JWT-bearer assertion: RS256 over `{iss, scope, aud: tokenUri, iat, exp}`, valid an hour from `now`. */
export function signedAssertion(account: ServiceAccount, scope: string, now = Date.now()): string {
  const iat = Math.floor(now / 1000);
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const input = `${encode({ alg: 'RS256', typ: 'JWT' })}.${encode({ iss: account.clientEmail, scope, aud: account.tokenUri, iat, exp: iat + ASSERTION_SECONDS })}`;
  let signature: string;
  try {
    signature = createSign('RSA-SHA256').update(input).sign(account.privateKey, 'base64url');
  } catch (error) {
    throw new GoogleAuthRefused(`the Google service account's private key cannot sign: ${(error as Error).message}`);
  }
  return `${input}.${signature}`;
}

interface Cached {
  token: string;
  /** Epoch ms after which it is not used (expiry less the margin). */
  usableUntil: number;
}

const tokens = new Map<string, Promise<Cached>>();

export interface TokenOptions extends SendOptions {
  trace: Trace;
  /** The scope to ask for (default: calendar events). */
  scope?: string;
}

/**
 * A bearer token for the service account in GOOGLE_CALENDAR_CREDENTIALS (the variable locally, else the secret
 * named by GOOGLE_CALENDAR_CREDENTIALS_SECRET_ARN), fetched once and reused by every call of this environment
 * until five minutes before it expires; concurrent callers share one fetch. Throws GoogleAuthRefused when Google
 * refuses the account (not worth retrying), IntegrationUnavailable when the token endpoint does not answer.
 */
export async function googleAccessToken(options: TokenOptions): Promise<string> {
  const account = parseServiceAccount(await secretValue('GOOGLE_CALENDAR_CREDENTIALS'));
  const scope = options.scope ?? CALENDAR_EVENTS_SCOPE;
  const key = `${account.clientEmail} ${account.tokenUri} ${scope}`;
  const cached = tokens.get(key);
  if (cached) {
    // Under way (its failure is this caller's too) or done.
    const value = await cached;
    if (value.usableUntil > Date.now()) return value.token;
    if (tokens.get(key) === cached) tokens.delete(key);
  }
  let pending = tokens.get(key);
  if (!pending) {
    const fetching = exchange(account, scope, options);
    // A failed fetch is not kept: the next caller tries again.
    fetching.catch(() => tokens.get(key) === fetching && tokens.delete(key));
    tokens.set(key, (pending = fetching));
  }
  return (await pending).token;
}

/** Forgets this environment's tokens: after a 401 (revoked or expired early), and in tests. */
export function forgetGoogleTokens(): void {
  tokens.clear();
}

async function exchange(account: ServiceAccount, scope: string, options: TokenOptions): Promise<Cached> {
  const deadline = Date.now() + (options.budgetMs ?? INTEGRATIONS.googleCalendar.timeouts.connectMs + INTEGRATIONS.googleCalendar.timeouts.readMs);
  const log = options.log ?? logger;
  let failure = '';
  for (let attempt = 1; attempt <= TOKEN_ATTEMPTS; attempt += 1) {
    const left = Math.max(deadline - Date.now(), RETRY_POLICY.minAttemptMs);
    const { connectMs, readMs } = INTEGRATIONS.googleCalendar.timeouts;
    let answer: HttpAnswer | null = null;
    try {
      answer = await call(account.tokenUri, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        // A fresh assertion each try: its iat is now.
        body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: signedAssertion(account, scope) }).toString(),
        trace: options.trace,
        timeouts: { connectMs: Math.min(connectMs, left), readMs: Math.min(readMs, left) },
      });
    } catch (error) {
      if (!(error instanceof TransportError)) throw error;
      failure = error.message;
    }
    if (answer) {
      const body = parseJson(answer.body);
      if (answer.status === 200) {
        const token = typeof body?.access_token === 'string' ? body.access_token : null;
        if (!token) throw new Error('Google token endpoint: an answer without access_token');
        const expiresIn = typeof body?.expires_in === 'number' ? body.expires_in : ASSERTION_SECONDS;
        return { token, usableUntil: Date.now() + expiresIn * 1000 - REFRESH_MARGIN_MS };
      }
      const reason = [body?.error, body?.error_description].filter((part) => typeof part === 'string').join(': ') || answer.body.slice(0, 200);
      if (answer.status < 500 && answer.status !== 429) throw new GoogleAuthRefused(`Google refused the service account ${account.clientEmail} (HTTP ${answer.status}): ${reason}`);
      failure = `HTTP ${answer.status} ${reason}`;
    }
    const wait = Math.ceil(Math.random() * RETRY_POLICY.baseDelayMs * 2 ** (attempt - 1));
    if (attempt === TOKEN_ATTEMPTS || Date.now() + wait + RETRY_POLICY.minAttemptMs > deadline) break;
    log.info('Google token endpoint failed; trying again', { attempt, reason: failure, waitMs: wait });
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
  throw new IntegrationUnavailable(`Google token endpoint: ${failure}`, null);
}

function parseJson(text: string): Record<string, unknown> | null {
  try {
    const value = JSON.parse(text) as unknown;
    return value && typeof value === 'object' ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
