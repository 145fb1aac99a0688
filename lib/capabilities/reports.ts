import { Stack } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { acknowledgeNag, nagReference } from '../constructs/nag';
import { type CapabilityModule, type LocalServices, type Platform, required } from './capability';

const REPORTS = 'reports/*';

/** The files bucket's reports/ prefix (FILES_BUCKET_NAME): read, and written too by `reports-writer` (the weekly job). */
function reportsPrefix(capability: string, write: boolean): CapabilityModule {
  return {
    summary: write
      ? 'Reads and writes the files bucket\'s reports/ prefix (FILES_BUCKET_NAME): the weekly job'
      : 'Reads the files bucket\'s reports/ prefix (FILES_BUCKET_NAME): the weekly reports\' download links',
    aws(platform: Platform) {
      const bucket = required(platform.filesBucket, capability, 'the files bucket');
      return { environment: { FILES_BUCKET_NAME: bucket.bucketName }, grant: (fn) => grantReports(bucket, fn, write) };
    },
    local: ({ s3 }: LocalServices) => ({ AWS_ENDPOINT_URL_S3: s3.endpoint, FILES_BUCKET_NAME: s3.bucket }),
  };
}

function grantReports(bucket: s3.IBucket, fn: lambda.Function, write: boolean): void {
  // Downloaded through presigned links; written by the weekly job only.
  bucket.grantRead(fn, REPORTS);
  if (write) bucket.grantPut(fn, REPORTS);
  acknowledgeNag(fn, {
    id: 'AwsSolutions-IAM5',
    reason:
      'CDK\'s bucket grants, limited to the reports/ prefix: one object per project and week, so the resource is a prefix; ' +
      'GetObject* and List* are what a presigned GET needs.',
    appliesTo: [
      'Action::s3:Abort*', 'Action::s3:GetBucket*', 'Action::s3:GetObject*', 'Action::s3:List*',
      `Resource::${nagReference(Stack.of(fn).resolve(bucket.arnForObjects(REPORTS)))}`,
    ],
  });
}

export const reports = reportsPrefix('reports', false);
export const reportsWriter = reportsPrefix('reports-writer', true);
