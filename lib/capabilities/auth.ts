import { type CapabilityModule, required } from './capability';

/**
 * Verifies bearer JWTs (the authorizer): whose tokens it accepts (AUTH_ISSUER, AUTH_AUDIENCE), where their signing keys
 * are (AUTH_JWKS_URL; unset, the issuer's /.well-known/jwks.json) and which claim holds the caller's role. In AWS the API
 * stack's parameters (Auth0), locally the local issuer. Out of the VPC: it fetches the issuer's JWKS from the internet.
 */
export const auth: CapabilityModule = {
  summary: 'Whose bearer JWTs to accept (AUTH_ISSUER, AUTH_AUDIENCE, AUTH_JWKS_URL, AUTH_ROLE_CLAIM); out of the VPC',
  network: 'internet',
  internetBecause: 'it fetches the issuer\'s signing keys (JWKS) from the internet, and the VPC has no route to it (no NAT)',
  aws(platform) {
    const config = required(platform.auth, 'auth', 'the authorizer settings');
    return {
      environment: {
        AUTH_ISSUER: config.issuer,
        AUTH_AUDIENCE: config.audience,
        AUTH_ROLE_CLAIM: config.roleClaim,
        ...(config.jwksUrl === undefined ? {} : { AUTH_JWKS_URL: config.jwksUrl }),
      },
    };
  },
  local: ({ auth: issuer }) => ({ AUTH_ISSUER: issuer.issuer, AUTH_AUDIENCE: issuer.audience, AUTH_JWKS_URL: issuer.jwksUrl }),
};
