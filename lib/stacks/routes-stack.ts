import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { SYNTHETIC_OPERATIONS } from '../../functions/domain/synthetic-transaction';
import { taskflow } from '../app';
import { platformWith } from '../capabilities/capability';
import type { DeploymentMode } from '../constructs/deployment-config';
import { routeGroupGates } from '../constructs/deployment-gates';
import { Deployments } from '../constructs/deployments';
import { prepareForFaultInjection } from '../constructs/fault-injection';
import { TaskFlowFunction } from '../constructs/function';
import { functionId, type RouteDeclaration } from '../declaration';
import type { DataStack } from './data-stack';
import { ImportedData } from './imported-data';
import { SharedValues } from './shared-values';

export interface RoutesStackProps extends StackProps {
  readonly data: DataStack;
  /** Its short name in the shared values' names (`reads` → `/TaskFlow/reads/…`), and its route group. */
  readonly group: 'reads' | 'mutations';
  /** The routes whose functions it holds. */
  readonly routes: readonly RouteDeclaration[];
  /** How CodeDeploy moves each function's `live` alias to a new version. */
  readonly deployment: DeploymentMode;
  /** Its functions ready for the GameDays' fault injection (`-c faultInjection=true`). */
  readonly faultInjection: boolean;
  /** The synthetic transaction's functions: operationId → the SSM parameter holding its `live` alias ARN. */
  readonly syntheticFunctions: Readonly<Record<string, string>>;
}

// Construct ids unique across the stacks (the infrastructure tests read them as one template).
const pascal = (name: string) => name.charAt(0).toUpperCase() + name.slice(1);

const synthetic: ReadonlySet<string> = new Set(SYNTHETIC_OPERATIONS);

/**
 * The functions of one group of REST routes (reads, mutations): the route group is the unit of a code deploy, and of
 * its rollback, without the API Gateway resources, which the API stack holds and which integrate these functions by
 * the `live` alias ARNs shared here. Each function's new version takes traffic in steps (Deployments); those the
 * synthetic transaction calls are first run through it by the pre-traffic hook.
 */
export class RoutesStack extends Stack {
  /** Route functions by operationId. */
  readonly routeFunctions: ReadonlyMap<string, TaskFlowFunction>;
  readonly deployments: Deployments;
  /** The pre-traffic hook, where a route of the group is part of the synthetic transaction. */
  readonly preTrafficHook?: TaskFlowFunction;
  readonly shared: SharedValues;

  constructor(scope: Construct, id: string, props: RoutesStackProps) {
    super(scope, id, { description: `TaskFlow ${props.group}: the functions of the REST API's ${props.group}`, ...props });
    const data = new ImportedData(this, 'Data', props.data);
    this.shared = new SharedValues(this, taskflow.name, props.group);
    this.deployments = new Deployments(this, `${pascal(props.group)}Deployments`, { app: taskflow.name, mode: props.deployment });
    if (props.routes.some((route) => synthetic.has(route.operationId))) {
      this.preTrafficHook = new TaskFlowFunction(this, `${pascal(props.group)}PreTrafficHook`, {
        declaration: taskflow.functions.preTrafficHook,
        platform: platformWith(data, { syntheticFunctions: props.syntheticFunctions }),
      });
    }
    const gates = routeGroupGates(taskflow.slos, props.group);
    const routeFunctions = new Map<string, TaskFlowFunction>();
    for (const route of props.routes) {
      const fn = new TaskFlowFunction(this, functionId(route), { declaration: route.function, platform: data });
      const { alias } = this.deployments.live(fn, {
        gates,
        ...(this.preTrafficHook && synthetic.has(route.operationId) ? { preTrafficHook: this.preTrafficHook } : {}),
      });
      this.shared.share(this, `${route.operationId}-arn`, alias.functionArn, `the live alias of the function of ${route.method} ${route.path}`);
      routeFunctions.set(route.operationId, fn);
    }
    this.routeFunctions = routeFunctions;
    // `-c faultInjection=true` (staging): the FIS extension on these functions, for the GameDay experiments.
    if (props.faultInjection) prepareForFaultInjection(this, 'api');
  }
}
