import * as members from '../functions/domain/member-schemas';
import * as s from '../functions/domain/schemas';
import { SYNC_EVERY_MINUTES } from '../functions/domain/sync-interval';
import * as sync from '../functions/domain/sync-schemas';
import {
  eventQueues,
  type AppDeclaration,
  type Capability,
  type FunctionDeclaration,
  type QueueDeclaration,
  type RouteDeclaration,
  type SloDeclaration,
  type WebSocketRouteDeclaration,
} from './declaration';

// The one declaration of TaskFlow: the CDK stacks, the local runtime and the OpenAPI document
// are all built from it. Adding a route is one entry in `routes` (plus its handler file).

// Every JWT route checks the caller's rate limits (httpHandler), so its function needs their table, and names
// the integrations whose breaker is open in its answers, so it reads the integrations table.
const api = (entry: string, description: string): FunctionDeclaration => ({
  entry: `functions/api/${entry}.ts`,
  description,
  needs: ['database', 'rate-limits', 'integrations'],
});
const worker = (entry: string, description: string, timeoutSeconds: number, needs: readonly Capability[], sendsTo: readonly string[] = []): FunctionDeclaration => ({
  entry: `functions/workers/${entry}.ts`,
  description,
  timeoutSeconds,
  needs,
  sendsTo,
});

