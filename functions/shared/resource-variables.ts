// The environment variables through which a function finds its declared resources. CDK (lib/constructs) and the
// local runtime (lib/local) set them from the declaration; the functions read them. Declared here, below both,
// so Lambda code never imports the infrastructure code.

/** `idempotency` → IDEMPOTENCY_TABLE_NAME: the variable that names a declared table to its functions. */
export const tableNameVariable = (name: string) => `${name.toUpperCase()}_TABLE_NAME`;

/** `notifications` → NOTIFICATIONS_QUEUE_URL: the variable that gives a declared queue's URL to its senders. */
export const queueUrlVariable = (name: string) => `${name.toUpperCase()}_QUEUE_URL`;
