import { App, type CfnResource, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { TaskFlowStack } from '../../lib/stacks/taskflow-stack';
import { cdkJsonContext, SYNTH_TIMEOUT_MS, synthesizeTaskFlow } from './synth';

// GitHub and Google Calendar sync and the weekly reports as deployed (issue 6): the workers that call the services
// out of the VPC with only their own credential, the database side in it, the schedules, the reports' prefix, and
// the read replica when one is asked for.

type Resource = { Type: string; Properties: Record<string, any> };
type Statement = { Effect: string; Action: string | string[]; Resource: unknown };

let stack: TaskFlowStack;
let resources: Record<string, Resource>;

beforeAll(() => {
  const synthesized = synthesizeTaskFlow();
  stack = synthesized.stack;
  resources = synthesized.template.toJSON().Resources as Record<string, Resource>;
}, SYNTH_TIMEOUT_MS);

const logicalIdIn = (of: TaskFlowStack, construct: IConstruct) => of.getLogicalId(construct.node.defaultChild as CfnResource);
const logicalId = (construct: IConstruct) => logicalIdIn(stack, construct);
const ref = (id: string) => ({ Ref: id });
const propsOf = (construct: IConstruct) => resources[logicalId(construct)]!.Properties;
const envOf = (construct: IConstruct) => propsOf(construct).Environment.Variables as Record<string, unknown>;
const statementsIn = (all: Record<string, Resource>, of: TaskFlowStack, fn: IConstruct): Statement[] => {
  const role = all[logicalIdIn(of, fn)]!.Properties.Role['Fn::GetAtt'][0];
  return Object.values(all)
    .filter((r) => r.Type === 'AWS::IAM::Policy' && r.Properties.Roles.some((x: { Ref: string }) => x.Ref === role))
    .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
};
const actionsOn = (fn: IConstruct, resourceId: string) =>
  statementsIn(resources, stack, fn)
    .filter((s) => s.Effect === 'Allow' && JSON.stringify(s.Resource).includes(`"${resourceId}"`))
    .flatMap((s) => s.Action);
const mappingOf = (fn: IConstruct) =>
  Object.values(resources).find((r) => r.Type === 'AWS::Lambda::EventSourceMapping' && r.Properties.FunctionName.Ref === logicalId(fn))!.Properties;

describe('sync workers', () => {
  it.each([
    ['github', 'GITHUB_API_URL', 'https://api.github.com', 'GITHUB_TOKEN_SECRET_ARN', 'githubToken'],
    ['googleCalendar', 'GOOGLE_CALENDAR_API_URL', 'https://www.googleapis.com/calendar/v3', 'GOOGLE_CALENDAR_CREDENTIALS_SECRET_ARN', 'googleCalendarCredentials'],
  ] as const)('%s: out of the VPC (it calls the service), one run per invocation, 2 at a time, with only its own credential', (queue, urlVariable, url, secretVariable, secret) => {
    const consumer = stack.queues.consumers[queue];
    expect(propsOf(consumer).VpcConfig).toBeUndefined();
    expect(envOf(consumer)).toMatchObject({
      [urlVariable]: url,
      [secretVariable]: ref(logicalId(stack.integrations[secret])),
      SYNCRESULTS_QUEUE_URL: ref(logicalId(stack.queues.queues.syncResults)),
    });
    expect(envOf(consumer).DB_HOST).toBeUndefined();
    expect(mappingOf(consumer)).toMatchObject({ BatchSize: 1, ScalingConfig: { MaximumConcurrency: 2 } });
    expect(actionsOn(consumer, logicalId(stack.integrations[secret]))).toContain('secretsmanager:GetSecretValue');
    for (const other of ['slackBotToken', 'sendgridApiKey', 'githubToken', 'googleCalendarCredentials'] as const) {
      if (other !== secret) expect(actionsOn(consumer, logicalId(stack.integrations[other])), other).toEqual([]);
    }
    // It records its breaker's outcomes.
    expect(actionsOn(consumer, logicalId(stack.storage.tables.integrations))).toContain('dynamodb:UpdateItem');
    expect(actionsOn(consumer, logicalId(stack.queues.queues.syncResults))).toContain('sqs:SendMessage');
  });

  it('writes the results from the VPC, and may publish the imported tasks\' events', () => {
    const consumer = stack.queues.consumers.syncResults;
    expect(propsOf(consumer).VpcConfig.SecurityGroupIds).toEqual([{ 'Fn::GetAtt': [logicalId(stack.database.proxyClients), 'GroupId'] }]);
    expect(Object.keys(envOf(consumer)).filter((name) => name.endsWith('_SECRET_ARN'))).toEqual([]);
    for (const queue of ['notifications', 'broadcast'] as const) {
      expect(actionsOn(consumer, logicalId(stack.queues.queues[queue]))).toContain('sqs:SendMessage');
    }
  });

  it('dispatches the due runs every 5 minutes from the VPC to the github and googleCalendar queues only', () => {
    const dispatcher = stack.schedules.functions.integrationSync;
    expect(propsOf(dispatcher).VpcConfig).toBeDefined();
    const rule = Object.values(resources).find(
      (r) => r.Type === 'AWS::Events::Rule' && JSON.stringify(r.Properties.Targets).includes(`"${logicalId(dispatcher)}"`),
    )!;
    expect(rule.Properties.ScheduleExpression).toBe('rate(5 minutes)');
    for (const queue of ['github', 'googleCalendar'] as const) {
      expect(actionsOn(dispatcher, logicalId(stack.queues.queues[queue]))).toContain('sqs:SendMessage');
    }
    expect(actionsOn(dispatcher, logicalId(stack.queues.queues.syncResults))).toEqual([]);
  });

  it('outputs the ARNs of the GitHub token and Google key secrets for the operator to fill; no credential is in the template', () => {
    for (const secret of [stack.integrations.githubToken, stack.integrations.googleCalendarCredentials]) {
      expect(propsOf(secret).SecretString).toBeUndefined();
    }
  });
});

describe('weekly reports', () => {
  it('runs daily (each project once a week), writes under reports/ only, e-mails through the email queue, and reads the primary without a replica', () => {
    const reports = stack.schedules.functions.weeklyReport;
    const rule = Object.values(resources).find(
      (r) => r.Type === 'AWS::Events::Rule' && JSON.stringify(r.Properties.Targets).includes(`"${logicalId(reports)}"`),
    )!;
    expect(rule.Properties.ScheduleExpression).toBe('rate(1 day)');
    expect(envOf(reports).FILES_BUCKET_NAME).toEqual(ref(logicalId(stack.filesBucket)));
    const bucketStatements = statementsIn(resources, stack, reports).filter((s) => JSON.stringify(s.Resource).includes(logicalId(stack.filesBucket)));
    expect(bucketStatements.length).toBeGreaterThan(0);
    for (const statement of bucketStatements) expect(JSON.stringify(statement.Resource)).toContain('/reports/*');
    expect(actionsOn(reports, logicalId(stack.queues.queues.email))).toContain('sqs:SendMessage');
    expect(bucketStatements.flatMap((s) => s.Action)).toContain('s3:PutObject');
    // The list route only signs download links.
    const list = stack.api.routeFunctions.get('listReports')!;
    const listStatements = statementsIn(resources, stack, list).filter((s) => JSON.stringify(s.Resource).includes(logicalId(stack.filesBucket)));
    expect(listStatements.flatMap((s) => s.Action)).toContain('s3:GetObject*');
    expect(listStatements.flatMap((s) => s.Action)).not.toContain('s3:PutObject');
    expect(envOf(reports).DB_READ_HOST).toBeUndefined();
    expect(Object.values(resources).filter((r) => r.Type === 'AWS::RDS::DBInstance')).toHaveLength(1);
  });

  it('reads from a read replica with `-c readReplica=true`: DB_READ_HOST, IAM connect to it as the reader role, reachable from the functions, nag-clean', () => {
    const app = new App({ context: { ...cdkJsonContext(), readReplica: 'true' } });
    const withReplica = new TaskFlowStack(app, 'TaskFlow');
    // As bin/cdk.ts: an unacknowledged AwsSolutions error makes the synthesis throw.
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    const assembly = app.synth();
    const all = Template.fromJSON(assembly.getStackArtifact(withReplica.artifactId).template as Record<string, unknown>).toJSON().Resources as Record<string, Resource>;
    const replica = withReplica.database.readReplica!;
    const replicaId = logicalIdIn(withReplica, replica);
    expect(all[replicaId]!.Properties).toMatchObject({ SourceDBInstanceIdentifier: expect.anything(), EnableIAMDatabaseAuthentication: true });
    const reports = withReplica.schedules.functions.weeklyReport;
    expect(all[logicalIdIn(withReplica, reports)]!.Properties.Environment.Variables).toMatchObject({
      DB_READ_HOST: { 'Fn::GetAtt': [replicaId, 'Endpoint.Address'] },
      DB_READ_USER: 'taskflow_reader',
    });
    const connect = statementsIn(all, withReplica, reports).filter((s) => [s.Action].flat().includes('rds-db:connect'));
    expect(JSON.stringify(connect)).toContain(replicaId);
    expect(JSON.stringify(connect)).toContain('taskflow_reader');
    const ingress = Object.values(all).filter(
      (r) => r.Type === 'AWS::EC2::SecurityGroupIngress' && JSON.stringify(r.Properties).includes(logicalIdIn(withReplica, withReplica.database.proxyClients)),
    );
    expect(ingress.some((r) => JSON.stringify(r.Properties.GroupId).includes('ReplicaSecurityGroup'))).toBe(true);
  }, SYNTH_TIMEOUT_MS);
});
