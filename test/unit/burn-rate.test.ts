import { describe, expect, it } from 'vitest';
import { BURN_RATE_WINDOWS, burnRate, compliance, errorBudgetRemaining, firingAlerts, windowLabel, type Sample } from '../../lib/slo/burn-rate';

// Sample metrics a minute apart: 1,000 requests a minute against a 99.9 % objective (a budget of 0.1 % errors).
const OBJECTIVE = 0.999;
const PER_MINUTE = 1000;
const minutes = (n: number) => n * 60;

/** `count` minutes from `from` (minutes) with `errorRatio` of errors each. */
function traffic(from: number, count: number, errorRatio: number): Sample[] {
  return Array.from({ length: count }, (_, i) => ({ at: minutes(from + i), good: PER_MINUTE * (1 - errorRatio), total: PER_MINUTE }));
}

// A day of healthy traffic before anything happens, so every window is full.
const healthyDay = traffic(0, 24 * 60, 0);
const start = 24 * 60;
const names = (fired: { name: string; severity: string }[]) => fired.map(({ name, severity }) => `${name}:${severity}`);

describe('burn-rate alerts (SRE workbook pairs)', () => {
  it('burn rate is the error ratio over the budget', () => {
    expect(burnRate(0.0144, OBJECTIVE)).toBeCloseTo(14.4);
    expect(burnRate(0, OBJECTIVE)).toBe(0);
    expect(BURN_RATE_WINDOWS.map((w) => `${w.burnRate}× ${windowLabel(w.longSeconds)}/${windowLabel(w.shortSeconds)} ${w.severity}`)).toEqual([
      '14.4× 1h/5m page',
      '6× 6h/30m page',
      '3× 1d/2h ticket',
    ]);
  });

  it('pages at 14.4× sustained over the hour and the last 5 minutes, not before the hour is reached', () => {
    const burning = [...healthyDay, ...traffic(start, 60, 0.0145)];
    // Five minutes in: the short window burns, the hour does not yet.
    expect(firingAlerts(burning.slice(0, healthyDay.length + 5), OBJECTIVE, minutes(start + 5))).toEqual([]);
    expect(names(firingAlerts(burning, OBJECTIVE, minutes(start + 60)))).toEqual(['fast:page']);
  });

  it('does not fire on a one-minute blip, though the 5-minute window alone burns far above 14.4×', () => {
    const blip = [...healthyDay, ...traffic(start, 1, 0.5), ...traffic(start + 1, 4, 0)];
    const now = minutes(start + 5);
    expect(firingAlerts(blip, OBJECTIVE, now)).toEqual([]);
    // What a single-window alert would have paged on: 10 % errors over the last 5 minutes, a burn rate of 100.
    const lastFive = blip.slice(-5);
    expect(burnRate(1 - compliance(sum(lastFive, 'good'), sum(lastFive, 'total')), OBJECTIVE)).toBeCloseTo(100);
  });

  it('resets within 5 minutes of the burn stopping, while the hour still reads high', () => {
    const stopped = [...healthyDay, ...traffic(start, 60, 0.02), ...traffic(start + 60, 6, 0)];
    expect(names(firingAlerts(stopped.slice(0, -6), OBJECTIVE, minutes(start + 60)))).toContain('fast:page');
    expect(firingAlerts(stopped, OBJECTIVE, minutes(start + 66))).toEqual([]);
  });

  it('pages on a steady 6× burn over 6 hours, without the fast pair', () => {
    const steady = [...healthyDay, ...traffic(start, 6 * 60, 0.0065)];
    expect(names(firingAlerts(steady, OBJECTIVE, minutes(start + 6 * 60)))).toEqual(['steady:page']);
  });

  it('opens a ticket on a slow 3× burn over a day, and does not page', () => {
    const slow = [...healthyDay, ...traffic(start, 24 * 60, 0.0035)];
    expect(names(firingAlerts(slow, OBJECTIVE, minutes(start + 24 * 60)))).toEqual(['slow:ticket']);
  });

  it('stays silent at a burn rate of 1 (the budget spent exactly over the month)', () => {
    const even = [...healthyDay, ...traffic(start, 24 * 60, 0.001)];
    expect(firingAlerts(even, OBJECTIVE, minutes(start + 24 * 60))).toEqual([]);
  });
});

describe('compliance and error budget', () => {
  it('an hour at 14.4× spends 2 % of a 30-day budget', () => {
    const month = 30 * 24 * 60;
    const good = month * PER_MINUTE - 60 * PER_MINUTE * 0.0144;
    const ratio = compliance(good, month * PER_MINUTE);
    expect(errorBudgetRemaining(ratio, OBJECTIVE)).toBeCloseTo(0.98, 6);
  });

  it('no traffic is full compliance; more errors than the budget is a negative remainder', () => {
    expect(compliance(0, 0)).toBe(1);
    expect(errorBudgetRemaining(1, 0.995)).toBe(1);
    expect(errorBudgetRemaining(0.99, 0.995)).toBeCloseTo(-1);
  });
});

function sum(samples: Sample[], key: 'good' | 'total'): number {
  return samples.reduce((total, sample) => total + sample[key], 0);
}
