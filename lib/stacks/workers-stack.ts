import { CfnParameter, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { taskflow } from '../app';
import { platformWith } from '../capabilities/capability';
import { Consumers } from '../constructs/consumers';
import type { DeploymentMode } from '../constructs/deployment-config';
import { workerGates } from '../constructs/deployment-gates';
import { Deployments } from '../constructs/deployments';
import { prepareForFaultInjection } from '../constructs/fault-injection';
import type { TaskFlowFunction } from '../constructs/function';
import { Schedules } from '../constructs/schedules';
import { manageConnectionsArns, WEBSOCKET_STAGE } from '../constructs/websocket-api';
import type { ApiStack } from './api-stack';
import type { DataStack } from './data-stack';
import type { FeedStack } from './feed-stack';
import { ImportedData } from './imported-data';
import { SharedValues } from './shared-values';

type QueueName = keyof typeof taskflow.queues;
type ScheduleName = keyof typeof taskflow.schedules;

export interface WorkersStackProps extends StackProps {
  readonly data: DataStack;
  readonly api: ApiStack;
  readonly feed: FeedStack;
  /** How CodeDeploy moves each worker's `live` alias to a new version. */
  readonly deployment: DeploymentMode;
  /** Its functions ready for the GameDays' fault injection (`-c faultInjection=true`). */
  readonly faultInjection: boolean;
}

/**
 * The asynchronous half: the consumer of each queue (the queues themselves are data) and the scheduled functions
 * (the outbox relay, the sync dispatcher, the weekly reports, the attachment sweep, the feed probe).
 */
export class WorkersStack extends Stack {
  readonly consumers: Consumers<QueueName>;
  readonly schedules: Schedules<ScheduleName>;
  readonly shared: SharedValues;
  readonly deployments: Deployments;

  constructor(scope: Construct, id: string, props: WorkersStackProps) {
    super(scope, id, { description: 'TaskFlow workers: queue consumers and scheduled functions', ...props });
    const notificationFromEmail = new CfnParameter(this, 'NotificationFromEmail', {
      type: 'String',
      description: 'From address of notification e-mails: a sender (or domain) verified in SendGrid',
      allowedPattern: '^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$',
      constraintDescription: 'an e-mail address, e.g. notifications@your-domain.example',
    });
    const webSocketApiId = props.feed.shared.read(this, 'api-id');
    const platform = platformWith(new ImportedData(this, 'Data', props.data), {
      notificationFromEmail: notificationFromEmail.valueAsString,
      webSocket: {
        url: props.feed.shared.read(this, 'url'),
        managementUrl: props.feed.shared.read(this, 'management-url'),
        manageConnectionsArns: manageConnectionsArns(this, webSocketApiId, WEBSOCKET_STAGE),
      },
      apiUrl: props.api.shared.read(this, 'url'),
    });
    this.deployments = new Deployments(this, 'WorkersDeployments', { app: taskflow.name, mode: props.deployment });
    const live = (name: string, fn: TaskFlowFunction) => this.deployments.live(fn, { gates: workerGates(taskflow.slos, name) }).alias;
    this.consumers = new Consumers(this, 'Queues', { queues: taskflow.queues, platform, live });
    this.schedules = new Schedules(this, 'Schedules', { schedules: taskflow.schedules, platform, live });

    this.shared = new SharedValues(this, taskflow.name, 'workers');
    this.shared.share(this, 'outbox-relay-name', this.schedules.functions.outboxRelay.functionName, 'the outbox relay function');
    // `-c faultInjection=true` (staging): the FIS extension on these functions, for the GameDay experiments.
    if (props.faultInjection) prepareForFaultInjection(this, 'workers');
  }
}
