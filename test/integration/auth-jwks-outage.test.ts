import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  createVerifier,
  JWKS_MAX_AGE_MS,
  JWKS_RETRY_MS,
  JWKS_STALE_LIMIT_MS,
  Unauthorized,
  type VerifierConfig,
} from '../../functions/shared/auth';
import { logger } from '../../functions/shared/logger';
import { lambdaContext } from '../../lib/local/proxy-event';

// Review C4: an Auth0 (JWKS) outage. The authorizer keeps verifying with the keys it has (stale-while-error)
// for JWKS_STALE_LIMIT_MS, fetches at most every JWKS_RETRY_MS, and refuses — never crashes on — what it
// cannot verify. The JWKS is served over real HTTP on 127.0.0.1; the verifier's clock is injected.

const ISSUER = 'https://tenant.example.auth0.com/';
const AUDIENCE = 'taskflow-api';
const TIMEOUT_MS = 200;

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

async function signingKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
}

/** A JWKS endpoint that can fail: an HTTP 500, a hang past the timeout, invalid JSON, or not listening at all. */
class JwksEndpoint {
  mode: 'up' | 'http500' | 'hang' | 'badJson' = 'up';
  keys: JWK[] = [];
  hits = 0;
  private readonly hanging: ServerResponse[] = [];
  private readonly server = createServer((_req, res) => {
    this.hits++;
    if (this.mode === 'hang') return void this.hanging.push(res);
    if (this.mode === 'http500') return void res.writeHead(500).end('upstream error');
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(this.mode === 'badJson' ? '{"keys": [' : JSON.stringify({ keys: this.keys }));
  });
  private port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.port}/.well-known/jwks.json`;
  }

  /** Listens (again, on the same port after `stop`). */
  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** Stops listening: fetches get "connection refused". */
  async stop(): Promise<void> {
    for (const res of this.hanging.splice(0)) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

let t = Date.now();
const now = () => t;
const sec = (ms: number) => Math.floor(ms / 1000);

function mint(key: SigningKey, sub = 'user_1'): Promise<string> {
  return new SignJWT({ org_id: 'org_1' })
    .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'JWT' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject(sub)
    .setIssuedAt(sec(t))
    .setExpirationTime(sec(t) + 24 * 3600)
    .sign(key.privateKey);
}

let endpoint: JwksEndpoint;
let key1: SigningKey;
let key2: SigningKey;
let warn: ReturnType<typeof vi.spyOn>;
let error: ReturnType<typeof vi.spyOn>;

const config = (): VerifierConfig => ({ issuer: ISSUER, audience: AUDIENCE, jwksUrl: endpoint.url, roleClaim: 'role' });
const newVerifier = () => createVerifier(config(), { now, jwksTimeoutMs: TIMEOUT_MS });
const refreshFailures = (spy: ReturnType<typeof vi.spyOn>) => spy.mock.calls.filter(([message]: unknown[]) => message === 'JWKS refresh failed');

beforeAll(async () => {
  [key1, key2] = await Promise.all([signingKey('key-1'), signingKey('key-2')]);
});

beforeEach(async () => {
  t = Date.now();
  endpoint = new JwksEndpoint();
  endpoint.keys = [key1.jwk];
  await endpoint.start();
  warn = vi.spyOn(logger, 'warn');
  error = vi.spyOn(logger, 'error');
});

afterEach(async () => {
  vi.restoreAllMocks();
  await endpoint.stop().catch(() => undefined);
});

afterAll(() => vi.restoreAllMocks());

describe('the authorizer during a JWKS (Auth0) outage', () => {
  it('verifies while the JWKS is up, fetching it once per 10 minutes', async () => {
    const verify = newVerifier();
    const token = await mint(key1);
    await expect(verify(`Bearer ${token}`)).resolves.toMatchObject({ orgId: 'org_1', userId: 'user_1', role: 'member' });
    await Promise.all([verify(`Bearer ${token}`), verify(`Bearer ${token}`)]);
    t += JWKS_MAX_AGE_MS - 1;
    await verify(`Bearer ${token}`);
    expect(endpoint.hits).toBe(1);
    t += 1;
    await verify(`Bearer ${token}`);
    expect(endpoint.hits).toBe(2);
  });

  it('keeps verifying with the cached keys when refreshes fail (500, hang, bad JSON, refused), one attempt and one log line per 30 s', async () => {
    const verify = newVerifier();
    const token = await mint(key1);
    await verify(`Bearer ${token}`);

    endpoint.mode = 'http500';
    t += JWKS_MAX_AGE_MS;
    // Concurrent requests share one attempt.
    const identities = await Promise.all(Array.from({ length: 5 }, () => verify(`Bearer ${token}`)));
    expect(identities.every((identity) => identity.userId === 'user_1')).toBe(true);
    expect(endpoint.hits).toBe(2);
    expect(refreshFailures(warn)).toHaveLength(1);
    expect(refreshFailures(warn)[0]![1]).toMatchObject({ jwksUrl: endpoint.url, cachedKeys: 'in use' });

    // Within 30 s of the failed attempt: the cached keys, no fetch.
    t += JWKS_RETRY_MS - 1;
    for (let i = 0; i < 10; i++) await verify(`Bearer ${token}`);
    expect(endpoint.hits).toBe(2);
    expect(refreshFailures(warn)).toHaveLength(1);

    // A fetch that hangs past the timeout.
    t += 1;
    endpoint.mode = 'hang';
    const started = Date.now();
    await expect(verify(`Bearer ${token}`)).resolves.toMatchObject({ userId: 'user_1' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(TIMEOUT_MS - 20);
    expect(endpoint.hits).toBe(3);

    // Invalid JSON.
    t += JWKS_RETRY_MS;
    endpoint.mode = 'badJson';
    await expect(verify(`Bearer ${token}`)).resolves.toMatchObject({ userId: 'user_1' });
    expect(endpoint.hits).toBe(4);

    // Connection refused.
    t += JWKS_RETRY_MS;
    await endpoint.stop();
    await expect(verify(`Bearer ${token}`)).resolves.toMatchObject({ userId: 'user_1' });

    expect(refreshFailures(warn)).toHaveLength(4);
    expect(refreshFailures(error)).toHaveLength(0);
  });

  it('refuses tokens once the JWKS has failed for the stale limit, and picks up new keys when it recovers', async () => {
    expect(JWKS_STALE_LIMIT_MS).toBeGreaterThanOrEqual(60 * 60_000);
    const verify = newVerifier();
    const token = await mint(key1);
    await verify(`Bearer ${token}`);

    endpoint.mode = 'http500';
    t += JWKS_MAX_AGE_MS;
    const firstFailure = t;
    await verify(`Bearer ${token}`);

    t = firstFailure + JWKS_STALE_LIMIT_MS - 1;
    await expect(verify(`Bearer ${token}`)).resolves.toMatchObject({ userId: 'user_1' });
    const hits = endpoint.hits;

    t += 1;
    await expect(verify(`Bearer ${token}`)).rejects.toThrow(Unauthorized);
    await expect(verify(`Bearer ${token}`)).rejects.toThrow(/stale/);
    expect(endpoint.hits).toBe(hits); // still within 30 s of the last attempt
    t += JWKS_RETRY_MS;
    await expect(verify(`Bearer ${token}`)).rejects.toThrow(Unauthorized);
    expect(endpoint.hits).toBe(hits + 1);
    expect(refreshFailures(error)).toHaveLength(1);
    expect(refreshFailures(error)[0]![1]).toMatchObject({ cachedKeys: 'past the stale limit' });

    // Auth0 is back, with a rotated key published beside the old one.
    endpoint.mode = 'up';
    endpoint.keys = [key2.jwk, key1.jwk];
    t += JWKS_RETRY_MS;
    await expect(verify(`Bearer ${await mint(key2, 'user_2')}`)).resolves.toMatchObject({ userId: 'user_2' });
    await expect(verify(`Bearer ${token}`)).resolves.toMatchObject({ userId: 'user_1' });
    expect(endpoint.hits).toBe(hits + 2);
  });

  it('refuses an unknown kid while the JWKS is down, and refetches for one at most every 30 s', async () => {
    const verify = newVerifier();
    const known = await mint(key1);
    const unknown = await mint(key2, 'user_2');
    await verify(`Bearer ${known}`);
    // Right after a fetch, an unknown kid does not refetch.
    await expect(verify(`Bearer ${unknown}`)).rejects.toThrow(Unauthorized);
    expect(endpoint.hits).toBe(1);

    endpoint.mode = 'http500';
    t += JWKS_RETRY_MS;
    await expect(verify(`Bearer ${unknown}`)).rejects.toThrow(Unauthorized);
    expect(endpoint.hits).toBe(2);
    await expect(verify(`Bearer ${unknown}`)).rejects.toThrow(Unauthorized);
    expect(endpoint.hits).toBe(2);
    await expect(verify(`Bearer ${known}`)).resolves.toMatchObject({ userId: 'user_1' });

    // Stale keys: the known kid still verifies, the unknown one never does.
    t += JWKS_MAX_AGE_MS;
    await expect(verify(`Bearer ${known}`)).resolves.toMatchObject({ userId: 'user_1' });
    await expect(verify(`Bearer ${unknown}`)).rejects.toThrow(Unauthorized);
    expect(endpoint.hits).toBe(3);
    t += JWKS_RETRY_MS;
    await expect(verify(`Bearer ${unknown}`)).rejects.toThrow(Unauthorized);
    expect(endpoint.hits).toBe(4);

    // Back up without the new key: refetched (30 s later), still refused; then published: accepted.
    endpoint.mode = 'up';
    t += JWKS_RETRY_MS;
    await expect(verify(`Bearer ${unknown}`)).rejects.toThrow(Unauthorized);
    expect(endpoint.hits).toBe(5);
    endpoint.keys = [key1.jwk, key2.jwk];
    await expect(verify(`Bearer ${unknown}`)).rejects.toThrow(Unauthorized); // within 30 s
    expect(endpoint.hits).toBe(5);
    t += JWKS_RETRY_MS;
    await expect(verify(`Bearer ${unknown}`)).resolves.toMatchObject({ userId: 'user_2' });
    expect(endpoint.hits).toBe(6);
  });

  it('refuses (Unauthorized, not a crash) on a cold start while the JWKS is down, and recovers', async () => {
    const token = await mint(key1);
    endpoint.mode = 'hang';
    await expect(newVerifier()(`Bearer ${token}`)).rejects.toThrow(Unauthorized);

    await endpoint.stop();
    const verify = newVerifier();
    await expect(verify(`Bearer ${token}`)).rejects.toThrow(/no signing keys/);
    await expect(verify(`Bearer ${token}`)).rejects.toThrow(Unauthorized);
    expect(refreshFailures(error)).toHaveLength(2);
    expect(refreshFailures(error)[1]![1]).toMatchObject({ cachedKeys: 'none' });

    endpoint.mode = 'up';
    await endpoint.start();
    await expect(verify(`Bearer ${token}`)).rejects.toThrow(Unauthorized); // within 30 s of the attempt
    t += JWKS_RETRY_MS;
    await expect(verify(`Bearer ${token}`)).resolves.toMatchObject({ userId: 'user_1' });
  });

  it('the authorizer function answers Unauthorized (a 401) on a cold start while the JWKS is down', async () => {
    const token = await mint(key1);
    await endpoint.stop();
    const saved = { ...process.env };
    Object.assign(process.env, { AUTH_ISSUER: ISSUER, AUTH_AUDIENCE: AUDIENCE, AUTH_JWKS_URL: endpoint.url });
    try {
      vi.resetModules();
      const { handler } = await import('../../functions/authorizer/handler');
      const { logger: handlerLogger } = await import('../../functions/shared/logger');
      const unexpected = vi.spyOn(handlerLogger, 'error');
      const refused = vi.spyOn(handlerLogger, 'info');
      const event = { type: 'TOKEN' as const, authorizationToken: `Bearer ${token}`, methodArn: 'arn:aws:execute-api:eu-west-1:123456789012:api/prod/GET/projects' };
      await expect(handler(event, lambdaContext('Authorizer', 10_000))).rejects.toThrow(/^Unauthorized$/);
      expect(unexpected.mock.calls.map(([message]) => message)).toEqual(['JWKS refresh failed']);
      expect(refused).toHaveBeenCalledWith('token refused', { reason: expect.stringMatching(/no signing keys/) });
    } finally {
      process.env = saved;
      vi.resetModules();
    }
  });
});
