import { SyncResult } from '../domain/messages';
import { applySyncResult } from '../domain/sync-apply';
import { sqsConsumer } from '../shared/consumer';

/** The syncResults queue: what a GitHub or Google Calendar run found or did, written once (see applySyncResult). */
export const handler = sqsConsumer(SyncResult, async (result, { trace, log }) => {
  const applied = await applySyncResult(result, trace);
  log.info('sync result applied', { kind: result.kind, linkId: result.linkId, runId: result.runId, ...applied });
});
