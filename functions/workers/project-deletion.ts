import { ProjectDeletedMessage } from '../domain/messages';
import { removeDeletedProject } from '../domain/project-deletion';
import { sqsConsumer } from '../shared/consumer';

// Left for the batch in flight and the answer to SQS when the invocation's time runs out.
const MARGIN_MS = 30_000;

/** The deletions queue: removes a deleted project's rows and files in batches (project-deletion.ts). */
export const handler = sqsConsumer(ProjectDeletedMessage, async (event, { log, context }) => {
  const result = await removeDeletedProject(event.organizationId, event.subjectId, Date.now() + context.getRemainingTimeInMillis() - MARGIN_MS);
  // Not done in this invocation's time: the message comes back after its visibility timeout and carries on.
  if (!result.done) throw new Error(`project ${event.subjectId}: removed ${result.tasks} tasks so far, more to remove`);
  log.info('deleted project removed', { projectId: event.subjectId, ...result });
});
