import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { taskflow } from '../app';
import { TaskFlowFunction } from '../constructs/function';
import { functionId, type RouteDeclaration } from '../declaration';
import type { DataStack } from './data-stack';
import { ImportedData } from './imported-data';
import { SharedValues } from './shared-values';

export interface RoutesStackProps extends StackProps {
  readonly data: DataStack;
  /** Its short name in the shared values' names (`reads` → `/TaskFlow/reads/…`). */
  readonly group: string;
  /** The routes whose functions it holds. */
  readonly routes: readonly RouteDeclaration[];
}

/**
 * The functions of one group of REST routes (reads, mutations): the route group is the unit of a code deploy, and of
 * its rollback, without the API Gateway resources, which the API stack holds and which integrate these functions by
 * the ARNs shared here.
 */
export class RoutesStack extends Stack {
  /** Route functions by operationId. */
  readonly routeFunctions: ReadonlyMap<string, TaskFlowFunction>;
  readonly shared: SharedValues;

  constructor(scope: Construct, id: string, props: RoutesStackProps) {
    super(scope, id, { description: `TaskFlow ${props.group}: the functions of the REST API's ${props.group}`, ...props });
    const data = new ImportedData(this, 'Data', props.data);
    this.shared = new SharedValues(this, taskflow.name, props.group);
    const routeFunctions = new Map<string, TaskFlowFunction>();
    for (const route of props.routes) {
      const fn = new TaskFlowFunction(this, functionId(route), { declaration: route.function, platform: data });
      this.shared.share(this, `${route.operationId}-arn`, fn.functionArn, `the function of ${route.method} ${route.path}`);
      routeFunctions.set(route.operationId, fn);
    }
    this.routeFunctions = routeFunctions;
  }
}
