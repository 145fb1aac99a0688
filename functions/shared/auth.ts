import { createLocalJWKSet, errors, jwtVerify, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { logger } from './logger';
import { isCleanText } from './unicode';

/** The identity a verified token carries; the authorizer hands it to every handler. */
export interface Identity {
  orgId: string;
  userId: string;
  role: 'member' | 'admin';
  email?: string;
  name?: string;
}

export class Unauthorized extends Error {}

export interface VerifierConfig {
  issuer: string;
  audience: string;
  jwksUrl: string;
  roleClaim: string;
}

export function verifierConfigFromEnv(env = process.env): VerifierConfig {
  const issuer = env.AUTH_ISSUER;
  const audience = env.AUTH_AUDIENCE;
  if (!issuer || !audience) throw new Error('AUTH_ISSUER and AUTH_AUDIENCE must be set');
  return {
    issuer,
    audience,
    jwksUrl: env.AUTH_JWKS_URL || new URL('.well-known/jwks.json', issuer.endsWith('/') ? issuer : `${issuer}/`).href,
    roleClaim: env.AUTH_ROLE_CLAIM || 'role',
  };
}

/** Keys fetched from the JWKS are refreshed after this long (jose's default). */
export const JWKS_MAX_AGE_MS = 10 * 60_000;
/**
 * At most one JWKS fetch per this long, whatever triggers it (keys past their age, a refresh that failed, an
 * unknown `kid`): a down endpoint is not hit on every request.
 */
export const JWKS_RETRY_MS = 30_000;
/** A JWKS fetch (response and body) that takes longer has failed. */
export const JWKS_TIMEOUT_MS = 5_000;
/**
 * How long the last good keys keep verifying tokens once the JWKS cannot be fetched, counted from the first
 * failed fetch. The review asks for at least 5 minutes; an hour of Auth0 outage should not log every user
 * out, and signing keys rotate rarely, so keys an hour old are almost always still the issuer's. (A key
 * revoked in Auth0 is dropped by the first fetch that succeeds.) Past it, or for a `kid` the cached keys
 * do not have, tokens are refused. See docs/runbooks/auth0-outage.md.
 */
export const JWKS_STALE_LIMIT_MS = 60 * 60_000;

/** Seams for tests; production uses neither. */
export interface VerifierOptions {
  /** The clock (ms since the epoch) of the key cache and of the token's exp/nbf checks; default `Date.now`. */
  now?: () => number;
  /** The JWKS fetch timeout; default JWKS_TIMEOUT_MS. */
  jwksTimeoutMs?: number;
}

/**
 * Verifies RS256 bearer tokens (Auth0 in AWS, the local issuer locally) against the issuer's JWKS, kept
 * in memory by the function instance (see `cachedRemoteJwks`: refreshed every 10 minutes, and used stale
 * for up to an hour while the JWKS endpoint is down).
 */
export function createVerifier(config: VerifierConfig, options: VerifierOptions = {}) {
  const now = options.now ?? Date.now;
  const keys = cachedRemoteJwks(config.jwksUrl, now, options.jwksTimeoutMs ?? JWKS_TIMEOUT_MS);
  return async function verify(authorization: string | undefined): Promise<Identity> {
    const token = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1];
    if (!token) throw new Unauthorized('missing bearer token');
    try {
      const { payload } = await jwtVerify(token, keys, {
        issuer: config.issuer,
        audience: config.audience,
        algorithms: ['RS256'],
        requiredClaims: ['sub', 'exp'],
        currentDate: new Date(now()),
      });
      const orgId = payload.org_id;
      if (!isIdentifier(orgId) || !isIdentifier(payload.sub)) throw new Unauthorized('token has no usable org_id or sub');
      // They name the caller in storage, S3 keys, messages and logs: a lone surrogate, a control character or a NUL
      // there is a malformed token, not something to store in some altered form.
      if (typeof payload.email === 'string' && !isCleanText(payload.email)) throw new Unauthorized('token has a malformed email');
      if (typeof payload.name === 'string' && !payload.name.isWellFormed()) throw new Unauthorized('token has a malformed name');
      return {
        orgId,
        userId: payload.sub,
        role: payload[config.roleClaim] === 'admin' ? 'admin' : 'member',
        ...(typeof payload.email === 'string' ? { email: payload.email } : {}),
        ...(typeof payload.name === 'string' ? { name: payload.name } : {}),
      };
    } catch (error) {
      if (error instanceof Unauthorized) throw error;
      throw new Unauthorized((error as Error).message);
    }
  };
}

