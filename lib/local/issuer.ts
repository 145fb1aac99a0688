import { mkdir, readFile, writeFile } from 'node:fs/promises';
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
