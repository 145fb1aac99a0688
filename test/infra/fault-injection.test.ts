import { type CfnElement, Stack } from 'aws-cdk-lib';
import { beforeAll, describe, expect, it } from 'vitest';
import { FAULT_INJECTION_CONTEXT, FAULT_TARGET_TAG, FIS_CONFIG_PREFIX, FIS_EXTENSION_LAYER_PARAMETER } from '../../lib/constructs/fault-injection';
import { TaskFlowFunction } from '../../lib/constructs/function';
import type { TaskFlow } from '../../lib/stacks/taskflow';
import { logicalId, OPTED_IN, type Resource, resourcesOfType, SYNTH_TIMEOUT_MS, synthesizeTaskFlow } from './synth';

// GameDays on AWS (review M5): FIS experiment templates in the operations stack, each stopped by real alarms, run by a
// role that may do only what they need; the FIS extension on the functions only with `-c faultInjection=true`.

let stacks: TaskFlow;
let resources: Record<string, Resource>;

beforeAll(() => {
  ({ stacks, resources } = synthesizeTaskFlow());
}, SYNTH_TIMEOUT_MS);

const templates = () => resourcesOfType(resources, 'AWS::FIS::ExperimentTemplate');
const cfnId = (element: CfnElement) => Stack.of(element).getLogicalId(element);
const template = (id: keyof TaskFlow['operations']['experiments']['templates']) => resources[cfnId(stacks.operations.experiments.templates[id])]!.Properties;
const actionIds = (props: Record<string, any>) => Object.values(props.Actions as Record<string, { ActionId: string }>).map((a) => a.ActionId).sort();

describe('the FIS experiment templates', () => {
  it('hold the API and worker Lambda faults, a database failover and DynamoDB cut off, with their parameters', () => {
    expect(templates()).toHaveLength(4);
    expect(actionIds(template('apiFaults'))).toEqual(['aws:lambda:invocation-add-delay', 'aws:lambda:invocation-error']);
    expect(actionIds(template('workerFaults'))).toEqual(['aws:lambda:invocation-add-delay', 'aws:lambda:invocation-error']);
    expect(template('apiFaults').Targets.ApiFunctions).toMatchObject({ ResourceType: 'aws:lambda:function', ResourceTags: { [FAULT_TARGET_TAG]: 'api' } });
    expect(template('workerFaults').Targets.WorkerFunctions).toMatchObject({ ResourceType: 'aws:lambda:function', ResourceTags: { [FAULT_TARGET_TAG]: 'workers' } });
    expect(template('apiFaults').Actions.Errors.Parameters).toMatchObject({ invocationPercentage: '5', preventExecution: 'true' });
    expect(template('databaseFailover').Actions.Failover).toMatchObject({ ActionId: 'aws:rds:reboot-db-instances', Parameters: { forceFailover: 'true' } });
    expect(template('databaseFailover').Targets.Database.ResourceType).toBe('aws:rds:db');
    expect(template('dynamoDbUnreachable').Actions.Disrupt).toMatchObject({ ActionId: 'aws:network:disrupt-connectivity', Parameters: { scope: 'dynamodb' } });
    // Every application subnet, each an ARN of a subnet the data stack shares.
    const subnets = template('dynamoDbUnreachable').Targets.Subnets.ResourceArns as unknown[];
    expect(subnets).toHaveLength(stacks.data.network.vpc.selectSubnets(stacks.data.network.applicationSubnets).subnetIds.length);
  });

  it('each stop on CloudWatch alarms that exist in the operations stack, and log to its log group', () => {
    const logGroup = logicalId(stacks.operations.experiments.logGroup);
    for (const [id, { Properties: props }] of templates()) {
      expect(props.StopConditions.length, id).toBeGreaterThan(0);
      for (const condition of props.StopConditions as { Source: string; Value: { 'Fn::GetAtt': [string, string] } }[]) {
        expect(condition.Source).toBe('aws:cloudwatch:alarm');
        const [alarm, attribute] = condition.Value['Fn::GetAtt'];
        expect(resources[alarm]?.Type, `${id} stops on ${alarm}`).toBe('AWS::CloudWatch::Alarm');
        expect(attribute).toBe('Arn');
      }
      expect(props.LogConfiguration.CloudWatchLogsConfiguration.LogGroupArn['Fn::GetAtt'][0]).toBe(logGroup);
    }
    // The Lambda faults stop on the API's fast burn, and the workers' on their dead letters.
    const names = (props: Record<string, any>) => props.StopConditions.map((c: any) => resources[c.Value['Fn::GetAtt'][0]]!.Properties.AlarmName);
    expect(names(template('apiFaults'))).toEqual(['TaskFlow-slo-availability-burn-fast-5m', 'TaskFlow-slo-mutationLatency-burn-fast-5m']);
    expect(template('workerFaults').StopConditions.map((c: any) => c.Value['Fn::GetAtt'][0])).toEqual(
      expect.arrayContaining(['notifications', 'slack', 'email'].map((queue) => logicalId(stacks.operations.deadLetters.alarms[queue as 'slack']))),
    );
  });

  it('are run by one role FIS assumes, which may write only the configuration prefix and reboot only the database', () => {
    const role = logicalId(stacks.operations.experiments.role);
    expect(resources[role]!.Properties.AssumeRolePolicyDocument.Statement[0].Principal).toEqual({ Service: 'fis.amazonaws.com' });
    for (const [, { Properties: props }] of templates()) expect(props.RoleArn).toEqual({ 'Fn::GetAtt': [role, 'Arn'] });
    const statements = Object.values(resources)
      .filter((r) => r.Type === 'AWS::IAM::Policy' && r.Properties.Roles.some((ref: any) => ref.Ref === role))
      .flatMap((r) => r.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[]);
    const actions = statements.flatMap((s) => [s.Action].flat());
    expect(actions.every((action) => !action.endsWith('*'))).toBe(true);
    const writes = statements.find((s) => [s.Action].flat().includes('s3:PutObject'))!;
    expect(JSON.stringify(writes.Resource)).toContain(`/${FIS_CONFIG_PREFIX}/*`);
    const reboot = statements.find((s) => [s.Action].flat().includes('rds:RebootDBInstance'))!;
    expect(JSON.stringify(reboot.Resource)).toContain(':db:');
  });
});

