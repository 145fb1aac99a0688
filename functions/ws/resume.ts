import { replay } from '../domain/feed';
import { ackOf, connectionOf, headOf } from '../domain/feed-registry';
import { feedSettings } from '../shared/feed-settings';
import { errorFrame, webSocketHandler } from '../shared/websocket';
import { ResumeMessage } from './messages';

/**
 * Replays the subscription's events after `afterSeq` (else after this client's last ack, else from now)
 * from event_log: one frame, `more` saying whether to ask again (the client paces the replay).
 */
export const handler = webSocketHandler(ResumeMessage, async ({ identity, connectionId, message }) => {
  const connection = await connectionOf(identity.orgId, connectionId);
  if (!connection) return errorFrame('UNAVAILABLE', 'The connection is not registered; reconnect');
  if (connection.projectId === undefined) return errorFrame('BAD_REQUEST', 'Subscribe before resuming');
  let afterSeq = message.afterSeq ?? (await ackOf(identity.orgId, identity.userId, connection.clientId));
  // Neither a position nor an ack: from now, which the latest broadcast sequence number is, or the log's end.
  afterSeq ??= (await headOf(identity.orgId)) ?? Number.MAX_SAFE_INTEGER;
  const answer = await replay(identity.orgId, afterSeq, connection.projectId, feedSettings().replayWindow);
  // "From now" past the log's end: start at its end.
  if (answer.type === 'resync_required' && message.afterSeq === undefined && afterSeq > answer.headSeq) {
    return { type: 'replay', events: [], throughSeq: answer.headSeq, more: false };
  }
  return answer;
});
