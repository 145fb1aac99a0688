import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent, APIGatewayTokenAuthorizerEvent } from 'aws-lambda';
import { createVerifier, Unauthorized, verifierConfigFromEnv } from '../shared/auth';
import { lambdaHandler } from '../shared/handler';
import { logger } from '../shared/logger';

const verify = createVerifier(verifierConfigFromEnv());

/**
 * The API Gateway authorizer of both APIs: a TOKEN authorizer for REST (the Authorization header), and a
 * REQUEST authorizer for the WebSocket `$connect` (the `token` query parameter: browsers cannot set
 * headers on a WebSocket handshake). A verified token is allowed on the whole API (REST caches the result
 * per token); its identity reaches the handlers as the authorizer context. Anything else is a 401. A `$connect`'s lines
 * carry its request id (a TOKEN event has none).
 */
export const handler = lambdaHandler(authorize, (event) => (event.type === 'REQUEST' ? event.requestContext?.requestId : undefined));

async function authorize(event: APIGatewayTokenAuthorizerEvent | APIGatewayRequestAuthorizerEvent): Promise<APIGatewayAuthorizerResult> {
  try {
    const authorization = event.type === 'TOKEN' ? event.authorizationToken : `Bearer ${event.queryStringParameters?.token ?? ''}`;
    const identity = await verify(authorization);
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
