import { describe, expect, it } from 'vitest';
import { logicalId, OPTED_IN, SYNTH_TIMEOUT_MS, synthesizeTaskFlow } from './synth';

// Review S4 in AWS: with a read replica (`-c readReplica=true`) the operations stack alarms on its lag as the
// replicaHeartbeat schedule measures it — a ticket past 10 s, a page past 60 s — through the alarm topic.

describe('read replica lag', () => {
  it('is alarmed at 10 s (5 minutes) and 60 s (3 minutes, or unmeasured), each naming its runbook, when there is a replica', () => {
    const { stacks, resources } = synthesizeTaskFlow(OPTED_IN);
    const alarms = stacks.operations.replicaLag!;
    const topic = { Ref: logicalId(stacks.operations.alarms.topic) };
    const warning = resources[logicalId(alarms.warning)]!.Properties;
    const critical = resources[logicalId(alarms.critical)]!.Properties;
    expect(warning).toMatchObject({ MetricName: 'ReplicaLagSeconds', Statistic: 'Maximum', Period: 60, Threshold: 10, EvaluationPeriods: 5, ComparisonOperator: 'GreaterThanThreshold', TreatMissingData: 'notBreaching' });
    expect(critical).toMatchObject({ MetricName: 'ReplicaLagSeconds', Statistic: 'Maximum', Period: 60, Threshold: 60, EvaluationPeriods: 3, TreatMissingData: 'breaching' });
    for (const alarm of [warning, critical]) {
      expect(alarm.AlarmDescription).toContain('docs/runbooks/replica-lag.md');
      expect(alarm.AlarmActions).toEqual([topic]);
    }
  }, SYNTH_TIMEOUT_MS);

  it('has no lag alarms without a replica, and the heartbeat schedule runs every minute either way', () => {
    const { stacks, resources } = synthesizeTaskFlow();
    expect(stacks.operations.replicaLag).toBeUndefined();
    expect(Object.values(resources).filter((r) => r.Type === 'AWS::CloudWatch::Alarm' && r.Properties.MetricName === 'ReplicaLagSeconds')).toEqual([]);
    const rules = Object.values(resources).filter((r) => r.Type === 'AWS::Events::Rule' && JSON.stringify(r.Properties).includes('ReplicaHeartbeat'));
    expect(rules.map((r) => r.Properties.ScheduleExpression)).toEqual(['rate(1 minute)']);
  }, SYNTH_TIMEOUT_MS);
});
