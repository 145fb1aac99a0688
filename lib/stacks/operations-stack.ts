import { CfnCondition, CfnOutput, CfnParameter, Fn, Stack, type StackProps } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type { Construct } from 'constructs';
import { INTEGRATION_NAMES } from '../../functions/integrations/services';
import { taskflow } from '../app';
import { AlarmTopic } from '../constructs/alarm-topic';
import { REST_STAGE } from '../constructs/api';
import { BreakerAlarms } from '../constructs/breaker-alarms';
import { ConflictRateAlarm } from '../constructs/conflict-alarm';
import { DeadLetterAlarms } from '../constructs/dead-letter-alarms';
import { FaultExperiments } from '../constructs/fault-experiments';
import { FeedProbeAlarms } from '../constructs/feed-probe-alarm';
import { OutboxAlarms } from '../constructs/outbox-alarms';
import { QuotaAlarm } from '../constructs/quota-alarm';
import { RateLimitAlarms } from '../constructs/rate-limit-alarms';
import { ReplicaLagAlarms } from '../constructs/replica-lag-alarms';
import { RestoreTesting } from '../constructs/restore-testing';
import { SyntheticCanaryAlarms } from '../constructs/synthetic-canary-alarm';
import { TraceSamplingRules } from '../constructs/sampling-rules';
import { dashboardSignals } from '../constructs/dashboard-signals';
import { SloAlarms } from '../constructs/slo-alarms';
import { SloDashboards } from '../constructs/slo-dashboards';
import { deploymentGateAlarmName } from '../slo/alarm-names';
import type { DataStack } from './data-stack';
import { ImportedData } from './imported-data';
import type { WorkersStack } from './workers-stack';

type QueueName = keyof typeof taskflow.queues;

/**
 * Watching TaskFlow: the alarm topic and every alarm (dead-letter queues, outbox lag, the feed probe, conflicts,
 * quotas, circuit breakers, rate limits, the SLOs' burn rates, the restore tests' RTO and RPO) and the X-Ray sampling
 * rules, from the metrics the other stacks' resources and functions emit, found by their declared names. Deployed last.
 * The SLOs' burn-rate alerts and a dashboard per service area are here, the weekly restore test of the database (its
 * backups are in the data stack), and the GameDay experiments (AWS FIS templates, stopped by those alarms).
 */
export class OperationsStack extends Stack {
  readonly alarms: AlarmTopic;
  readonly deadLetters: DeadLetterAlarms<QueueName>;
  readonly outbox: OutboxAlarms;
  readonly feedProbe: FeedProbeAlarms;
  readonly conflictRate: ConflictRateAlarm;
  readonly quotaThreshold: QuotaAlarm;
  readonly breakers: BreakerAlarms;
  readonly rateLimits: RateLimitAlarms;
  readonly syntheticCanary: SyntheticCanaryAlarms;
  /** The read replica's lag, in a stack with a replica. */
  readonly replicaLag?: ReplicaLagAlarms;
  readonly sampling: TraceSamplingRules;
  readonly slos: SloAlarms;
  readonly dashboards: SloDashboards;
  readonly experiments: FaultExperiments;
  readonly restoreTesting: RestoreTesting;

