import { Metrics } from '@aws-lambda-powertools/metrics';

/** CloudWatch metrics in Embedded Metric Format: a log line CloudWatch turns into metrics, no API call. */
export const metrics = new Metrics({ namespace: 'TaskFlow', serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'taskflow' });
