import { ProjectDeletedMessage } from '../domain/messages';
import { removeDeletedProject } from '../domain/project-deletion';
import { sqsConsumer } from '../shared/consumer';
import { changeMessageVisibility, queueUrlFromArn } from '../shared/sqs';

// Left for the batch in flight and the answer to SQS when the invocation's time runs out.
const MARGIN_MS = 30_000;

/** The deletions queue: removes a deleted project's rows and files in batches (project-deletion.ts). */
export const handler = sqsConsumer(ProjectDeletedMessage, async (event, { log, context, record }) => {
  const result = await removeDeletedProject(event.organizationId, event.subjectId, Date.now() + context.getRemainingTimeInMillis() - MARGIN_MS);
  if (!result.done) {
    // More than one invocation's work: the message comes back in a second to carry on, rather than after the
    // queue's visibility timeout (should hiding it fail, it still comes back then).
    await changeMessageVisibility(queueUrlFromArn(record.eventSourceARN), record.receiptHandle, 1).catch((error: unknown) =>
      log.warn('could not make the message visible again at once', { error }),
    );
    throw new Error(`project ${event.subjectId}: removed ${result.tasks} tasks in this invocation, more to remove`);
  }
  log.info('deleted project removed', { projectId: event.subjectId, ...result });
});
