import { Duration } from 'aws-cdk-lib';
import type { ICommandHooks } from 'aws-cdk-lib/aws-lambda-nodejs';
import { InvocationType, Trigger } from 'aws-cdk-lib/triggers';
import { Construct } from 'constructs';
import type { DatabaseAccess } from '../capabilities/capability';
import { DEFAULT_TIMEOUT_SECONDS, type FunctionDeclaration } from '../declaration';
import { TaskFlowFunction } from './function';

/** Where the SQL migrations live, relative to the repository root. */
export const MIGRATIONS_SOURCE = 'functions/db/migrations';

export interface MigrationsProps {
  /** The migrate function (`taskflow.functions.migrate`). */
  readonly declaration: FunctionDeclaration;
  readonly database: DatabaseAccess;
}

/** The migrator reads `new URL('./migrations/', import.meta.url)`: the SQL files go beside the bundle. */
export const copyMigrations: ICommandHooks = {
  beforeBundling: () => [],
  beforeInstall: () => [],
  afterBundling: (inputDir, outputDir) => [
    `mkdir -p "${outputDir}/migrations"`,
    `cp "${inputDir}/${MIGRATIONS_SOURCE}"/*.sql "${outputDir}/migrations/"`,
  ],
};

/**
 * Deploy-time schema migrations: a CDK trigger invokes the migrate function (synchronously; a failure fails the
 * deployment) whenever the function (its code or the bundled SQL files) changes. Its stack deploys after the data
 * stack and before every stack of functions, so new code meets the new schema only (lib/stacks/taskflow.ts).
 */
export class Migrations extends Construct {
  readonly function: TaskFlowFunction;
  readonly trigger: Trigger;

  constructor(scope: Construct, id: string, props: MigrationsProps) {
    super(scope, id);

    this.function = new TaskFlowFunction(this, 'Migrate', {
      declaration: props.declaration,
      platform: { database: props.database },
      commandHooks: copyMigrations,
    });

    const runFor = Duration.seconds(props.declaration.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS);
    this.trigger = new Trigger(this, 'Trigger', {
      handler: this.function,
      invocationType: InvocationType.REQUEST_RESPONSE,
      executeOnHandlerChange: true,
      // How long the trigger waits for the invocation: the function's own timeout plus a margin.
      timeout: runFor.plus(Duration.minutes(1)),
    });
  }
}
