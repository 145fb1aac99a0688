import { randomUUID } from 'node:crypto';
import { dynamoDb } from '../../functions/shared/dynamodb';
import { taskflow } from '../../lib/app';
import { createTable } from '../../lib/local/dynamodb';
import { tableNameVariable } from '../../functions/shared/resource-variables';

/**
 * A fresh integrations table for the calling test file, named in the environment: the files run at once and
 * open and close the same integrations' breakers. dynalite answers one call at a time, hence the breaker's
 * longer timeout.
 */
export async function ownIntegrationsTable(): Promise<string> {
  const table = `taskflow-integrations-${randomUUID().slice(0, 8)}`;
  const key = taskflow.tables.integrations.partitionKey;
  await createTable(dynamoDb(), {
    TableName: table,
    AttributeDefinitions: [{ AttributeName: key, AttributeType: 'S' }],
    KeySchema: [{ AttributeName: key, KeyType: 'HASH' }],
    BillingMode: 'PAY_PER_REQUEST',
  });
  Object.assign(process.env, { [tableNameVariable('integrations')]: table, BREAKER_TIMEOUT_MS: '10000' });
  return table;
}
