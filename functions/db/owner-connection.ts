import pg from 'pg';
import { requiredEnv } from '../shared/env';
import { logger } from '../shared/logger';
import { readSecret } from '../shared/secrets';

// The database owner's connection (the master secret, DB_MASTER_SECRET_ARN): the deploy-time migrations
// (functions/migrate/handler.ts) and the weekly restore test's checks of a restored copy (functions/workers/restore-validation.ts).

export interface DbSecret {
  username: string;
  password: string;
  host?: string;
  port?: number;
  dbname?: string;
}

export async function readDbSecret(arn: string): Promise<DbSecret> {
  return JSON.parse(await readSecret(arn)) as DbSecret;
}

/** Connects as the owner to DB_HOST, or to `host` (a restored copy of the instance). */
export async function connectAsOwner({ host }: { host?: string } = {}): Promise<pg.Client> {
  for (let attempt = 1; ; attempt += 1) {
    const owner = await readDbSecret(requiredEnv('DB_MASTER_SECRET_ARN'));
    const client = new pg.Client({
      host: host ?? process.env.DB_HOST ?? owner.host,
      port: Number(process.env.DB_PORT ?? owner.port ?? 5432),
      database: process.env.DB_NAME ?? owner.dbname,
      user: owner.username,
      password: owner.password,
      // RDS forces TLS; DB_TLS=disable is for a server without it (the handlers' own tests).
      ssl: process.env.DB_TLS === 'disable' ? false : { rejectUnauthorized: true },
      connectionTimeoutMillis: 10_000,
    });
    try {
      await client.connect();
      return client;
    } catch (error) {
      // 28P01: the password was rotated between reading the secret and connecting; read it again.
      if ((error as { code?: string }).code !== '28P01' || attempt >= 2) throw error;
      logger.warn('owner password was rejected; re-reading the rotated secret');
    }
  }
}
