import { Duration } from 'aws-cdk-lib';
import * as codedeploy from 'aws-cdk-lib/aws-codedeploy';
import type { Construct } from 'constructs';

/**
 * How CodeDeploy shifts a function's `live` alias to its new version (`cdk deploy -c deployment=…`):
 *
 * - `canary` (the default): 5 % of the traffic for 5 minutes, then 100 %. The review asks 5 %, 50 %, 100 %, a few
 *   minutes each; CodeDeploy's time-based canary has exactly two steps and its linear shift equal ones, so neither
 *   gives three unequal steps. The canary keeps what matters: a bad version meets 5 % of the requests while its
 *   rollback alarms (errors, p95, fast-burn SLOs) gather evidence, and the pre-traffic hook has already run the
 *   synthetic transaction against it. A 50 % step would add a second wait without a second check.
 * - `linear`: 10 % more every minute (10 steps): the 5 % step's exposure is exceeded after the first minute, but the
 *   alarms see a growing share for 10 minutes; for a change whose failure shows only under load.
 * - `all-at-once`: the whole traffic at once, after the pre-traffic hook (dev stacks, where waiting buys nothing).
 */
export const DEPLOYMENT_MODES = ['canary', 'linear', 'all-at-once'] as const;
export type DeploymentMode = (typeof DEPLOYMENT_MODES)[number];

/** The canary step: its share and how long it lasts before the rest moves. */
export const CANARY_STEP = { percentage: 5, minutes: 5 } as const;

/** The `deployment` context value, checked: absent is `canary`. */
export function deploymentMode(value: unknown): DeploymentMode {
  if (value === undefined) return 'canary';
  if (!DEPLOYMENT_MODES.includes(value as DeploymentMode)) {
    throw new Error(`-c deployment=${String(value)}: expected one of ${DEPLOYMENT_MODES.join(', ')}`);
  }
  return value as DeploymentMode;
}

/** The CodeDeploy configuration of `mode`, made in `scope` (a stack) when it is a custom one. */
export function lambdaDeploymentConfig(scope: Construct, mode: DeploymentMode): codedeploy.ILambdaDeploymentConfig {
  switch (mode) {
    case 'canary':
      return new codedeploy.LambdaDeploymentConfig(scope, 'Canary5Percent5Minutes', {
        trafficRouting: codedeploy.TrafficRouting.timeBasedCanary({
          percentage: CANARY_STEP.percentage,
          interval: Duration.minutes(CANARY_STEP.minutes),
        }),
      });
    case 'linear':
      return codedeploy.LambdaDeploymentConfig.LINEAR_10PERCENT_EVERY_1MINUTE;
    case 'all-at-once':
      return codedeploy.LambdaDeploymentConfig.ALL_AT_ONCE;
  }
}
