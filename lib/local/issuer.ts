import { randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import type { RequestListener } from 'node:http';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';

// The local stand-in for Auth0: an RS256 key kept in the data folder, so tokens minted by
// `npm run token` are accepted by a running `npm start` that uses the same folder.
export const LOCAL_ISSUER = 'https://taskflow.local/';
export const LOCAL_AUDIENCE = 'taskflow-api';

export interface TokenClaims {
  org: string;
  user: string;
  role?: 'member' | 'admin';
  email?: string;
  name?: string;
  /** jose time span, e.g. '12h'; default 12 h. */
  expiresIn?: string | number;
}

export interface LocalIssuer {
  jwks: { keys: JWK[] };
  mint(claims: TokenClaims): Promise<string>;
}

export async function localIssuer(dataDir: string): Promise<LocalIssuer> {
  const privateJwk = await loadOrCreateKey(join(dataDir, 'issuer-key.json'));
  const key = await importJWK(privateJwk, 'RS256');
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publicJwk } = privateJwk;
  return {
    jwks: { keys: [{ ...publicJwk, use: 'sig', alg: 'RS256' }] },
    mint: ({ org, user, role = 'member', email, name, expiresIn = '12h' }) =>
      new SignJWT({ org_id: org, role, ...(email ? { email } : {}), ...(name ? { name } : {}) })
        .setProtectedHeader({ alg: 'RS256', kid: privateJwk.kid!, typ: 'JWT' })
        .setIssuer(LOCAL_ISSUER)
        .setAudience(LOCAL_AUDIENCE)
        .setSubject(user)
        .setIssuedAt()
        .setExpirationTime(expiresIn)
        .sign(key),
  };
}

async function loadOrCreateKey(file: string): Promise<JWK> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as JWK;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: `local-${Date.now().toString(36)}` };
  await mkdir(join(file, '..'), { recursive: true });
  try {
    // `wx`: if another process created the key meanwhile, theirs wins and we read it.
    await writeFile(file, JSON.stringify(jwk), { flag: 'wx', mode: 0o600 });
    return jwk;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return JSON.parse(await readFile(file, 'utf8')) as JWK;
  }
}

/** An OAuth client-credentials application of the local issuer, and the identity its tokens carry. */
export interface LocalClient {
  clientId: string;
  clientSecret: string;
  claims: Omit<TokenClaims, 'expiresIn'>;
}

/** The feed probe's application (an Auth0 machine-to-machine application in AWS), with a secret made per start. */
export function feedProbeClient(): LocalClient {
  return { clientId: 'feed-probe', clientSecret: randomBytes(24).toString('base64url'), claims: { org: 'feed-probe', user: 'feed-probe@clients' } };
}

/**
 * `POST /oauth/token` with `grant_type: client_credentials` (JSON or form body), as Auth0 answers it: a
 * token for a known client and secret, else 401. Other requests go to `next`.
 */
export function tokenEndpoint(issuer: LocalIssuer, clients: readonly LocalClient[], next: RequestListener): RequestListener {
  return (req, res) => {
    if (req.method !== 'POST' || req.url?.split('?')[0] !== '/oauth/token') return next(req, res);
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      void answer(Buffer.concat(chunks).toString('utf8')).then(({ status, body }) => {
        res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
        res.end(JSON.stringify(body));
      });
    });
    async function answer(raw: string): Promise<{ status: number; body: object }> {
      let params: Record<string, unknown>;
      try {
        params = /^\s*\{/.test(raw) ? (JSON.parse(raw) as Record<string, unknown>) : Object.fromEntries(new URLSearchParams(raw));
      } catch {
        return { status: 400, body: { error: 'invalid_request' } };
      }
      if (params.grant_type !== 'client_credentials') return { status: 400, body: { error: 'unsupported_grant_type' } };
      const client = clients.find((candidate) => candidate.clientId === params.client_id);
      const secret = Buffer.from(String(params.client_secret ?? ''));
      if (!client || secret.length !== client.clientSecret.length || !timingSafeEqual(secret, Buffer.from(client.clientSecret))) {
        return { status: 401, body: { error: 'access_denied', error_description: 'Unauthorized' } };
      }
      return { status: 200, body: { access_token: await issuer.mint({ ...client.claims, expiresIn: '1h' }), token_type: 'Bearer', expires_in: 3600 } };
    }
  };
}
