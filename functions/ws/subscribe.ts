import { subscribe } from '../domain/feed-registry';
import { errorFrame, webSocketHandler } from '../shared/websocket';
import { SubscribeMessage } from './messages';

/**
 * Subscribes the connection to its organization's events, or one project's. Another organization's
 * project id subscribes to nothing: fan-out only ever reads the caller's organization.
 */
export const handler = webSocketHandler(SubscribeMessage, async ({ identity, connectionId, message }) => {
  const projectId = message.projectId ?? null;
  if (!(await subscribe(identity.orgId, connectionId, projectId))) return errorFrame('UNAVAILABLE', 'The connection is not registered; reconnect');
  return { type: 'subscribed', projectId };
});
