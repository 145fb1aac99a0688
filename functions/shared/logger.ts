import { Logger } from '@aws-lambda-powertools/logger';
import { SERVICE_NAME } from './telemetry';

/** One logger per function; the request id is set as its correlation id on every invocation. */
export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? SERVICE_NAME });
