import type { IConstruct } from 'constructs';
import type { TaskFlowFunction } from '../../lib/constructs/function';
import { beforeAll, describe, expect, it } from 'vitest';
import type { TaskFlow } from '../../lib/stacks/taskflow';
import { liveAliasId, logicalId, namesAlias, OPTED_IN, type Resource, routeFunctions, SYNTH_TIMEOUT_MS, synthesizeTaskFlow } from './synth';

// GitHub and Google Calendar sync and the weekly reports as deployed (issue 6): the workers that call the services
// out of the VPC with only their own credential, the database side in it, the schedules, the reports' prefix, and
// the read replica when one is asked for.

type Statement = { Effect: string; Action: string | string[]; Resource: unknown };

let stacks: TaskFlow;
let resources: Record<string, Resource>;

beforeAll(() => {
  ({ stacks, resources } = synthesizeTaskFlow());
}, SYNTH_TIMEOUT_MS);

const ref = (id: string) => ({ Ref: id });
const propsOf = (construct: IConstruct) => resources[logicalId(construct)]!.Properties;
const envOf = (construct: IConstruct) => propsOf(construct).Environment.Variables as Record<string, unknown>;
const statementsIn = (all: Record<string, Resource>, fn: IConstruct): Statement[] => {
  const role = all[logicalId(fn)]!.Properties.Role['Fn::GetAtt'][0];
  return Object.values(all)
    .filter((r) => r.Type === 'AWS::IAM::Policy' && r.Properties.Roles.some((x: { Ref: string }) => x.Ref === role))
    .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
};
const actionsOn = (fn: IConstruct, resourceId: string) =>
  statementsIn(resources, fn)
    .filter((s) => s.Effect === 'Allow' && JSON.stringify(s.Resource).includes(`"${resourceId}"`))
    .flatMap((s) => s.Action);
// The mapping invokes the function's live alias (canary deploys), never $LATEST.
const mappingOf = (fn: TaskFlowFunction) =>
  Object.values(resources).find((r) => r.Type === 'AWS::Lambda::EventSourceMapping' && namesAlias(r.Properties.FunctionName, liveAliasId(stacks, fn)))!.Properties;

describe('sync workers', () => {
  it.each([
    ['github', 'GITHUB_API_URL', 'https://api.github.com', 'GITHUB_TOKEN_SECRET_ARN', 'github'],
    ['googleCalendar', 'GOOGLE_CALENDAR_API_URL', 'https://www.googleapis.com/calendar/v3', 'GOOGLE_CALENDAR_CREDENTIALS_SECRET_ARN', 'googleCalendar'],
  ] as const)('%s: out of the VPC (it calls the service), one run per invocation, 2 at a time, with only its own credential', (queue, urlVariable, url, secretVariable, secret) => {
    const consumer = stacks.workers.consumers.consumers[queue];
    expect(propsOf(consumer).VpcConfig).toBeUndefined();
    expect(envOf(consumer)).toMatchObject({
      [urlVariable]: url,
      [secretVariable]: ref(logicalId(stacks.data.credentials.secrets[secret])),
      SYNCRESULTS_QUEUE_URL: ref(logicalId(stacks.data.queues.queues.syncResults)),
    });
    expect(envOf(consumer).DB_HOST).toBeUndefined();
    expect(mappingOf(consumer)).toMatchObject({ BatchSize: 1, ScalingConfig: { MaximumConcurrency: 2 } });
    expect(actionsOn(consumer, logicalId(stacks.data.credentials.secrets[secret]))).toContain('secretsmanager:GetSecretValue');
    for (const other of ['slack', 'sendgrid', 'github', 'googleCalendar'] as const) {
      if (other !== secret) expect(actionsOn(consumer, logicalId(stacks.data.credentials.secrets[other])), other).toEqual([]);
    }
    // It records its breaker's outcomes.
    expect(actionsOn(consumer, logicalId(stacks.data.storage.tables.integrations))).toContain('dynamodb:UpdateItem');
    expect(actionsOn(consumer, logicalId(stacks.data.queues.queues.syncResults))).toContain('sqs:SendMessage');
  });

  it('writes the results from the VPC, and may publish the imported tasks\' events', () => {
    const consumer = stacks.workers.consumers.consumers.syncResults;
    expect(propsOf(consumer).VpcConfig.SecurityGroupIds).toEqual([{ 'Fn::GetAtt': [logicalId(stacks.data.database.proxyClients), 'GroupId'] }]);
    expect(Object.keys(envOf(consumer)).filter((name) => name.endsWith('_SECRET_ARN'))).toEqual([]);
    for (const queue of ['notifications', 'broadcast'] as const) {
      expect(actionsOn(consumer, logicalId(stacks.data.queues.queues[queue]))).toContain('sqs:SendMessage');
    }
  });

  it('dispatches the due runs every 5 minutes from the VPC to the github and googleCalendar queues only', () => {
    const dispatcher = stacks.workers.schedules.functions.integrationSync;
    expect(propsOf(dispatcher).VpcConfig).toBeDefined();
    const rule = Object.values(resources).find(
      (r) => r.Type === 'AWS::Events::Rule' && JSON.stringify(r.Properties.Targets).includes(`"${liveAliasId(stacks, dispatcher)}"`),
    )!;
    expect(rule.Properties.ScheduleExpression).toBe('rate(5 minutes)');
    for (const queue of ['github', 'googleCalendar'] as const) {
      expect(actionsOn(dispatcher, logicalId(stacks.data.queues.queues[queue]))).toContain('sqs:SendMessage');
    }
    expect(actionsOn(dispatcher, logicalId(stacks.data.queues.queues.syncResults))).toEqual([]);
  });

  it('outputs the ARNs of the GitHub token and Google key secrets for the operator to fill; no credential is in the template', () => {
    for (const secret of [stacks.data.credentials.secrets.github, stacks.data.credentials.secrets.googleCalendar]) {
      expect(propsOf(secret).SecretString).toBeUndefined();
    }
  });
});

