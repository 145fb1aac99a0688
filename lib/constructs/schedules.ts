import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import type { Platform } from '../capabilities/capability';
import type { ScheduleDeclaration } from '../declaration';
import { TaskFlowFunction } from './function';

export interface SchedulesProps<ScheduleName extends string> {
  /** The declared schedules (`taskflow.schedules`). */
  readonly schedules: Readonly<Record<ScheduleName, ScheduleDeclaration>>;
  /** What their functions need (the feed probe: the WebSocket API and the REST API's URL). */
  readonly platform: Platform;
  /** The alias a schedule's function takes its traffic through (its `live` alias, deployed in steps). */
  readonly live: (name: ScheduleName, fn: TaskFlowFunction) => lambda.IFunction;
}

/** `outboxRelay` → `OutboxRelay`: the construct id prefix of a declared schedule. */
export function scheduleId(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1);
}

/**
 * The declared schedules: each function runs at its fixed rate from an EventBridge rule.
 *
 * An EventBridge rule rather than EventBridge Scheduler: a plain rate needs none of what Scheduler adds
 * (time zones, one-off times, flexible windows), and the rule invokes through the function's resource
 * policy, with no role to create. No retries anywhere (neither EventBridge's delivery nor Lambda's
 * asynchronous retries, and a trigger older than one period is dropped): the next run comes one period
 * later and does the same work, while a retry would only add a run on top of it.
 */
export class Schedules<ScheduleName extends string = string> extends Construct {
  readonly functions: Readonly<Record<ScheduleName, TaskFlowFunction>>;
  readonly rules: Readonly<Record<ScheduleName, events.Rule>>;

  constructor(scope: Construct, id: string, props: SchedulesProps<ScheduleName>) {
    super(scope, id);

    const functions = {} as Record<ScheduleName, TaskFlowFunction>;
    const rules = {} as Record<ScheduleName, events.Rule>;
    for (const [name, declaration] of Object.entries(props.schedules) as [ScheduleName, ScheduleDeclaration][]) {
      const prefix = scheduleId(name);
      const fn = new TaskFlowFunction(this, prefix, { declaration: declaration.function, platform: props.platform });
      // The next run comes on the rate; an event older than one period (at most Lambda's 6 h) is dropped.
      // The rule invokes the alias, never $LATEST; its asynchronous settings are the alias's.
      const alias = props.live(name, fn);
      alias.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: Duration.minutes(Math.min(declaration.everyMinutes, 360)) });
      rules[name] = new events.Rule(this, `${prefix}Schedule`, {
        description: `${declaration.description} (every ${declaration.everyMinutes} min)`,
        schedule: events.Schedule.rate(Duration.minutes(declaration.everyMinutes)),
        targets: [new targets.LambdaFunction(alias, { retryAttempts: 0 })],
      });
      functions[name] = fn;
    }
    this.functions = functions;
    this.rules = rules;
  }
}