/** A usable `sub` or `org_id`: 1–255 characters of well-formed Unicode, no control characters. */
const isIdentifier = (value: unknown): value is string => typeof value === 'string' && value.length > 0 && value.length <= 255 && isCleanText(value);

/**
 * The issuer's signing keys, stale-while-error. jose 6's `createRemoteJWKSet` has no such mode: once its
 * cache is older than `cacheMaxAge` it must refetch before answering, a failed refetch fails the token, and
 * it tries again on every request (its cooldown only spaces unknown-`kid` refetches after a success). So
 * this holder fetches the JWKS itself and leaves key selection to jose's `createLocalJWKSet`:
 * - keys older than JWKS_MAX_AGE_MS are refetched before use;
 * - an unknown `kid` (a key rotation) refetches, and is refused if the new set does not have it either;
 * - at most one fetch per JWKS_RETRY_MS, whatever its trigger, and concurrent callers share it;
 * - a failed fetch (network, timeout, non-200, not a JWKS) is logged once and keeps the last good keys,
 *   usable until JWKS_STALE_LIMIT_MS after the first failure; never fetched (a cold start during an
 *   outage) or past that limit, every token is refused. Errors thrown here become 401s in `verify`.
 */
function cachedRemoteJwks(url: string, now: () => number, timeoutMs: number): JWTVerifyGetKey {
  let local: ReturnType<typeof createLocalJWKSet> | undefined;
  let fetchedAt = -Infinity;
  let attemptedAt = -Infinity;
  /** Start of the current run of failed fetches; undefined while the last fetch succeeded. */
  let failingSince: number | undefined;
  let pending: Promise<boolean> | undefined;

  const usable = (at: number) => at < fetchedAt + JWKS_MAX_AGE_MS || (failingSince !== undefined && at < failingSince + JWKS_STALE_LIMIT_MS);

  const attempt = async (started: number): Promise<boolean> => {
    try {
      local = createLocalJWKSet(await fetchJwks(url, timeoutMs)); // a malformed set throws: a failure like any other
      fetchedAt = now();
      if (failingSince !== undefined) logger.info('JWKS refresh recovered', { jwksUrl: url, failingForMs: fetchedAt - failingSince });
      failingSince = undefined;
      return true;
    } catch (error) {
      failingSince ??= started;
      const inUse = local !== undefined && usable(now());
      const details = {
        jwksUrl: url,
        error,
        cachedKeys: local === undefined ? 'none' : inUse ? 'in use' : 'past the stale limit',
        ...(inUse ? { cachedKeysUsableUntil: new Date(failingSince + JWKS_STALE_LIMIT_MS).toISOString() } : {}),
        nextAttemptInMs: JWKS_RETRY_MS,
      };
      // A warning while the cached keys carry on; an error once tokens are refused for it.
      if (inUse) logger.warn('JWKS refresh failed', details);
      else logger.error('JWKS refresh failed', details);
      return false;
    }
  };

  /** Fetches the JWKS, unless a fetch ran less than JWKS_RETRY_MS ago; true when the keys were replaced. */
  const refresh = (): Promise<boolean> => {
    if (pending) return pending;
    const started = now();
    if (started < attemptedAt + JWKS_RETRY_MS) return Promise.resolve(false);
    attemptedAt = started;
    const current: Promise<boolean> = (pending = attempt(started).finally(() => {
      if (pending === current) pending = undefined;
    }));
    return current;
  };

  const keysFor = () => {
    if (!local) throw new errors.JWKSNoMatchingKey('no signing keys: the JWKS could not be fetched');
    if (!usable(now())) throw new errors.JWKSNoMatchingKey('signing keys too stale: the JWKS could not be refreshed');
    return local;
  };

  return async (protectedHeader, token) => {
    if (!(now() < fetchedAt + JWKS_MAX_AGE_MS)) await refresh();
    try {
      return await keysFor()(protectedHeader, token);
    } catch (error) {
      // A kid we do not have: perhaps a rotation. Never answered from stale keys.
      if (error instanceof errors.JWKSNoMatchingKey && local && (await refresh())) return keysFor()(protectedHeader, token);
      throw error;
    }
  };
}

async function fetchJwks(url: string, timeoutMs: number): Promise<JSONWebKeySet> {
  const signal = AbortSignal.timeout(timeoutMs);
  const response = await fetch(url, { signal, redirect: 'manual', headers: { accept: 'application/json, application/jwk-set+json' } });
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => undefined);
    throw new Error(`JWKS endpoint answered HTTP ${response.status}`);
  }
  return (await response.json()) as JSONWebKeySet;
}
