import { App, type Stack } from 'aws-cdk-lib';
import { SYNTHETIC_OPERATIONS } from '../../functions/domain/synthetic-transaction';
import { taskflow } from '../app';
import { deploymentMode } from '../constructs/deployment-config';
import { FAULT_INJECTION_CONTEXT } from '../constructs/fault-injection';
import type { RouteDeclaration } from '../declaration';
import { ApiStack } from './api-stack';
import { DataStack } from './data-stack';
import { FeedStack } from './feed-stack';
import { OperationsStack } from './operations-stack';
import { RoutesStack } from './routes-stack';
import { SchemaStack } from './schema-stack';
import { WorkersStack } from './workers-stack';

/**
 * TaskFlow on AWS, built from the one declaration (lib/app.ts) as stacks by lifecycle, in the order they deploy
 * (`cdk deploy --all` follows their dependencies):
 *
 *   data → schema → reads, mutations → api → feed → workers → operations
 *
 * The data stack holds what TaskFlow keeps and changes only when the data's shape does; the schema stack migrates the
 * database before any function takes new code; the function stacks are the unit of a code deploy; operations watches
 * them all. Stacks hand values on through SSM parameters, never exports (lib/stacks/shared-values.ts).
 * Environment-agnostic (no lookups): `cdk synth` works offline.
 */
export class TaskFlow {
  readonly data: DataStack;
  readonly schema: SchemaStack;
  readonly reads: RoutesStack;
  readonly mutations: RoutesStack;
  readonly api: ApiStack;
  readonly feed: FeedStack;
  readonly workers: WorkersStack;
  readonly operations: OperationsStack;

  constructor(app: App) {
    const name = (stack: string) => `${taskflow.name}-${stack}`;
    // `cdk deploy -c readReplica=true`: the weekly reports read from a replica; without it, from the primary.
    const readReplica = [true, 'true'].includes(app.node.tryGetContext('readReplica') as boolean | string);
    // `cdk deploy -c deployment=canary|linear|all-at-once`: how each function's new version takes traffic.
    const deployment = deploymentMode(app.node.tryGetContext('deployment'));
    // `cdk deploy -c backupCopyVaultArn=arn:aws:backup:<region>:<account>:backup-vault:<name>`: daily snapshots copied there.
    const backupCopyVaultArn = app.node.tryGetContext('backupCopyVaultArn') as string | undefined;
    // `cdk deploy -c faultInjection=true`: the API and worker functions can take the GameDays' injected faults.
    const faultInjection = [true, 'true'].includes(app.node.tryGetContext(FAULT_INJECTION_CONTEXT) as boolean | string);
    this.data = new DataStack(app, name('Data'), { readReplica, ...(backupCopyVaultArn ? { backupCopyVaultArn } : {}) });
    this.schema = new SchemaStack(app, name('Schema'), { data: this.data });
    const afterSchema = <S extends Stack>(stack: S) => {
      stack.addStackDependency(this.schema, 'new code only once the schema is migrated');
      return stack;
    };
    const routes: readonly RouteDeclaration[] = taskflow.routes;
    const groupOf = (route: RouteDeclaration) => (route.method === 'GET' ? 'reads' : 'mutations');
    // The pre-traffic hook reads these when it runs (not when it deploys: the two route groups deploy side by side).
    const syntheticFunctions = Object.fromEntries(
      routes
        .filter((route) => (SYNTHETIC_OPERATIONS as readonly string[]).includes(route.operationId))
        .map((route) => [route.operationId, `/${taskflow.name}/${groupOf(route)}/${route.operationId}-arn`]),
    );
    const routesStack = (group: 'reads' | 'mutations', stackName: string) =>
      afterSchema(new RoutesStack(app, name(stackName), { data: this.data, group, routes: routes.filter((route) => groupOf(route) === group), deployment, faultInjection, syntheticFunctions }));
    this.reads = routesStack('reads', 'Reads');
    this.mutations = routesStack('mutations', 'Mutations');
    this.api = new ApiStack(app, name('Api'), { routeGroups: [this.reads, this.mutations], deployment });
    this.feed = afterSchema(new FeedStack(app, name('Feed'), { data: this.data, api: this.api, deployment }));
    this.workers = afterSchema(new WorkersStack(app, name('Workers'), { data: this.data, api: this.api, feed: this.feed, deployment, faultInjection }));
    this.operations = new OperationsStack(app, name('Operations'), { data: this.data, workers: this.workers });
    for (const stack of this.stacks) if (stack !== this.operations) this.operations.addStackDependency(stack, 'watches every stack');
  }

  /** Every stack, in deploy order. */
  get stacks(): Stack[] {
    return [this.data, this.schema, this.reads, this.mutations, this.api, this.feed, this.workers, this.operations];
  }
}
