import { dynamoDbTable } from './dynamodb-table';

/** The idempotency table: Powertools records of Idempotency-Keys (24 h) and of sent notifications (14 days). */
export const idempotency = dynamoDbTable('idempotency', 'idempotency', {
  summary: 'Reads and writes the idempotency table (IDEMPOTENCY_TABLE_NAME)',
  missing: 'the idempotency table',
  grant: (table, fn) => table.grantReadWriteData(fn),
});
