import { BURN_RATE_WINDOWS, windowLabel, type BurnRateWindow } from './burn-rate';

// The SLO alarms' names, fixed so that what refers to them by name (the canary's CodeDeploy rollback triggers,
// operators' subscriptions, runbooks) does not follow construct ids.

/** One window's alarm: `TaskFlow-slo-availability-burn-fast-5m` (14.4× over 5 minutes). */
export function burnAlarmName(app: string, slo: string, window: BurnRateWindow, which: 'long' | 'short'): string {
  return `${app}-slo-${slo}-burn-${window.name}-${windowLabel(which === 'long' ? window.longSeconds : window.shortSeconds)}`;
}

/** The composite that pages (either page pair) or opens a ticket (the slow pair): `TaskFlow-slo-availability-page`. */
export function sloAlertName(app: string, slo: string, severity: 'page' | 'ticket'): string {
  return `${app}-slo-${slo}-${severity}`;
}

/**
 * The alarm a deploy watches (the canary's rollback trigger): the fast pair's 5-minute window, 14.4× the budget's
 * rate. Alone it is too jumpy to page anyone, but during a deploy's few minutes it is the signal that the new
 * version burns the budget.
 */
export function deploymentGateAlarmName(app: string, slo: string): string {
  const fast = BURN_RATE_WINDOWS.find((window) => window.name === 'fast')!;
  return burnAlarmName(app, slo, fast, 'short');
}
