/** The name of an SLO's fast-burn alarm (14.4× over 5 minutes): what a canary deployment rolls back on. */
export function deploymentGateAlarmName(app: string, slo: string): string {
  return `${app}-slo-${slo}-burn-fast-5m`;
}
