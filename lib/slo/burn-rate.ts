// The error-budget arithmetic of the SRE workbook (chapter 5, "Alerting on SLOs"), pure: the CDK alarms, the local
// report and `npm run slo` all use it, and test/unit/burn-rate.test.ts checks it on sample metrics.

/** How an alert reaches someone: a page (now) or a ticket (this week). */
export type Severity = 'page' | 'ticket';

/**
 * A multiwindow alert: it fires while the burn rate is above `burnRate` over both the long window (it has gone on
 * long enough to matter) and the short one (it is still going on, so the alert resets soon after it stops).
 */
export interface BurnRateWindow {
  /** Names the alarms: `fast`, `steady`, `slow`. */
  name: 'fast' | 'steady' | 'slow';
  severity: Severity;
  burnRate: number;
  longSeconds: number;
  shortSeconds: number;
}

/** The workbook's pairs: 2 % of a 30-day budget in an hour, 5 % in six hours (both page), 10 % in a day (a ticket). */
export const BURN_RATE_WINDOWS: readonly BurnRateWindow[] = [
  { name: 'fast', severity: 'page', burnRate: 14.4, longSeconds: 3600, shortSeconds: 300 },
  { name: 'steady', severity: 'page', burnRate: 6, longSeconds: 6 * 3600, shortSeconds: 30 * 60 },
  { name: 'slow', severity: 'ticket', burnRate: 3, longSeconds: 24 * 3600, shortSeconds: 2 * 3600 },
];

/** `300` → `5m`, `3600` → `1h`, `86400` → `1d`: how alarm names spell a window. */
export function windowLabel(seconds: number): string {
  if (seconds % 86400 === 0) return `${seconds / 86400}d`;
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  return `${seconds / 60}m`;
}

/** How fast the budget burns: 1 spends exactly the budget over the SLO's window, 14.4 spends it in 1/14.4 of it. */
export function burnRate(errorRatio: number, objective: number): number {
  return errorRatio / (1 - objective);
}

/** Good events over all of them; no events at all is full compliance (nothing went wrong). */
export function compliance(good: number, total: number): number {
  return total > 0 ? good / total : 1;
}

/** The share of the error budget not yet spent: 1 untouched, 0 spent, negative overspent. */
export function errorBudgetRemaining(complianceRatio: number, objective: number): number {
  return 1 - (1 - complianceRatio) / (1 - objective);
}

/** One period's counts (a minute, in the tests): good events and all of them. */
export interface Sample {
  /** Seconds since any fixed origin; the period ends at `at + periodSeconds`. */
  at: number;
  good: number;
  total: number;
}

/** The error ratio over the `seconds` up to `now`, from the samples of periods ending in that window. */
export function errorRatioOver(samples: readonly Sample[], now: number, seconds: number, periodSeconds: number): number {
  let good = 0;
  let total = 0;
  for (const sample of samples) {
    const end = sample.at + periodSeconds;
    if (end > now - seconds && end <= now) {
      good += sample.good;
      total += sample.total;
    }
  }
  return 1 - compliance(good, total);
}

/** Whether each window pair fires at `now`: both its long and its short window burn faster than its rate. */
export function firingAlerts(samples: readonly Sample[], objective: number, now: number, periodSeconds = 60): BurnRateWindow[] {
  return BURN_RATE_WINDOWS.filter(
    (window) =>
      burnRate(errorRatioOver(samples, now, window.longSeconds, periodSeconds), objective) > window.burnRate &&
      burnRate(errorRatioOver(samples, now, window.shortSeconds, periodSeconds), objective) > window.burnRate,
  );
}
