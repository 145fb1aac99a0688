import { App } from 'aws-cdk-lib';
import type { CfnResource } from 'aws-cdk-lib';
import { beforeAll, describe, expect, it } from 'vitest';
import { SYNTHETIC_OPERATIONS } from '../../functions/domain/synthetic-transaction';
import { taskflow } from '../../lib/app';
import { deploymentMode } from '../../lib/constructs/deployment-config';
import { deploymentGateAlarmName } from '../../lib/slo/alarm-names';
import { TaskFlow } from '../../lib/stacks/taskflow';
import { logicalId, type Resource, resourcesOfType, routeFunctions, SYNTH_TIMEOUT_MS, type Synthesized, synthesizeTaskFlow } from './synth';

// Canary deploys (review M7): every function takes traffic through its live alias, which a CodeDeploy deployment
// group moves to a new version in steps, after the pre-traffic hook, rolling back on the new version's own alarms
// and the SLOs' fast-burn alarms; everything that invokes a function invokes the alias.

let synthesized: Synthesized;
let resources: Record<string, Resource>;

beforeAll(() => {
  synthesized = synthesizeTaskFlow();
  resources = synthesized.resources;
}, SYNTH_TIMEOUT_MS);

const ofType = (type: string) => resourcesOfType(resources, type);
const aliasOf = (functionLogicalId: string) =>
  ofType('AWS::Lambda::Alias').find(([, alias]) => alias.Properties.FunctionName.Ref === functionLogicalId);
const groupOf = (aliasId: string) => {
  const alias = resources[aliasId]!;
  const update = (alias as unknown as { UpdatePolicy: { CodeDeployLambdaAliasUpdate: { DeploymentGroupName: { Ref: string }; BeforeAllowTrafficHook?: unknown } } }).UpdatePolicy.CodeDeployLambdaAliasUpdate;
  return { group: resources[update.DeploymentGroupName.Ref]!, hook: update.BeforeAllowTrafficHook };
};
/**
 * Every TaskFlow function that takes traffic: all but the migrate function (run once by the deploy), the restore
 * validator (run by AWS Backup's weekly test, on a restored copy) and the hooks.
 */
const trafficFunctions = () =>
  ofType('AWS::Lambda::Function').filter(
    ([id, fn]) =>
      fn.Properties.Environment?.Variables?.POWERTOOLS_SERVICE_NAME && !/PreTrafficHook/.test(id) &&
      ![synthesized.stacks.schema.migrations.function, synthesized.stacks.operations.restoreTesting.validator].some((f) => id === logicalId(f)),
  );

describe('aliases and deployment groups', () => {
  it('puts every function behind a live alias on a retained version, with one deployment group per alias', () => {
    const functions = trafficFunctions();
    expect(functions.length).toBeGreaterThan(40);
    const groups = new Set<string>();
    for (const [id] of functions) {
      const alias = aliasOf(id);
      expect(alias, id).toBeDefined();
      expect(alias![1].Properties.Name).toBe('live');
      const version = resources[alias![1].Properties.FunctionVersion['Fn::GetAtt'][0]]!;
      expect(version.Type).toBe('AWS::Lambda::Version');
      expect(version.DeletionPolicy, `${id}: the previous version stays for a rollback`).toBe('Retain');
      const { group } = groupOf(alias![0]);
      expect(group.Type).toBe('AWS::CodeDeploy::DeploymentGroup');
      expect(group.Properties.DeploymentStyle).toEqual({ DeploymentType: 'BLUE_GREEN', DeploymentOption: 'WITH_TRAFFIC_CONTROL' });
      expect(group.Properties.AutoRollbackConfiguration).toEqual({ Enabled: true, Events: ['DEPLOYMENT_FAILURE', 'DEPLOYMENT_STOP_ON_REQUEST', 'DEPLOYMENT_STOP_ON_ALARM'] });
      groups.add(JSON.stringify(group));
    }
    expect(groups.size).toBe(functions.length);
  });

  it('shifts 5 % for 5 minutes, then the rest, by default; linear or all at once with -c deployment=', () => {
    const [, config] = ofType('AWS::CodeDeploy::DeploymentConfig')[0]!;
    expect(config.Properties.TrafficRoutingConfig).toEqual({ Type: 'TimeBasedCanary', TimeBasedCanary: { CanaryPercentage: 5, CanaryInterval: 5 } });
    for (const [, group] of ofType('AWS::CodeDeploy::DeploymentGroup')) expect(JSON.stringify(group.Properties.DeploymentConfigName)).toContain('Canary5Percent5Minutes');
    expect(deploymentMode(undefined)).toBe('canary');
    expect(() => deploymentMode('blue-green')).toThrow('-c deployment=blue-green: expected one of canary, linear, all-at-once');
  });

  it('all at once for a dev stack (-c deployment=all-at-once): no canary step, the hook and alarms still gate', () => {
    const app = new App({ context: { deployment: 'all-at-once', 'aws:cdk:bundling-stacks': [] } });
    const stacks = new TaskFlow(app);
    const group = stacks.mutations.deployments.functions.get(stacks.mutations.routeFunctions.get('updateTask')!)!.group;
    const resource = group.node.defaultChild as CfnResource;
    expect(stacks.mutations.resolve((resource as unknown as { deploymentConfigName: string }).deploymentConfigName)).toBe('CodeDeployDefault.LambdaAllAtOnce');
  });
});

