import type { LocalRuntime } from '../../lib/local/runtime';
import { formatReport } from '../../lib/slo/report';

/**
 * Prints the SLO compliance a test's local runtime saw under its faults (what `npm run slo` would print): for the
 * reader of a chaos run, not an assertion (faults are meant to spend budget).
 */
export function printSloReport(runtime: LocalRuntime | undefined, faults: string): void {
  if (!runtime) return;
  console.log(formatReport(runtime.slos(), `the local runtime under ${faults}`));
}
