import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { Construct } from 'constructs';
import type { Platform } from '../capabilities/capability';
import type { QueueDeclaration } from '../declaration';
import { TaskFlowFunction } from './function';
import { queueId } from './queues';

export interface ConsumersProps<QueueName extends string> {
  /** The declared queues (`taskflow.queues`). */
  readonly queues: Readonly<Record<QueueName, QueueDeclaration>>;
  /** What the consumers need; its `queues` are the ones they consume (the data stack's). */
  readonly platform: Platform;
  /** The alias a consumer takes its traffic through (its `live` alias, deployed in steps). */
  readonly live: (name: QueueName, fn: TaskFlowFunction) => lambda.IFunction;
}

/**
 * The consumer of each declared queue, fed by an event source mapping that reports partial batch failures, so one
 * poison message is retried (and dead-lettered) alone, and that runs at most `maxConcurrency` invocations at once.
 */
export class Consumers<QueueName extends string = string> extends Construct {
  readonly consumers: Readonly<Record<QueueName, TaskFlowFunction>>;

  constructor(scope: Construct, id: string, props: ConsumersProps<QueueName>) {
    super(scope, id);
    const queues = props.platform.queues;
    if (!queues) throw new Error('The consumers require the queues construct');
    const consumers = {} as Record<QueueName, TaskFlowFunction>;
    for (const [name, declaration] of Object.entries(props.queues) as [QueueName, QueueDeclaration][]) {
      const consumer = new TaskFlowFunction(this, `${queueId(name)}Consumer`, { declaration: declaration.consumer, platform: props.platform });
      // The event source invokes the alias, never $LATEST: a new version takes messages as CodeDeploy shifts it.
      props.live(name, consumer).addEventSource(
        new SqsEventSource(queues.queues[name]!, {
          batchSize: declaration.batchSize,
          reportBatchItemFailures: true,
          // A bulkhead for what the consumer calls (the database, Slack's rate limits): a backlog or a redrive
          // drains at this pace instead of scaling out; the rest waits on the queue.
          maxConcurrency: declaration.maxConcurrency,
        }),
      );
      consumers[name] = consumer;
    }
    this.consumers = consumers;
  }
}
