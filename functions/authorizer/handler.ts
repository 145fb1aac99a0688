import type { APIGatewayAuthorizerResult, APIGatewayTokenAuthorizerEvent } from 'aws-lambda';
import { createVerifier, Unauthorized, verifierConfigFromEnv } from '../shared/auth';
import { logger } from '../shared/logger';

const verify = createVerifier(verifierConfigFromEnv());

/**
 * API Gateway TOKEN authorizer. A verified token is allowed on the whole API (the result is cached
 * per token); its identity reaches the handlers as the authorizer context. Anything else is a 401.
 */
export async function handler(event: APIGatewayTokenAuthorizerEvent): Promise<APIGatewayAuthorizerResult> {
  try {
    const identity = await verify(event.authorizationToken);
    const [arn, stage] = event.methodArn.split('/');
    return {
      principalId: identity.userId,
      policyDocument: {
        Version: '2012-10-17',
        Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: `${arn}/${stage}/*` }],
      },
      context: { ...identity },
    };
  } catch (error) {
    if (!(error instanceof Unauthorized)) logger.error('token verification failed unexpectedly', { error });
    else logger.info('token refused', { reason: error.message });
    // The exact message API Gateway turns into a 401.
    throw new Error('Unauthorized');
  }
}
