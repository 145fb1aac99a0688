import { dynamoDbTable } from './dynamodb-table';

/** The connections table: the WebSocket connection registry, each organization's feed head and the clients' acknowledged positions. */
export const connections = dynamoDbTable('connections', 'connections', {
  summary: 'Reads and writes the connections table (CONNECTIONS_TABLE_NAME): the activity feed\'s registry',
  missing: 'the connections table',
  settings: ['FEED_CONNECTION_CAP', 'FEED_REPLAY_WINDOW'],
  grant: (table, fn) => table.grantReadWriteData(fn),
});
