import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { tableNameVariable } from '../../functions/shared/resource-variables';
import { type CapabilityModule, type LocalServices, required, type TableName } from './capability';

/**
 * A capability that is one declared DynamoDB table: its name in `<TABLE>_TABLE_NAME` (the endpoint too, locally),
 * and the grant it needs on it.
 */
export function dynamoDbTable(
  table: TableName,
  capability: string,
  description: Pick<CapabilityModule, 'summary' | 'settings'> & {
    missing: string;
    grant(table: dynamodb.ITable, fn: lambda.Function, needs: ReadonlySet<string>): void;
    local?(dynamodb: LocalServices['dynamodb']): Record<string, string>;
  },
): CapabilityModule {
  return {
    summary: description.summary,
    ...(description.settings ? { settings: description.settings } : {}),
    aws(platform, needs) {
      const found = required(platform.tables?.[table], capability, description.missing);
      return {
        environment: { [tableNameVariable(table)]: found.tableName },
        grant: (fn) => description.grant(found, fn, needs),
      };
    },
    local: ({ dynamodb }) => ({
      AWS_ENDPOINT_URL_DYNAMODB: dynamodb.endpoint,
      [tableNameVariable(table)]: dynamodb.tableName(table),
      ...description.local?.(dynamodb),
    }),
  };
}
