import { Stack } from 'aws-cdk-lib';
import { acknowledgeNag, nagReference } from '../constructs/nag';
import { type CapabilityModule, required } from './capability';

/** Where attachments live in the files bucket: uploads are signed for pending/ (presigned POST), confirmed ones copied to attachments/. */
const ATTACHMENT_PREFIXES = ['pending/*', 'attachments/*'];

/** The files bucket's attachments (FILES_BUCKET_NAME): read, write and delete under pending/ and attachments/ only. */
export const files: CapabilityModule = {
  summary: 'The files bucket\'s attachments (FILES_BUCKET_NAME): pending/ and attachments/ only',
  aws(platform) {
    const bucket = required(platform.filesBucket, 'files', 'the files bucket');
    return {
      environment: { FILES_BUCKET_NAME: bucket.bucketName },
      grant(fn) {
        for (const prefix of ATTACHMENT_PREFIXES) {
          bucket.grantRead(fn, prefix);
          bucket.grantPut(fn, prefix);
          bucket.grantDelete(fn, prefix);
        }
        acknowledgeNag(fn, {
          id: 'AwsSolutions-IAM5',
          reason:
            'CDK\'s bucket grants, limited to the two attachment prefixes: object keys are per upload, so the resource ' +
            'is a prefix; the action groups (GetObject*, DeleteObject*, List*...) are what HEAD, copy, presigned GET and delete need.',
          appliesTo: [
            'Action::s3:Abort*', 'Action::s3:DeleteObject*', 'Action::s3:GetBucket*', 'Action::s3:GetObject*', 'Action::s3:List*',
            ...ATTACHMENT_PREFIXES.map((prefix) => `Resource::${nagReference(Stack.of(fn).resolve(bucket.arnForObjects(prefix)))}`),
          ],
        });
      },
    };
  },
  local: ({ s3 }) => ({ AWS_ENDPOINT_URL_S3: s3.endpoint, FILES_BUCKET_NAME: s3.bucket }),
};
