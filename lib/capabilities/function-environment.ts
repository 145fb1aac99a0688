import { SERVICE_NAME } from '../../functions/shared/telemetry';

/** What every TaskFlow function's environment holds besides its capabilities' variables, in AWS and locally. */
export const FUNCTION_ENVIRONMENT = {
  POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
  POWERTOOLS_LOG_LEVEL: 'INFO',
  NODE_OPTIONS: '--enable-source-maps',
} as const;

/** Variables of every function an operator may set (locally, passed on from the runtime's own environment when set). */
export const FUNCTION_SETTINGS = ['POWERTOOLS_LOG_LEVEL', 'POWERTOOLS_METRICS_DISABLED', 'POWERTOOLS_DEV'] as const;