  constructor(scope: Construct, id: string, props: StackProps & { readonly data: DataStack; readonly workers: WorkersStack }) {
    super(scope, id, { description: 'TaskFlow operations: alarms and the topic they notify', ...props });
    const alarmEmail = new CfnParameter(this, 'AlarmEmail', {
      type: 'String',
      default: '',
      description: 'E-mail address that receives every TaskFlow alarm (it confirms the subscription once); empty: none, subscribe to AlarmTopicArn yourself',
      allowedPattern: '^([^@\\s]+@[^@\\s]+\\.[^@\\s]+)?$',
      constraintDescription: 'empty, or an e-mail address such as ops@your-domain.example',
    });
    const hasAlarmEmail = new CfnCondition(this, 'HasAlarmEmail', {
      expression: Fn.conditionNot(Fn.conditionEquals(alarmEmail.valueAsString, '')),
    });

    this.deadLetters = new DeadLetterAlarms(this, 'Queues', {
      queues: taskflow.queues,
      deadLetterQueueName: (name) => props.data.shared.read(this, `dlq-${name}-name`),
    });
    this.outbox = new OutboxAlarms(this, 'Outbox', { relayFunctionName: props.workers.shared.read(this, 'outbox-relay-name') });
    this.feedProbe = new FeedProbeAlarms(this, 'FeedProbe');
    this.conflictRate = new ConflictRateAlarm(this, 'ConflictRate');
    this.quotaThreshold = new QuotaAlarm(this, 'QuotaThreshold');
    this.breakers = new BreakerAlarms(this, 'Breakers', { integrations: INTEGRATION_NAMES });
    this.rateLimits = new RateLimitAlarms(this, 'RateLimits', { apiName: taskflow.name, stageName: REST_STAGE });
    this.syntheticCanary = new SyntheticCanaryAlarms(this, 'SyntheticCanary');
    if (props.data.database.replica) this.replicaLag = new ReplicaLagAlarms(this, 'ReplicaLag');
    // Which requests are traced (review M2): operating policy, changed without touching the API.
    this.sampling = new TraceSamplingRules(this, 'TraceSampling', { apiName: taskflow.name, stageName: REST_STAGE });
    this.slos = new SloAlarms(this, 'Slos', { app: taskflow.name, slos: taskflow.slos });
    this.dashboards = new SloDashboards(this, 'Dashboards', { app: taskflow.name, slos: taskflow.slos, signals: dashboardSignals(this) });
    const shared = (key: string) => props.data.shared.read(this, key);
    const data = new ImportedData(this, 'Data', props.data);
    this.restoreTesting = new RestoreTesting(this, 'RestoreTesting', {
      declaration: taskflow.functions.restoreValidation,
      database: data.database,
      vaultArn: shared('backup-vault-arn'),
      instanceArn: shared('instance-arn'),
      subnetGroupName: shared('subnet-group-name'),
      instanceSecurityGroupId: shared('instance-security-group'),
    });

    // GameDays (review M5): each experiment stops itself on the alarms that say customers feel more than intended.
    const fastBurn = (slo: keyof typeof taskflow.slos) => this.slos.slos[slo]!.windows[deploymentGateAlarmName(taskflow.name, slo)]!;
    this.experiments = new FaultExperiments(this, 'GameDays', {
      app: taskflow.name,
      databaseArn: shared('instance-arn'),
      applicationSubnetIds: data.applicationSubnetIds,
      stopOn: {
        api: [fastBurn('availability'), fastBurn('mutationLatency')],
        workers: [this.deadLetters.alarms.notifications, this.deadLetters.alarms.slack, this.deadLetters.alarms.email, fastBurn('outboxLag')],
      },
    });

    this.alarms = new AlarmTopic(this, 'Alarms', {
      displayName: `${taskflow.name} alarms`,
      email: { address: alarmEmail.valueAsString, condition: hasAlarmEmail },
    });
    // Every alarm of the stack, whichever construct made it: none stays silent. The SLO burn-rate windows are the
    // exception: alone, a short window is a blip; their composites notify, a page or a ticket, the alarm's name says
    // which (`…-page`, `…-ticket`): a pager subscribes with a filter policy on AlarmName, a ticket queue likewise.
    const windows = new Set<unknown>(this.slos.windowAlarms);
    this.alarms.notify(...this.node.findAll().filter((construct) => construct instanceof cloudwatch.Alarm && !windows.has(construct)) as cloudwatch.Alarm[]);
    this.alarms.notify(...this.slos.alerts);
    new CfnOutput(this, 'AlarmTopicArn', {
      value: this.alarms.topic.topicArn,
      description: 'SNS topic every TaskFlow alarm notifies (into ALARM and back to OK): subscribe e-mail, chat or paging to it',
    });
  }
}
