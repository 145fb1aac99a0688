import { Stack } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { acknowledgeNag, nagReference } from '../constructs/nag';
import { type CapabilityModule, type LocalServices, type Platform, required } from './capability';

const REPORTS = 'reports/*';

type Access = 'read' | 'write' | 'delete';

const SUMMARIES: Record<Access, string> = {
  read: 'Reads the files bucket\'s reports/ prefix (FILES_BUCKET_NAME): the weekly reports\' download links',
  write: 'Reads and writes the files bucket\'s reports/ prefix (FILES_BUCKET_NAME): the weekly job',
  delete: 'Reads and deletes in the files bucket\'s reports/ prefix (FILES_BUCKET_NAME): a deleted project\'s reports',
};

/**
 * The files bucket's reports/ prefix (FILES_BUCKET_NAME): read, and written too by `reports-writer` (the weekly job)
 * or deleted by `reports-remover` (the deletion of a project).
 */
function reportsPrefix(capability: string, access: Access): CapabilityModule {
  return {
    summary: SUMMARIES[access],
    aws(platform: Platform) {
      const bucket = required(platform.filesBucket, capability, 'the files bucket');
      return { environment: { FILES_BUCKET_NAME: bucket.bucketName }, grant: (fn) => grantReports(bucket, fn, access) };
    },
    local: ({ s3 }: LocalServices) => ({ AWS_ENDPOINT_URL_S3: s3.endpoint, FILES_BUCKET_NAME: s3.bucket }),
  };
}

function grantReports(bucket: s3.IBucket, fn: lambda.Function, access: Access): void {
  // Downloaded through presigned links; written by the weekly job only, deleted with their project only.
  bucket.grantRead(fn, REPORTS);
  if (access === 'write') bucket.grantPut(fn, REPORTS);
  if (access === 'delete') bucket.grantDelete(fn, REPORTS);
  acknowledgeNag(fn, {
    id: 'AwsSolutions-IAM5',
    reason:
      'CDK\'s bucket grants, limited to the reports/ prefix: one object per project and week, so the resource is a prefix; ' +
      'GetObject* and List* are what a presigned GET needs.',
    appliesTo: [
      'Action::s3:Abort*', ...(access === 'delete' ? ['Action::s3:DeleteObject*'] : []), 'Action::s3:GetBucket*', 'Action::s3:GetObject*', 'Action::s3:List*',
      `Resource::${nagReference(Stack.of(fn).resolve(bucket.arnForObjects(REPORTS)))}`,
    ],
  });
}

export const reports = reportsPrefix('reports', 'read');
export const reportsWriter = reportsPrefix('reports-writer', 'write');
export const reportsRemover = reportsPrefix('reports-remover', 'delete');
