import type { SloDeclaration } from '../declaration';
import { compliance, errorBudgetRemaining } from './burn-rate';

/** One SLO as `npm run slo` and `GET /_local/slo` report it. */
export interface SloStatus {
  name: string;
  description: string;
  objective: number;
  windowDays: number;
  /** Good events and all of them over what was measured (the local runtime: since it started; AWS: the SLO's window). */
  good: number;
  total: number;
  compliance: number;
  /** 1 untouched, 0 spent, negative overspent. */
  errorBudgetRemaining: number;
  runbook: string;
}

export function sloStatus(name: string, slo: SloDeclaration, { good, total }: { good: number; total: number }): SloStatus {
  const ratio = compliance(good, total);
  return {
    name,
    description: slo.description,
    objective: slo.objective,
    windowDays: slo.windowDays,
    good,
    total,
    compliance: ratio,
    errorBudgetRemaining: errorBudgetRemaining(ratio, slo.objective),
    runbook: slo.runbook,
  };
}

const percent = (ratio: number, digits = 3) => `${(ratio * 100).toFixed(digits)} %`;

/** A table, one line per SLO: compliance against its objective, the error budget left, and what it was counted from. */
export function formatReport(statuses: readonly SloStatus[], source: string): string {
  const rows = statuses.map((s) => [
    s.name,
    percent(s.objective, 1),
    s.total === 0 ? '—' : percent(s.compliance),
    s.total === 0 ? '—' : percent(s.errorBudgetRemaining, 1),
    `${Math.round(s.good)}/${Math.round(s.total)}`,
    s.total > 0 && s.errorBudgetRemaining < 0 ? `over budget: ${s.runbook}` : '',
  ]);
  const header = ['SLO', 'objective', 'compliance', 'budget left', 'good/total', ''];
  const widths = header.map((_, i) => Math.max(...[header, ...rows].map((row) => row[i]!.length)));
  const line = (row: string[]) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd();
  return [`SLOs from ${source}`, line(header), ...rows.map(line)].join('\n');
}
