import type { ScheduledEvent } from 'aws-lambda';
import { runWeeklyReports, type WeeklyReportRun } from '../domain/reports';
import { lambdaHandler } from '../shared/handler';
import { logger } from '../shared/logger';
import { continueTrace } from '../shared/trace';

// Stop taking new projects this long before the deadline: one project's report is a few round trips.
const STOP_BEFORE_DEADLINE_MS = 20_000;

/**
 * EventBridge, weekly: each project's report of the week that ended before the event's time (so a rerun of
 * the same event, or any run in the same week, targets the same week), once per project and week.
 */
export const handler = lambdaHandler<ScheduledEvent, WeeklyReportRun>(async (event, context) => {
  const trace = { requestId: event.id ?? 'weekly-report', traceparent: continueTrace(undefined) };
  logger.setCorrelationId(trace.requestId);
  const scheduled = event.time ? new Date(event.time) : new Date(Number.NaN);
  const now = Number.isNaN(scheduled.getTime()) ? new Date() : scheduled;
  const result = await runWeeklyReports(trace, now, {
    shouldStop: () => typeof context?.getRemainingTimeInMillis === 'function' && context.getRemainingTimeInMillis() < STOP_BEFORE_DEADLINE_MS,
  });
  if (result.failed > 0 || result.unfinished) logger.warn('weekly reports finished with projects left for a rerun', { ...result });
  else logger.info('weekly reports finished', { ...result });
  return result;
});
