import { removeConnection } from '../domain/feed-registry';
import { logger } from '../shared/logger';
import { connectionHandler } from '../shared/websocket';

/** $disconnect: best effort in API Gateway too; a connection it misses goes on its first failed post or at its expiry. */
export const handler = connectionHandler(async (identity, event) => {
  await removeConnection(identity.orgId, event.requestContext.connectionId);
  logger.info('disconnected', { status: event.requestContext.disconnectStatusCode, reason: event.requestContext.disconnectReason });
  return { statusCode: 200 };
});
