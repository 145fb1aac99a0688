import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';

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

/**
 * Verifies RS256 bearer tokens (Auth0 in AWS, the local issuer locally). Keys are fetched from the
 * JWKS once and kept for 10 minutes; an unknown `kid` refetches at most every 30 s.
 */
export function createVerifier(config: VerifierConfig) {
  const keys: JWTVerifyGetKey = createRemoteJWKSet(new URL(config.jwksUrl), {
    cacheMaxAge: 10 * 60_000,
    cooldownDuration: 30_000,
    timeoutDuration: 5_000,
  });
  return async function verify(authorization: string | undefined): Promise<Identity> {
    const token = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1];
    if (!token) throw new Unauthorized('missing bearer token');
    try {
      const { payload } = await jwtVerify(token, keys, {
        issuer: config.issuer,
        audience: config.audience,
        algorithms: ['RS256'],
        requiredClaims: ['sub', 'exp'],
      });
      const orgId = payload.org_id;
      if (typeof orgId !== 'string' || orgId.length === 0 || orgId.length > 255 || !payload.sub || payload.sub.length > 255) {
        throw new Unauthorized('token has no usable org_id or sub');
      }
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
