import { errorFrame, webSocketHandler } from '../shared/websocket';
import { AnyMessage } from './messages';

const ACTIONS = ['subscribe', 'resume', 'ack', 'ping'];

/** A message naming no action there is. */
export const handler = webSocketHandler(AnyMessage, async () =>
  errorFrame('UNKNOWN_ACTION', `A message is a JSON object whose "action" is one of ${ACTIONS.join(', ')}`),
);
