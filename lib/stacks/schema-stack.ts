import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { taskflow } from '../app';
import { Migrations } from '../constructs/migrations';
import type { DataStack } from './data-stack';
import { ImportedData } from './imported-data';

/**
 * The deploy-time migrations: the migrate function and the trigger that runs it. Deployed after the data stack and
 * before every stack of functions (they depend on it), so no function takes new code before the schema it needs is
 * there; a failing migration fails the deploy before any code changes.
 */
export class SchemaStack extends Stack {
  readonly migrations: Migrations;

  constructor(scope: Construct, id: string, props: StackProps & { readonly data: DataStack }) {
    super(scope, id, { description: 'TaskFlow schema: deploy-time PostgreSQL migrations, before any function takes new code', ...props });
    const data = new ImportedData(this, 'Data', props.data);
    this.migrations = new Migrations(this, 'Migrations', { declaration: taskflow.functions.migrate, database: data.database });
  }
}
