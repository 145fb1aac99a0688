import { ArnFormat, Aws, type CfnCondition, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';

export interface AlarmTopicProps {
  /** Shown as the sender of the notifications (e-mail "From" name). */
  readonly displayName: string;
  /**
   * An address that receives every notification; with a condition (a deploy-time parameter that may be
   * empty), the subscription exists only when it holds. The address confirms the subscription once.
   */
  readonly email?: { readonly address: string; readonly condition?: CfnCondition };
}

/**
 * The one SNS topic TaskFlow's alarms notify, when they go into ALARM and back to OK.
 *
 * Encrypted with its own KMS key rather than SNS's AWS-managed key: CloudWatch can publish to an encrypted
 * topic only when the key's policy lets `cloudwatch.amazonaws.com` use it, and the AWS-managed key's policy
 * cannot be changed. The topic policy refuses publishing without TLS (enforceSSL) and, since a topic policy
 * replaces the default one, lets CloudWatch publish on behalf of this account's alarms only.
 */
export class AlarmTopic extends Construct {
  readonly topic: sns.Topic;
  readonly key: kms.Key;
  private readonly action: SnsAction;

  constructor(scope: Construct, id: string, props: AlarmTopicProps) {
    super(scope, id);

    this.key = new kms.Key(this, 'Key', {
      description: `Encrypts the ${props.displayName} notifications topic`,
      enableKeyRotation: true,
      // It only encrypts notifications in flight: nothing needs it once the topic is gone.
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsPublishToTheEncryptedTopic',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    );

    this.topic = new sns.Topic(this, 'Topic', { displayName: props.displayName, masterKey: this.key, enforceSSL: true });
    this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsOfThisAccountPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
          ArnLike: {
            'aws:SourceArn': Stack.of(this).formatArn({
              service: 'cloudwatch',
              resource: 'alarm',
              resourceName: '*',
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
        },
      }),
    );
    this.action = new SnsAction(this.topic);

    if (props.email) {
      const subscription = new sns.Subscription(this, 'EmailSubscription', {
        topic: this.topic,
        protocol: sns.SubscriptionProtocol.EMAIL,
        endpoint: props.email.address,
      });
      if (props.email.condition) (subscription.node.defaultChild as sns.CfnSubscription).cfnOptions.condition = props.email.condition;
    }
  }

  /** Notifies the topic when each alarm (metric or composite) goes into ALARM, and when it is back to OK. */
  notify(...alarms: cloudwatch.AlarmBase[]): void {
    for (const alarm of alarms) {
      alarm.addAlarmAction(this.action);
      alarm.addOkAction(this.action);
    }
  }
}
