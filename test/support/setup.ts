import { afterAll, inject } from 'vitest';
import { closeDatabase } from '../../functions/shared/db';

// Handlers read DATABASE_URL when they first query, as in Lambda.
process.env.DATABASE_URL = inject('databaseUrl');
Object.assign(process.env, inject('dynamoDbEnvironment'), inject('sqsEnvironment'), inject('s3Environment'));

afterAll(closeDatabase);
