import { registerConnection } from '../domain/feed-registry';
import { feedSettings } from '../shared/feed-settings';
import { logger } from '../shared/logger';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { metrics } from '../shared/metrics';
import { isRemoved } from '../shared/removed-members';
import { connectionHandler } from '../shared/websocket';

// Names a client (a tab, a device) for its acknowledged position.
const CLIENT_ID = /^[\w-]{1,64}$/;

/** $connect (the authorizer has verified the token): registers the connection, within the organization's cap. */
export const handler = connectionHandler(async (identity, event) => {
  const clientId = event.queryStringParameters?.clientId ?? 'default';
  if (!CLIENT_ID.test(clientId)) return { statusCode: 400, body: 'clientId must be 1 to 64 letters, digits, _ or -' };
  // A member an admin removed keeps a valid token until it expires: the handshake is refused (issue 17).
  if (await isRemoved(identity)) return { statusCode: 403, body: 'This member was removed from the organization' };
  const { connectionId } = event.requestContext;
  const outcome = await registerConnection(identity.orgId, { connectionId, userId: identity.userId, clientId }, feedSettings().connectionCap);
  if (outcome === 'over-cap') {
    logger.warn('connection refused: the organization is at its connection cap');
    metrics.addMetric('FeedConnectionsRefused', MetricUnit.Count, 1);
    metrics.publishStoredMetrics();
    return { statusCode: 429, body: 'Too many connections for this organization' };
  }
  logger.info('connected', { clientId });
  return { statusCode: 200 };
});