// One queue per consumer; every queue has a dead-letter queue. Messages come from the outbox.
const queues = {
  notifications: {
    description: 'Task and comment events; the worker decides who is told what and queues one Slack message and one e-mail each',
    events: ['task.created', 'task.updated', 'comment.created'],
    consumer: worker('notifications', 'Turns events into notifications (assignee, @mentions, watchers)', 30, ['database'], ['slack', 'email']),
    batchSize: 10,
    maxReceiveCount: 3,
    // Each invocation holds a database connection: a backlog or a redrive must not crowd out the API.
    maxConcurrency: 5,
  },
  slack: {
    description: 'Slack direct messages to send (chat.postMessage)',
    // Two calls of at most 15 s each (5 s connect, 10 s read).
    consumer: worker('slack', 'Sends Slack direct messages, once each', 40, ['idempotency', 'slack', 'integrations']),
    integration: 'slack',
    batchSize: 10,
    // A refusal while Slack's breaker is open is a receive too; postponed longer each time (deliveries.ts),
    // ten receives last about half an hour of outage.
    maxReceiveCount: 10,
    // Slack's users.lookupByEmail allows about 50 calls a minute per workspace.
    maxConcurrency: 2,
  },
  email: {
    description: 'E-mails to send (SendGrid v3 mail send)',
    // Like Slack's: the idempotency writes, a 5 s connect and a 10 s read, with room to spare.
    consumer: worker('email', 'Sends e-mails through SendGrid, once each', 40, ['idempotency', 'sendgrid', 'integrations']),
    integration: 'sendgrid',
    batchSize: 10,
    // As Slack's.
    maxReceiveCount: 10,
    maxConcurrency: 5,
  },
  github: {
    description: 'GitHub sync runs: one message per linked repository and run, from the integration-sync schedule',
    // Pages of 100 issues at up to 40 s each (10 s connect, 30 s read), and the results sent on.
    consumer: worker('github', 'Fetches a linked repository\'s changed issues from GitHub', 300, ['github', 'integrations'], ['syncResults']),
    integration: 'github',
    batchSize: 1,
    // As Slack's: a refusal while the breaker is open is a receive, postponed longer each time.
    maxReceiveCount: 10,
    // GitHub allows 5,000 requests an hour per token, and asks for no concurrent requests per token.
    maxConcurrency: 2,
  },
  googleCalendar: {
    description: 'Google Calendar sync runs: one message per linked calendar and run, with the events to write or delete',
    consumer: worker('google-calendar', 'Writes and deletes the events of a linked Google calendar', 300, ['googleCalendar', 'integrations'], ['syncResults']),
    integration: 'googleCalendar',
    batchSize: 1,
    maxReceiveCount: 10,
    maxConcurrency: 2,
  },
  syncResults: {
    description: 'What a sync run found or did: GitHub issues to import as tasks, Google Calendar events written',
    // Imports write tasks, whose events go where every task event goes.
    consumer: worker('sync-results', 'Imports GitHub issues as tasks and records calendar events written', 60, ['database'], ['notifications', 'broadcast']),
    batchSize: 10,
    maxReceiveCount: 5,
    // Each invocation holds a database connection.
    maxConcurrency: 2,
  },
  broadcast: {
    description: 'Every event, for the activity feed: the worker pushes it to the WebSocket connections subscribed to it',
    events: [
      'project.created', 'project.updated', 'project.deleted', 'task.created', 'task.updated', 'task.deleted',
      'comment.created', 'comment.updated', 'comment.deleted', 'attachment.added', 'attachment.removed',
      // member.removed also closes the removed member's connections.
      'member.removed', 'watcher.added', 'watcher.removed', 'preferences.updated',
    ],
    // Out of the VPC: the @connections endpoint is public and no VPC endpoint serves it (it closes removed members' connections).
    consumer: worker('broadcast', 'Splits each batch of events into fan-out shards of the subscribed WebSocket connections', 30, ['connections', 'websocket'], ['feedFanout']),
    batchSize: 10,
    maxReceiveCount: 3,
    maxConcurrency: 5,
  },
  feedFanout: {
    description: 'Fan-out shards of the activity feed: a batch\'s events and up to 500 of an organization\'s connections to post them to',
    // 500 connections, 50 posts at once, 2 s at most a post: 20 s in the worst case, most of it skipped at the deadline.
    consumer: worker('feed-fanout', 'Posts a shard of a broadcast to its WebSocket connections', 30, ['connections', 'websocket']),
    // One shard per invocation: shards of one event run in parallel, and a slow one holds up only its own connections.
    batchSize: 1,
    // Only a message that is not a shard fails (posts that fail are counted, and the clients resume).
    maxReceiveCount: 3,
    // 10,000 connections are 20 shards: one event reaches them all at once. API Gateway's @connections rate is per
    // account and region (docs/runbooks/feed-fanout.md): 50 shards of 50 posts at once stay within it.
    maxConcurrency: 50,
    runbook: 'docs/runbooks/feed-fanout.md',
  },
  deletions: {
    description: 'Deleted projects (hidden at once by DELETE /projects/{projectId}) whose rows and files are still to remove',
    events: ['project.deleted'],
    // Batches of tasks, each a short transaction; a project too large for one invocation carries on at the next receive.
    consumer: worker('project-deletion', 'Removes a deleted project\'s tasks, comments, attachments, links and reports, and their files', 300, ['database', 'files', 'reports-remover']),
    batchSize: 1,
    // Each receive removes what fits in 270 s: ten of them remove a very large project before the DLQ (alarmed).
    maxReceiveCount: 10,
    // Each invocation holds a database connection.
    maxConcurrency: 2,
  },
} as const satisfies Record<string, QueueDeclaration>;

// Every POST/PATCH/DELETE takes an Idempotency-Key, so its function needs the idempotency table; it
// publishes its event's outbox entries at once after commit, so it may send to the queues events go to.
const mutation = (entry: string, description: string): FunctionDeclaration => ({
  ...api(entry, description),
  needs: ['database', 'rate-limits', 'integrations', 'idempotency'],
  sendsTo: eventQueues(queues),
});

// Attachments: the files bucket too.
const withFiles = (fn: FunctionDeclaration): FunctionDeclaration => ({ ...fn, needs: [...fn.needs, 'files'] });
// Reports: the bucket's reports/ prefix.
const withReports = (fn: FunctionDeclaration): FunctionDeclaration => ({ ...fn, needs: [...fn.needs, 'reports'] });

// The feed's WebSocket routes: registry work in DynamoDB, out of the VPC, except the replay, which reads event_log.
const ws = (entry: string, description: string, needs: readonly Capability[]): FunctionDeclaration => ({
  entry: `functions/ws/${entry}.ts`,
  description,
  memoryMb: 256,
  timeoutSeconds: 10,
  needs,
});