describe('rollback triggers', () => {
  it('rolls back on the new version\'s errors above 1 % and p95 above 1.5 × the function\'s, scoped to that version', () => {
    const updateTask = routeFunctions(synthesized.stacks).get('updateTask')!;
    const [aliasId] = aliasOf(logicalId(updateTask))!;
    const { group } = groupOf(aliasId);
    const alarmNames = group.Properties.AlarmConfiguration.Alarms.map((alarm: { Name: unknown }) => alarm.Name);
    const own = alarmNames.filter((name: unknown) => typeof name !== 'string').map((name: { Ref: string }) => resources[name.Ref]!);
    expect(own).toHaveLength(2);
    const [errors, latency] = own;
    expect(errors.Properties).toMatchObject({ Threshold: 0.01, ComparisonOperator: 'GreaterThanThreshold', TreatMissingData: 'notBreaching', EvaluationPeriods: 3, DatapointsToAlarm: 2 });
    expect(latency.Properties).toMatchObject({ Threshold: 1.5, ComparisonOperator: 'GreaterThanThreshold' });
    const versionId = resources[aliasId]!.Properties.FunctionVersion['Fn::GetAtt'][0];
    for (const alarm of [errors, latency]) {
      const scoped = alarm.Properties.Metrics.filter((metric: { MetricStat?: unknown }) => metric.MetricStat);
      const newVersion = scoped.filter((metric: { MetricStat: { Metric: { Dimensions: { Name: string; Value: unknown }[] } } }) =>
        metric.MetricStat.Metric.Dimensions.some((dimension) => dimension.Name === 'ExecutedVersion' && JSON.stringify(dimension.Value) === JSON.stringify({ 'Fn::GetAtt': [versionId, 'Version'] })),
      );
      expect(newVersion.length).toBeGreaterThan(0);
    }
    // The alarms are updated to the new version before the alias moves (which starts the deployment).
    expect(resources[aliasId]!.DependsOn).toEqual(expect.arrayContaining([alarmNames[0].Ref, alarmNames[1].Ref]));
  });

  it('rolls back on the fast-burn alarms of the SLOs each function can burn, by the names the SLO alarms carry', () => {
    const names = (fn: { node: unknown }) => {
      const [aliasId] = aliasOf(logicalId(fn as never))!;
      return groupOf(aliasId).group.Properties.AlarmConfiguration.Alarms.map((alarm: { Name: unknown }) => alarm.Name).filter((name: unknown) => typeof name === 'string');
    };
    const slo = (name: string) => deploymentGateAlarmName(taskflow.name, name);
    const { stacks } = synthesized;
    expect(names(routeFunctions(stacks).get('getTask')!)).toEqual([slo('availability'), slo('readErrors'), slo('readLatency')]);
    expect(names(routeFunctions(stacks).get('updateTask')!)).toEqual([slo('availability'), slo('mutationErrors'), slo('mutationLatency')]);
    expect(names(stacks.feed.webSocket.routeFunctions.get('resume')!)).toEqual([slo('availability'), slo('feedErrors'), slo('feedLatency')]);
    expect(names(stacks.api.authorizerFunction)).toEqual([slo('availability')]);
    expect(names(stacks.workers.consumers.consumers.broadcast)).toEqual([slo('feedDelivery')]);
    expect(names(stacks.workers.consumers.consumers.feedFanout)).toEqual([slo('feedDelivery')]);
    expect(names(stacks.workers.consumers.consumers.email)).toEqual([slo('notificationDelivery')]);
    expect(names(stacks.workers.schedules.functions.outboxRelay)).toEqual([slo('outboxLag')]);
    expect(names(stacks.workers.consumers.consumers.github)).toEqual([]);
    expect(slo('availability')).toBe('TaskFlow-slo-availability-burn-fast-5m');
  });
});

describe('the pre-traffic hook', () => {
  it('gates each function the synthetic transaction calls, and may report to CodeDeploy', () => {
    const functions = routeFunctions(synthesized.stacks);
    for (const operationId of SYNTHETIC_OPERATIONS) {
      const [aliasId] = aliasOf(logicalId(functions.get(operationId)!))!;
      const { hook } = groupOf(aliasId);
      expect(JSON.stringify(hook), operationId).toMatch(/PreTrafficHook/);
    }
    const [, hookFn] = ofType('AWS::Lambda::Function').find(([id]) => id.startsWith('MutationsPreTrafficHook'))!;
    expect(JSON.parse(hookFn.Properties.Environment.Variables.SYNTHETIC_FUNCTIONS)).toMatchObject({ updateTask: '/TaskFlow/mutations/updateTask-arn', listActivity: '/TaskFlow/reads/listActivity-arn' });
    const policies = JSON.stringify(ofType('AWS::IAM::Policy').filter(([id]) => id.startsWith('MutationsPreTrafficHook')));
    for (const action of ['codedeploy:PutLifecycleEventHookExecutionStatus', 'codedeploy:GetDeployment', 'lambda:InvokeFunction', 'ssm:GetParameter']) expect(policies).toContain(action);
    // A function off the transaction's path has no hook: its alarms gate it.
    const [aliasId] = aliasOf(logicalId(functions.get('search')!))!;
    expect(groupOf(aliasId).hook).toBeUndefined();
  });
});