describe('weekly reports', () => {
  it('runs daily (each project once a week), writes under reports/ only, e-mails through the email queue, and reads the primary without a replica', () => {
    const reports = stacks.workers.schedules.functions.weeklyReport;
    const rule = Object.values(resources).find(
      (r) => r.Type === 'AWS::Events::Rule' && JSON.stringify(r.Properties.Targets).includes(`"${liveAliasId(stacks, reports)}"`),
    )!;
    expect(rule.Properties.ScheduleExpression).toBe('rate(1 day)');
    expect(envOf(reports).FILES_BUCKET_NAME).toEqual(ref(logicalId(stacks.data.storage.filesBucket)));
    const bucketStatements = statementsIn(resources, reports).filter((s) => JSON.stringify(s.Resource).includes(logicalId(stacks.data.storage.filesBucket)));
    expect(bucketStatements.length).toBeGreaterThan(0);
    for (const statement of bucketStatements) expect(JSON.stringify(statement.Resource)).toContain('/reports/*');
    expect(actionsOn(reports, logicalId(stacks.data.queues.queues.email))).toContain('sqs:SendMessage');
    expect(bucketStatements.flatMap((s) => s.Action)).toContain('s3:PutObject');
    // The list route only signs download links.
    const list = routeFunctions(stacks).get('listReports')!;
    const listStatements = statementsIn(resources, list).filter((s) => JSON.stringify(s.Resource).includes(logicalId(stacks.data.storage.filesBucket)));
    expect(listStatements.flatMap((s) => s.Action)).toContain('s3:GetObject*');
    expect(listStatements.flatMap((s) => s.Action)).not.toContain('s3:PutObject');
    expect(envOf(reports).DB_READ_HOST).toBeUndefined();
    expect(Object.values(resources).filter((r) => r.Type === 'AWS::RDS::DBInstance')).toHaveLength(1);
  });

  it('reads from a read replica with `-c readReplica=true`: DB_READ_HOST, IAM connect to it as the reader role, reachable from the functions, nag-clean', () => {
    // As bin/cdk.ts (cdk-nag registered: an unacknowledged AwsSolutions error makes the synthesis throw).
    const { stacks: withReplica, resources: all } = synthesizeTaskFlow(OPTED_IN);
    const replica = withReplica.data.database.replica!;
    const replicaId = logicalId(replica);
    expect(all[replicaId]!.Properties).toMatchObject({ SourceDBInstanceIdentifier: expect.anything(), EnableIAMDatabaseAuthentication: true });
    const reports = withReplica.workers.schedules.functions.weeklyReport;
    expect(all[logicalId(reports)]!.Properties.Environment.Variables).toMatchObject({
      DB_READ_HOST: { 'Fn::GetAtt': [replicaId, 'Endpoint.Address'] },
      DB_READ_USER: 'taskflow_reader',
    });
    const connect = statementsIn(all, reports).filter((s) => [s.Action].flat().includes('rds-db:connect'));
    expect(JSON.stringify(connect)).toContain(replicaId);
    expect(JSON.stringify(connect)).toContain('taskflow_reader');
    const ingress = Object.values(all).filter(
      (r) => r.Type === 'AWS::EC2::SecurityGroupIngress' && JSON.stringify(r.Properties).includes(logicalId(withReplica.data.database.proxyClients)),
    );
    expect(ingress.some((r) => JSON.stringify(r.Properties.GroupId).includes('ReplicaSecurityGroup'))).toBe(true);
  }, SYNTH_TIMEOUT_MS);
});