/**
 * The review's objectives (M1), over 30 days: availability 99.5 %, 5xx below 0.1 % per route group, p95 below
 * 500 ms per route group (as a ratio: 95 % of requests within 500 ms), and for the asynchronous paths the delays
 * a user notices: commit → feed frame within 5 s (p99), the outbox's oldest unpublished entry younger than 5 s,
 * a notification sent within 2 minutes of its event.
 */
const slos = {
  availability: {
    description: 'The API answers without a server error (every route group)',
    sli: { kind: 'errors', routeGroups: ['reads', 'mutations', 'feed'] },
    objective: 0.995, windowDays: 30, runbook: 'docs/runbooks/api-errors.md',
  },
  readErrors: {
    description: 'Reads (GET) answer without a server error',
    sli: { kind: 'errors', routeGroups: ['reads'] },
    objective: 0.999, windowDays: 30, runbook: 'docs/runbooks/api-errors.md',
  },
  mutationErrors: {
    description: 'Mutations (POST, PATCH, PUT, DELETE) answer without a server error',
    sli: { kind: 'errors', routeGroups: ['mutations'] },
    objective: 0.999, windowDays: 30, runbook: 'docs/runbooks/api-errors.md',
  },
  feedErrors: {
    description: 'Feed messages (connect, subscribe, resume) are handled without a server error',
    sli: { kind: 'errors', routeGroups: ['feed'] },
    objective: 0.999, windowDays: 30, runbook: 'docs/runbooks/feed-delivery.md',
  },
  readLatency: {
    description: 'Reads answer within 500 ms',
    sli: { kind: 'latency', routeGroups: ['reads'], thresholdMs: 500 },
    objective: 0.95, windowDays: 30, runbook: 'docs/runbooks/api-latency.md',
  },
  mutationLatency: {
    description: 'Mutations answer within 500 ms',
    sli: { kind: 'latency', routeGroups: ['mutations'], thresholdMs: 500 },
    objective: 0.95, windowDays: 30, runbook: 'docs/runbooks/api-latency.md',
  },
  feedLatency: {
    description: 'Feed messages are handled within 500 ms',
    sli: { kind: 'latency', routeGroups: ['feed'], thresholdMs: 500 },
    objective: 0.95, windowDays: 30, runbook: 'docs/runbooks/api-latency.md',
  },
  feedDelivery: {
    description: 'A committed change reaches the subscribed feed connections within 5 s',
    sli: { kind: 'delay', metric: 'FeedDeliveryMs', thresholdMs: 5_000 },
    objective: 0.99, windowDays: 30, runbook: 'docs/runbooks/feed-delivery.md',
  },
  outboxLag: {
    description: 'The outbox publishes every entry within 5 s of its commit',
    sli: { kind: 'delay', metric: 'OutboxOldestUnpublishedAgeSeconds', thresholdMs: 5_000 },
    objective: 0.99, windowDays: 30, runbook: 'docs/runbooks/outbox-lag.md',
  },
  notificationDelivery: {
    description: 'A notification is sent within 2 minutes of the change that caused it',
    sli: { kind: 'delay', metric: 'NotificationDeliveryMs', thresholdMs: 120_000 },
    objective: 0.99, windowDays: 30, runbook: 'docs/runbooks/notification-delivery.md',
  },
} satisfies Record<string, SloDeclaration>;

