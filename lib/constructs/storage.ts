import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { TableDeclaration } from '../declaration';
import { acknowledgeNag } from './nag';

export interface StorageProps<TableName extends string> {
  /** The declared tables (`taskflow.tables`): one DynamoDB table each. */
  readonly tables: Readonly<Record<TableName, TableDeclaration>>;
}

/** `idempotency` → `Idempotency`: the construct id prefix of a declared table. */
export function tableId(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1);
}

/**
 * Durable storage that is not PostgreSQL: the files bucket (versioned, private, TLS only, access-logged)
 * and the declared DynamoDB tables (string keys, on demand, point-in-time recovery, TTL). Everything is retained
 * when the stack is deleted.
 */
export class Storage<TableName extends string = string> extends Construct {
  readonly filesBucket: s3.Bucket;
  /** Server access logs of the files bucket. */
  readonly accessLogsBucket: s3.Bucket;
  readonly tables: Readonly<Record<TableName, dynamodb.Table>>;

  constructor(scope: Construct, id: string, props: StorageProps<TableName>) {
    super(scope, id);

    this.accessLogsBucket = new s3.Bucket(this, 'AccessLogsBucket', {
      // Server access logs can only be delivered to SSE-S3 buckets.
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      // Object ownership left to CDK: it depends on how S3 delivers the logs (bucket policy or ACL).
      lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(365) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    acknowledgeNag(this.accessLogsBucket, {
      id: 'AwsSolutions-S1',
      reason: 'This is the server access log bucket of the files bucket; logging its own access would recurse.',
    });

    this.filesBucket = new s3.Bucket(this, 'FilesBucket', {
      versioned: true,
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: 'files/',
      lifecycleRules: [
        { id: 'expire-old-versions', noncurrentVersionExpiration: Duration.days(90) },
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(7) },
        // Uploads never confirmed (review S5): their objects go after a day.
        { id: 'expire-unconfirmed-uploads', prefix: 'pending/', expiration: Duration.days(1), noncurrentVersionExpiration: Duration.days(1) },
      ],
      // Browsers upload attachments straight to the bucket (presigned POST) and download them.
      cors: [{ allowedMethods: [s3.HttpMethods.POST, s3.HttpMethods.GET, s3.HttpMethods.HEAD], allowedOrigins: ['*'], allowedHeaders: ['*'], maxAge: 3000 }],
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const tables = {} as Record<TableName, dynamodb.Table>;
    for (const [name, declaration] of Object.entries(props.tables) as [TableName, TableDeclaration][]) {
      tables[name] = new dynamodb.Table(this, `${tableId(name)}Table`, {
        partitionKey: { name: declaration.partitionKey, type: dynamodb.AttributeType.STRING },
        ...(declaration.sortKey ? { sortKey: { name: declaration.sortKey, type: dynamodb.AttributeType.STRING } } : {}),
        billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
        timeToLiveAttribute: declaration.timeToLiveAttribute,
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
        removalPolicy: RemovalPolicy.RETAIN,
      });
    }
    this.tables = tables;
  }
}
