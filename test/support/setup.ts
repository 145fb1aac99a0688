import { inject } from 'vitest';

// Handlers read DATABASE_URL when they first query, as in Lambda.
process.env.DATABASE_URL = inject('databaseUrl');