const webSocketRoutes = [
  {
    route: '$connect', replies: false,
    summary: 'Registers the connection (token and clientId in the query string); 429 past the organization\'s connection cap, 403 for a removed member',
    // The rate-limit table holds who was removed from their organization (functions/shared/removed-members.ts).
    function: ws('connect', 'Registers a WebSocket connection', ['connections', 'rate-limits']),
  },
  {
    route: '$disconnect', replies: false,
    summary: 'Removes the connection from the registry',
    function: ws('disconnect', 'Removes a WebSocket connection', ['connections']),
  },
  {
    route: 'subscribe', replies: true,
    summary: 'Receive the organization\'s events, or one project\'s ({"projectId"})',
    function: ws('subscribe', 'Subscribes a connection to the feed', ['connections']),
  },
  {
    route: 'resume', replies: true,
    summary: 'Replays the events after afterSeq (or the last ack) from event_log, one frame of at most 32 KB per message; resync_required past the replay window',
    function: ws('resume', 'Replays the activity feed from event_log', ['database', 'connections']),
  },
  {
    route: 'ack', replies: true,
    summary: 'Records how far this client (clientId) has processed the feed',
    function: ws('ack', 'Records a client\'s feed position', ['connections']),
  },
  {
    route: 'ping', replies: true,
    summary: 'Keepalive; answers pong with the organization\'s latest broadcast sequence number',
    function: ws('ping', 'Answers a keepalive', ['connections']),
  },
  {
    route: '$default', replies: true,
    summary: 'Any other message: an error frame naming the actions there are',
    function: ws('default', 'Answers an unknown action', []),
  },
] as const satisfies readonly WebSocketRouteDeclaration[];

const ifMatch = { 'If-Match': 'The task ETag; the alternative to `version` in the body' };
const etag = { ETag: 'The task version, for If-Match' };
const location = (path: string) => ({ Location: `The resource's path, ${path}` });

