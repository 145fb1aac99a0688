// The database's name, port and roles: the database construct creates them, the capabilities connect with them.

export const DATABASE_NAME = 'taskflow';
export const DATABASE_PORT = 5432;

export const DATABASE_USERS = {
  /** Owner of the schema: the deploy-time migrate function only, straight to the instance. */
  master: 'taskflow_admin',
  /** Data access only: every other function, through the proxy with IAM authentication. */
  app: 'taskflow_app',
  /** Reads the replica with IAM auth (the migrate function creates it: functions/migrate/handler.ts READER_ROLE). */
  reader: 'taskflow_reader',
} as const;
