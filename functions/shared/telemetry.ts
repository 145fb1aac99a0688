// Names the functions emit under and the CDK alarms and log settings refer to: declared once here.

/** Powertools' service name: the `service` key of every log line and dimension of every metric. */
export const SERVICE_NAME = 'taskflow';
export const METRICS_NAMESPACE = 'TaskFlow';

/** Counts the task-update handler emits (and the conflict-rate alarm reads). */
export const TASK_UPDATE_METRICS = {
  updates: 'TaskUpdates',
  merged: 'TaskUpdatesMerged',
  conflicts: 'TaskUpdateConflicts',
} as const;