describe('the FIS extension on the functions', () => {
  const extended = (fn: Resource) => fn.Properties.Environment?.Variables?.AWS_LAMBDA_EXEC_WRAPPER === '/opt/aws-fis/bootstrap';
  const functions = (all: Record<string, Resource>) => Object.values(all).filter((r) => r.Type === 'AWS::Lambda::Function');

  it('is absent by default: production functions carry no layer of it, no variable, no tag', () => {
    expect(functions(resources).filter(extended)).toEqual([]);
    expect(JSON.stringify(functions(resources))).not.toContain(FAULT_TARGET_TAG);
  });

  it(`with -c ${FAULT_INJECTION_CONTEXT}=true: every API and worker function has the layer, its configuration and the tag the templates target`, () => {
    const opted = synthesizeTaskFlow(OPTED_IN);
    for (const [stack, group] of [[opted.stacks.reads, 'api'], [opted.stacks.mutations, 'api'], [opted.stacks.workers, 'workers']] as const) {
      const fns = stack.node.findAll().filter((c): c is TaskFlowFunction => c instanceof TaskFlowFunction);
      expect(fns.length).toBeGreaterThan(0);
      // The layer's ARN: AWS's public parameter for the region, resolved at deploy time.
      const parameters = opted.templates[stack.stackName]!.toJSON().Parameters as Record<string, { Default?: string }>;
      const layerParameter = Object.entries(parameters).find(([, p]) => p.Default === FIS_EXTENSION_LAYER_PARAMETER)?.[0];
      expect(layerParameter).toBeDefined();
      for (const fn of fns) {
        const props = opted.resources[logicalId(fn)]!.Properties;
        expect(props.Environment.Variables).toMatchObject({ AWS_LAMBDA_EXEC_WRAPPER: '/opt/aws-fis/bootstrap', AWS_FIS_POLL_MAX_WAIT_MILLISECONDS: '2000' });
        expect(JSON.stringify(props.Environment.Variables.AWS_FIS_CONFIGURATION_LOCATION)).toContain(`/${FIS_CONFIG_PREFIX}/`);
        expect(props.Layers).toContainEqual({ Ref: layerParameter });
        expect(props.Tags).toEqual(expect.arrayContaining([{ Key: FAULT_TARGET_TAG, Value: group }]));
      }
    }
  }, SYNTH_TIMEOUT_MS);
});