const routes = [
  {
    method: 'GET', path: '/health', operationId: 'getHealth', auth: 'none',
    summary: 'Liveness of the API and each dependency (503 when the database does not answer)',
    // Public: no caller, so no rate limits (API Gateway's stage throttling still applies).
    function: { ...api('health/get', 'Health check'), needs: ['database', 'connections'], timeoutSeconds: 10 },
    response: { status: 200, body: s.Health },
  },
  {
    method: 'GET', path: '/health/integrations', operationId: 'getIntegrationsHealth', auth: 'jwt',
    summary: 'Each integration\'s circuit breaker, last success and failure, backlog and dead-letter depth',
    function: { ...api('health/integrations', 'Integrations health'), needs: ['database', 'rate-limits', 'integrations', 'queue-status'] },
    response: { status: 200, body: s.IntegrationsHealth },
  },
  {
    method: 'POST', path: '/projects', operationId: 'createProject', auth: 'jwt',
    summary: 'Create a project (an `id` already used by this organization answers 200 with that project)', function: mutation('projects/create', 'Create a project'),
    request: { body: s.CreateProjectBody }, response: { status: 201, body: s.Project, headers: location('/projects/{projectId}') }, errors: [409],
  },
  {
    method: 'GET', path: '/projects', operationId: 'listProjects', auth: 'jwt',
    summary: 'List the organization\'s projects (the archived ones with `?archived=true`)', function: api('projects/list', 'List projects'),
    request: { query: s.ListProjectsQuery }, response: { status: 200, body: s.ProjectPage },
  },
  {
    method: 'GET', path: '/projects/{projectId}', operationId: 'getProject', auth: 'jwt',
    summary: 'Get a project', function: api('projects/get', 'Get a project'),
    response: { status: 200, body: s.Project }, errors: [404],
  },
  {
    method: 'PATCH', path: '/projects/{projectId}', operationId: 'updateProject', auth: 'jwt',
    summary: 'Rename, describe, archive (`archived`: true; read-only, out of the list, not synced, reported or notified) or unarchive a project',
    function: mutation('projects/update', 'Update a project'),
    request: { body: s.UpdateProjectBody }, response: { status: 200, body: s.Project }, errors: [404, 409],
  },
  {
    method: 'DELETE', path: '/projects/{projectId}', operationId: 'deleteProject', auth: 'jwt',
    summary: 'Delete a project (an organization admin): hidden at once, its tasks, comments, attachments (and files), links and reports removed in the background, its quota counts freed',
    function: mutation('projects/delete', 'Delete a project'),
    response: { status: 204 }, errors: [403, 404],
  },
  {
    method: 'POST', path: '/projects/{projectId}/tasks', operationId: 'createTask', auth: 'jwt',
    summary: 'Create a task in a project (an `id` already used answers 200 with that task)', function: mutation('tasks/create', 'Create a task'),
    request: { body: s.CreateTaskBody }, response: { status: 201, body: s.Task, headers: { ...etag, ...location('/tasks/{taskId}') } }, errors: [404, 409, 422],
  },
  {
    method: 'GET', path: '/projects/{projectId}/tasks', operationId: 'listTasks', auth: 'jwt',
    summary: 'List a project\'s tasks (filters, cursor pagination)', function: api('tasks/list', 'List tasks'),
    request: { query: s.ListTasksQuery }, response: { status: 200, body: s.TaskPage }, errors: [404],
  },
  {
    method: 'GET', path: '/tasks/{taskId}', operationId: 'getTask', auth: 'jwt',
    summary: 'Get a task', function: api('tasks/get', 'Get a task'),
    response: { status: 200, body: s.Task, headers: etag }, errors: [404],
  },
  {
    method: 'PATCH', path: '/tasks/{taskId}', operationId: 'updateTask', auth: 'jwt',
    summary: 'Update a task: `version` in the body or If-Match; a stale update is merged when it can be, else 409',
    function: mutation('tasks/update', 'Update a task'),
    request: { body: s.UpdateTaskBody, headers: ifMatch },
    response: { status: 200, body: s.TaskUpdate, headers: etag }, errors: [404, 409, 422, 428, 503],
  },
  {
    method: 'DELETE', path: '/tasks/{taskId}', operationId: 'deleteTask', auth: 'jwt',
    summary: 'Delete a task and its comments', function: mutation('tasks/delete', 'Delete a task'),
    response: { status: 204 }, errors: [404, 409],
  },
  {
    method: 'POST', path: '/tasks/{taskId}/comments', operationId: 'createComment', auth: 'jwt',
    summary: 'Comment on a task (an `id` already used answers 200 with that comment)', function: mutation('comments/create', 'Create a comment'),
    request: { body: s.CreateCommentBody }, response: { status: 201, body: s.Comment }, errors: [404, 409],
  },
  {
    method: 'GET', path: '/tasks/{taskId}/comments', operationId: 'listComments', auth: 'jwt',
    summary: 'List a task\'s comments, oldest first', function: api('comments/list', 'List comments'),
    request: { query: s.ListCommentsQuery }, response: { status: 200, body: s.CommentPage }, errors: [404],
  },
  {
    method: 'PATCH', path: '/comments/{commentId}', operationId: 'updateComment', auth: 'jwt',
    summary: 'Edit a comment (its author): `version` in the body or If-Match; a stale edit answers 409 with the comment as it is',
    function: mutation('comments/update', 'Edit a comment'),
    request: { body: s.UpdateCommentBody, headers: { 'If-Match': 'The comment ETag; the alternative to `version` in the body' } },
    response: { status: 200, body: s.Comment, headers: { ETag: 'The comment version, for If-Match' } }, errors: [403, 404, 409, 428],
  },
  {
    method: 'DELETE', path: '/comments/{commentId}', operationId: 'deleteComment', auth: 'jwt',
    summary: 'Delete a comment (its author or an organization admin)',
    function: mutation('comments/delete', 'Delete a comment'),
    response: { status: 204 }, errors: [403, 404],
  },
  {
    method: 'POST', path: '/tasks/{taskId}/attachments', operationId: 'startAttachmentUpload', auth: 'jwt',
    summary: 'Start an upload: a presigned S3 POST (the declared type and size, at most 50 MB, 15 minutes); nothing is recorded until confirmed',
    function: withFiles(mutation('attachments/start', 'Start an attachment upload')),
    request: { body: s.CreateAttachmentBody }, response: { status: 201, body: s.UploadForm }, errors: [404, 409],
  },
  {
    method: 'POST', path: '/attachments/{attachmentId}/confirm', operationId: 'confirmAttachment', auth: 'jwt',
    summary: 'Record an uploaded file (201; a repeated confirm answers 200 with the same attachment; no upload: 404)',
    function: withFiles(mutation('attachments/confirm', 'Confirm an attachment upload')),
    response: { status: 201, body: s.Attachment }, errors: [404, 409],
  },
  {
    method: 'GET', path: '/tasks/{taskId}/attachments', operationId: 'listAttachments', auth: 'jwt',
    summary: 'A task\'s attachments, each with a download link valid for 5 minutes',
    function: withFiles(api('attachments/list', 'List attachments')),
    response: { status: 200, body: s.AttachmentList }, errors: [404],
  },
  {
    method: 'GET', path: '/attachments/{attachmentId}', operationId: 'getAttachment', auth: 'jwt',
    summary: 'An attachment with a download link valid for 5 minutes',
    function: withFiles(api('attachments/get', 'Get an attachment')),
    response: { status: 200, body: s.AttachmentWithLink }, errors: [404],
  },
  {
    method: 'DELETE', path: '/attachments/{attachmentId}', operationId: 'deleteAttachment', auth: 'jwt',
    summary: 'Delete an attachment (the bucket keeps the object\'s version)',
    function: withFiles(mutation('attachments/delete', 'Delete an attachment')),
    response: { status: 204 }, errors: [404, 409],
  },
  {
    method: 'POST', path: '/projects/{projectId}/links', operationId: 'createLink', auth: 'jwt',
    summary: 'Link the project (an organization admin) to a GitHub repository (its issues are imported as tasks) or a Google calendar (tasks with a due date become events); synced every 5 minutes. The same link again answers 200 with it',
    function: mutation('links/create', 'Link a repository or a calendar'),
    request: { body: sync.CreateLinkBody }, response: { status: 201, body: sync.Link }, errors: [403, 404, 409],
  },
  {
    method: 'GET', path: '/projects/{projectId}/links', operationId: 'listLinks', auth: 'jwt',
    summary: 'The project\'s links, each with its last sync result',
    function: api('links/list', 'List links'),
    response: { status: 200, body: sync.LinkList }, errors: [404],
  },
  {
    method: 'DELETE', path: '/links/{linkId}', operationId: 'deleteLink', auth: 'jwt',
    summary: 'Unlink a repository or a calendar (an organization admin): syncing stops; imported tasks and written events stay',
    function: mutation('links/delete', 'Unlink a repository or a calendar'),
    response: { status: 204 }, errors: [403, 404, 409],
  },
  {
    method: 'GET', path: '/projects/{projectId}/reports', operationId: 'listReports', auth: 'jwt',
    summary: 'The project\'s weekly reports, newest first, each with a download link valid for 5 minutes',
    function: withReports(api('reports/list', 'List weekly reports')),
    request: { query: sync.ListReportsQuery }, response: { status: 200, body: sync.ReportPage }, errors: [404],
  },
  {
    method: 'GET', path: '/organization/usage', operationId: 'getUsage', auth: 'jwt',
    summary: 'The organization\'s plan and its usage against each quota',
    function: api('organization/usage', 'Usage against the plan'),
    response: { status: 200, body: s.Usage },
  },
  {
    method: 'GET', path: '/activity', operationId: 'listActivity', auth: 'jwt',
    summary: 'The organization\'s events after afterSeq, in order (the feed\'s catch-up when a replay answers resync_required)',
    function: api('activity/list', 'List activity'),
    request: { query: s.ActivityQuery }, response: { status: 200, body: s.ActivityPage },
  },
  {
    method: 'GET', path: '/feed/connections', operationId: 'getFeedConnections', auth: 'jwt',
    summary: 'The organization\'s activity-feed connections against its cap: after a refused WebSocket handshake, a 401 here says the token was refused, `atCap` that the organization is at its connection cap',
    function: { ...api('feed/connections', 'Feed connections against the cap'), needs: ['database', 'rate-limits', 'integrations', 'connections'] },
    response: { status: 200, body: s.FeedConnections },
  },
  {
    method: 'GET', path: '/me', operationId: 'getMe', auth: 'jwt',
    summary: 'The caller: who they are in this organization, its plan and their notification preferences',
    function: api('me/get', 'The caller'),
    response: { status: 200, body: members.Me },
  },
  {
    method: 'GET', path: '/me/preferences', operationId: 'getPreferences', auth: 'jwt',
    summary: 'The caller\'s notification preferences in this organization',
    function: api('me/preferences-get', 'Notification preferences'),
    response: { status: 200, body: members.Preferences },
  },
  {
    method: 'PATCH', path: '/me/preferences', operationId: 'updatePreferences', auth: 'jwt',
    summary: 'Turn Slack or e-mail notifications on or off, or mute projects (for events after the change); a muted project of another organization is 404',
    function: mutation('me/preferences-update', 'Update notification preferences'),
    request: { body: members.UpdatePreferencesBody }, response: { status: 200, body: members.Preferences }, errors: [404],
  },
  {
    method: 'GET', path: '/members', operationId: 'listMembers', auth: 'jwt',
    summary: 'The organization\'s members (whoever has made a request), in the order they joined; `q` matches a name or an e-mail',
    function: api('members/list', 'List members'),
    request: { query: members.ListMembersQuery }, response: { status: 200, body: members.MemberPage },
  },
  {
    method: 'DELETE', path: '/members/{userId}', operationId: 'removeMember', auth: 'jwt',
    summary: 'Remove a member (an organization admin): their requests are refused (403 MEMBER_REMOVED) and their feed connections closed; their assignments stay',
    function: mutation('members/delete', 'Remove a member'),
    response: { status: 204 }, errors: [404],
  },
  {
    method: 'GET', path: '/tasks/{taskId}/watchers', operationId: 'listWatchers', auth: 'jwt',
    summary: 'Who watches the task (status changes notify them): its creator, assignee and commenters, and who chose to, less who chose not to',
    function: api('watchers/list', 'List a task\'s watchers'),
    response: { status: 200, body: members.WatcherList }, errors: [404],
  },
  {
    method: 'PUT', path: '/tasks/{taskId}/watchers/me', operationId: 'watchTask', auth: 'jwt',
    summary: 'Watch the task',
    function: mutation('watchers/watch', 'Watch a task'),
    response: { status: 204 }, errors: [404, 409],
  },
  {
    method: 'DELETE', path: '/tasks/{taskId}/watchers/me', operationId: 'unwatchTask', auth: 'jwt',
    summary: 'Stop watching the task (also as its creator, assignee or a commenter)',
    function: mutation('watchers/unwatch', 'Stop watching a task'),
    response: { status: 204 }, errors: [404, 409],
  },
  {
    method: 'GET', path: '/search', operationId: 'search', auth: 'jwt',
    summary: 'Full-text search over the organization\'s tasks and comments',
    function: api('search/get', 'Search tasks and comments'),
    request: { query: s.SearchQuery }, response: { status: 200, body: s.SearchResults },
  },
] as const satisfies readonly RouteDeclaration[];

