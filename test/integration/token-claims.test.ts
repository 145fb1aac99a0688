import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVerifier, Unauthorized } from '../../functions/shared/auth';

// Issue 13: the claims that name the caller (`sub`, `org_id`, `email`) end up in rows, S3 keys, messages and logs.
// A token whose claims are not clean text is a malformed token: 401, never a 500 later (encodeURIComponent) nor a
// caller stored in some altered form (two `org_id`s differing by a lone surrogate were one organization).

const ISSUER = 'https://tenant.example.auth0.com/';
const AUDIENCE = 'taskflow-api';

let privateKey: CryptoKey;
const server = createServer();
let verify: ReturnType<typeof createVerifier>;

beforeAll(async () => {
  const pair = await generateKeyPair('RS256');
  privateKey = pair.privateKey;
  const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }] });
  server.on('request', (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(jwks));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
  verify = createVerifier({ issuer: ISSUER, audience: AUDIENCE, jwksUrl, roleClaim: 'role' });
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

// jose writes the claims with JSON.stringify: a lone surrogate travels as its `\ud800` escape, as an issuer could send it.
const mint = (claims: JWTPayload) =>
  new SignJWT({ org_id: 'org_1', ...claims })
    .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject((claims.sub as string | undefined) ?? 'user_1')
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(privateKey);

describe('token claims', () => {
  it.each([
    ['a lone surrogate in sub', { sub: 'user\ud800' }],
    ['a lone surrogate in org_id', { org_id: 'acme\udc00' }],
    ['a lone surrogate in email', { email: 'ann\ud800@example.com' }],
    ['a NUL in sub', { sub: 'user\u0000' }],
    ['a NUL in org_id', { org_id: 'acme\u0000' }],
    ['a control character in org_id', { org_id: 'acme\u001b[31m' }],
    ['a line break in email', { email: 'ann@example.com\nBcc: eve@example.com' }],
    ['a C1 control character in sub', { sub: 'user\u0085' }],
    ['a lone surrogate in name', { name: 'Ann\ud800' }],
  ])('refuses %s (401)', async (_, claims) => {
    await expect(verify(`Bearer ${await mint(claims)}`)).rejects.toBeInstanceOf(Unauthorized);
  });

  it('accepts any well-formed text, surrogate pairs included', async () => {
    const token = await mint({ sub: 'auth0|ünïcode-😀', org_id: 'org_日本', email: 'ann@exämple.com', name: 'Ann\tLee 🚀' });
    await expect(verify(`Bearer ${token}`)).resolves.toEqual({
      orgId: 'org_日本',
      userId: 'auth0|ünïcode-😀',
      role: 'member',
      email: 'ann@exämple.com',
      name: 'Ann\tLee 🚀',
    });
  });
});