describe('the scheduled canary', () => {
  it('runs the synthetic transaction every 5 minutes (its live alias), alarmed on a failed run and on silence', () => {
    const { stacks } = synthesized;
    const canary = stacks.workers.schedules.functions.syntheticCanary;
    const rule = resources[logicalId(stacks.workers.schedules.rules.syntheticCanary)]!;
    expect(rule.Properties.ScheduleExpression).toBe('rate(5 minutes)');
    expect(rule.Properties.Targets[0].Arn).toEqual({ Ref: logicalId(stacks.workers.deployments.functions.get(canary)!.alias) });
    expect(resources[logicalId(canary)]!.Properties.Environment.Variables).toMatchObject({ API_URL: expect.anything(), FEED_PROBE_CREDENTIALS_SECRET_ARN: expect.anything() });
    const failures = resources[logicalId(stacks.operations.syntheticCanary.failuresAlarm)]!.Properties;
    expect(failures).toMatchObject({ MetricName: 'SyntheticTransactionFailures', Namespace: 'TaskFlow', Statistic: 'Sum', Period: 300, Threshold: 1, EvaluationPeriods: 1, TreatMissingData: 'notBreaching' });
    expect(failures.AlarmDescription).toContain('docs/runbooks/canary.md');
    const silent = resources[logicalId(stacks.operations.syntheticCanary.silentAlarm)]!.Properties;
    expect(silent).toMatchObject({ MetricName: 'SyntheticTransactionFailures', Statistic: 'SampleCount', ComparisonOperator: 'LessThanThreshold', EvaluationPeriods: 2, DatapointsToAlarm: 2, TreatMissingData: 'breaching' });
  });
});

describe('everything invokes the alias, never $LATEST', () => {
  const isAlias = (value: unknown) => {
    const text = JSON.stringify(value);
    return ofType('AWS::Lambda::Alias').some(([id]) => text.includes(`"${id}"`)) || /:live"?/.test(text);
  };

  it('API Gateway: every REST route and the authorizer; the WebSocket routes', () => {
    const integrations = ofType('AWS::ApiGateway::Method').filter(([, method]) => method.Properties.Integration?.Type === 'AWS_PROXY');
    expect(integrations).toHaveLength(taskflow.routes.length);
    for (const [id, method] of integrations) expect(isAlias(method.Properties.Integration.Uri), id).toBe(true);
    const [, authorizer] = ofType('AWS::ApiGateway::Authorizer')[0]!;
    expect(isAlias(authorizer.Properties.AuthorizerUri)).toBe(true);
    const wsIntegrations = ofType('AWS::ApiGatewayV2::Integration');
    expect(wsIntegrations).toHaveLength(taskflow.websocket.routes.length);
    for (const [id, integration] of wsIntegrations) expect(isAlias(integration.Properties.IntegrationUri), id).toBe(true);
    const [, wsAuthorizer] = ofType('AWS::ApiGatewayV2::Authorizer')[0]!;
    expect(isAlias(wsAuthorizer.Properties.AuthorizerUri)).toBe(true);
  });

  it('the queues\' event sources and the schedules\' rules; invoke permissions are on the alias', () => {
    const mappings = ofType('AWS::Lambda::EventSourceMapping');
    expect(mappings).toHaveLength(Object.keys(taskflow.queues).length);
    for (const [id, mapping] of mappings) expect(isAlias(mapping.Properties.FunctionName), id).toBe(true);
    // The restore validator has no alias (AWS Backup's weekly test invokes it, like the deploy the migrate function).
    const validator = logicalId(synthesized.stacks.operations.restoreTesting.validator);
    const notValidator = ([, resource]: [string, Resource]) => !JSON.stringify(resource.Properties).includes(`"${validator}"`);
    const rules = ofType('AWS::Events::Rule').filter(notValidator);
    expect(rules).toHaveLength(Object.keys(taskflow.schedules).length);
    for (const [id, rule] of rules) expect(isAlias(rule.Properties.Targets[0].Arn), id).toBe(true);
    for (const [id, config] of ofType('AWS::Lambda::EventInvokeConfig')) expect(isAlias(config.Properties.Qualifier), id).toBe(true);
    const permissions = ofType('AWS::Lambda::Permission').filter(([, permission]) => permission.Properties.Action === 'lambda:InvokeFunction').filter(notValidator);
    expect(permissions.length).toBeGreaterThan(0);
    for (const [id, permission] of permissions) expect(isAlias(permission.Properties.FunctionName), id).toBe(true);
  });
});