export const taskflow = {
  name: 'TaskFlow',
  functions: {
    authorizer: {
      entry: 'functions/authorizer/handler.ts',
      description: 'Verifies RS256 bearer JWTs against the issuer JWKS',
      memoryMb: 256,
      timeoutSeconds: 10,
      needs: ['auth'],
    },
    preTrafficHook: {
      entry: 'functions/workers/pre-traffic-hook.ts',
      description: 'CodeDeploy pre-traffic hook: runs the synthetic transaction against a function\'s new version before any traffic moves to it',
      // The transaction has 2 minutes; the report to CodeDeploy comes after it, whatever happened.
      timeoutSeconds: 180,
      needs: ['synthetic-transaction'],
    },
    restoreValidation: {
      entry: 'functions/workers/restore-validation.ts',
      description: 'Checks the database a weekly AWS Backup restore test restored, reports the result and the measured RTO and RPO',
      // A cold connection to a fresh instance, four aggregate reads over every table, two Backup calls.
      timeoutSeconds: 300,
      needs: ['database-admin'],
    },
    migrate: {
      entry: 'functions/migrate/handler.ts',
      description: 'Applies SQL migrations during deploy, before new API code takes traffic',
      timeoutSeconds: 300,
      needs: ['database-admin'],
    },
  },
  routes,
  websocket: { routes: webSocketRoutes },
  tables: {
    idempotency: {
      partitionKey: 'id',
      timeToLiveAttribute: 'expiration',
      description: 'Powertools idempotency records: Idempotency-Keys (24 h) and sent notifications (14 days)',
    },
    rateLimits: {
      partitionKey: 'id',
      // Idle buckets and past hours' counts vanish on their own.
      timeToLiveAttribute: 'expiration',
      description: 'Rate limits: token buckets per user, organization and client address, and requests per organization and hour',
    },
    integrations: {
      partitionKey: 'id',
      description: 'Third-party integrations: each one\'s circuit breaker (shared by every Lambda environment), last success and last failure',
    },
    connections: {
      partitionKey: 'pk',
      sortKey: 'sk',
      // Connections end within API Gateway's 2 hours even when $disconnect never comes; acks after 30 days.
      timeToLiveAttribute: 'expiration',
      description: 'The activity feed: WebSocket connections by organization, each organization\'s latest broadcast sequence number, clients\' acknowledged positions, the last probe result',
    },
  },
  queues,
  slos,
  schedules: {
    attachmentSweep: {
      description: 'Removes attachment records whose object is gone',
      // Removing a record is an attachment.removed event, published like the API's mutations.
      function: worker('attachment-sweep', 'Removes attachment records whose object is gone', 300, ['database', 'files'], eventQueues(queues)),
      everyMinutes: 24 * 60,
    },
    feedProbe: {
      description: 'Synthetic check of the activity feed: connects, subscribes, changes the probe project and times the event\'s arrival',
      function: worker('feed-probe', 'Times an event from commit to WebSocket frame', 30, ['feed-probe', 'connections']),
      everyMinutes: 5,
    },
    syntheticCanary: {
      description: 'The synthetic transaction over the REST API, as a user: a task, its status, a comment, a file uploaded and confirmed, their events on the feed; then it cleans up',
      // The probe's client credentials and organization, the public API URL.
      function: worker('synthetic-canary', 'Runs the synthetic transaction against the live API', 60, ['feed-probe']),
      everyMinutes: 5,
    },
    integrationSync: {
      description: 'Starts a sync run for every GitHub and Google Calendar link that is due and has none in flight',
      function: worker('integration-sync', 'Dispatches the due sync runs to the github and googleCalendar queues', 60, ['database'], ['github', 'googleCalendar']),
      everyMinutes: SYNC_EVERY_MINUTES,
    },
    weeklyReport: {
      description: 'Writes each project\'s report of the week that ended (to S3) and e-mails it to the members, once per project and week',
      function: worker('weekly-report', 'Writes and e-mails the weekly project reports', 300, ['database', 'read-replica', 'reports-writer'], ['email']),
      // Reports are weekly; the job runs daily so a project that failed, or a run cut short, is done the next day
      // (a run with nothing left to do costs one query).
      everyMinutes: 24 * 60,
    },
    replicaHeartbeat: {
      description: 'Writes the replication heartbeat on the primary and publishes how long the read replica took to show it (ReplicaLagSeconds); without a replica, does nothing',
      function: worker('replica-heartbeat', 'Measures the read replica\'s lag from a heartbeat write', 30, ['database', 'read-replica']),
      everyMinutes: 1,
    },
    outboxRelay: {
      description: 'Publishes the outbox entries the fast path missed; runs for most of its timeout, polling, so runs overlap',
      function: worker('outbox-relay', 'Publishes unpublished outbox entries to their queues', 90, ['database'], Object.keys(queues)),
      everyMinutes: 1,
    },
  },
} as const satisfies AppDeclaration;
