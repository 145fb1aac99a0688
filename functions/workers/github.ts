import { GithubSyncRequest, type ImportedIssue, type RunOutcome, type SyncResult } from '../domain/messages';
import { sendSyncResult } from '../domain/sync-results';
import { BreakerOpen } from '../integrations/breaker';
import { fetchChangedIssues } from '../integrations/github';
import { IntegrationUnavailable, RetryLater } from '../integrations/http';
import { sqsConsumer } from '../shared/consumer';
import { postpone, POSTPONE_BASE_MS } from '../shared/postpone';

// The github queue: one run of one linked repository per message. Out of the VPC (GitHub is on the internet, and
// the VPC has no NAT), so without the database: what the run found goes to `syncResults`, whose consumer imports it.
//
// A run that ends (ok, unchanged, rate_limited, failed) sends its issues and outcome and is done: the message is
// deleted, a refusal included, and an answer that is not a list of issues (ended 'failed': retrying the message
// would meet it every time and end in the DLQ; the next scheduled run tries again with the same link). GitHub not taking calls
// now (the breaker open, a Retry-After past this invocation, every try failed) fails the message and hides it
// until then, longer each receive, as the notification deliveries do.

/** Left of the Lambda's time after the fetch: sending the results (a few SendMessage calls, retried), the logs. */
const MARGIN_MS = 20_000;
/** Under SQS's 256 KiB per message (the body and its attributes), with room to spare. */
const RESULT_BYTES = 200_000;
/** TaskFlow's task limits: an imported issue longer than these is cut. */
const IMPORTED_TITLE_CHARS = 500;
const IMPORTED_BODY_CHARS = 20_000;

export const handler = sqsConsumer(GithubSyncRequest, async (request, delivery) => {
  let run;
  try {
    run = await fetchChangedIssues(request, { trace: delivery.trace, budgetMs: delivery.context.getRemainingTimeInMillis() - MARGIN_MS, log: delivery.log });
  } catch (error) {
    if (error instanceof BreakerOpen || error instanceof RetryLater || error instanceof IntegrationUnavailable) {
      // Every try failed: wait 30 s (longer each receive) rather than the queue's visibility timeout.
      await postpone(delivery, error instanceof IntegrationUnavailable ? POSTPONE_BASE_MS : error.retryAfterMs, { linkId: request.linkId, runId: request.runId, reason: error.message });
    }
    throw error;
  }
  const results = githubResults(request, run.issues, run.outcome);
  for (const result of results) await sendSyncResult(result, delivery);
  const log = run.outcome.status === 'failed' ? delivery.log.warn.bind(delivery.log) : delivery.log.info.bind(delivery.log);
  log('github sync run ended', { linkId: request.linkId, runId: request.runId, repository: request.repository, issues: run.issues.length, messages: results.length, outcome: run.outcome });
});

/**
 * The run's results as `syncResults` messages: the issues (cut to the task limits) in as many messages as keep
 * each well under SQS's limit, the last one with the outcome (a run without issues: one message, the outcome).
 */
function githubResults(request: GithubSyncRequest, issues: readonly ImportedIssue[], outcome: RunOutcome): SyncResult[] {
  const run = { runId: request.runId, linkId: request.linkId, organizationId: request.organizationId, projectId: request.projectId };
  const frame = bytes(JSON.stringify({ ...run, kind: 'github', issues: [], outcome }));
  const results: SyncResult[] = [];
  let current: ImportedIssue[] = [];
  let size = frame;
  for (const issue of issues.map(withinLimits)) {
    const issueBytes = bytes(JSON.stringify(issue)) + 1;
    if (current.length > 0 && size + issueBytes > RESULT_BYTES) {
      results.push({ ...run, kind: 'github', issues: current, outcome: null });
      current = [];
      size = frame;
    }
    current.push(issue);
    size += issueBytes;
  }
  results.push({ ...run, kind: 'github', issues: current, outcome });
  return results;
}

function withinLimits(issue: ImportedIssue): ImportedIssue {
  return { ...issue, title: cut(issue.title, IMPORTED_TITLE_CHARS), body: cut(issue.body, IMPORTED_BODY_CHARS) };
}

/** At most `chars` UTF-16 units, never half a surrogate pair. */
function cut(text: string, chars: number): string {
  if (text.length <= chars) return text;
  const code = text.charCodeAt(chars - 1);
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? chars - 1 : chars);
}

const bytes = (text: string) => Buffer.byteLength(text, 'utf8');
