/**
 * How often a sync run starts for every link that waits for nothing (the integrationSync schedule, lib/app.ts): a
 * link whose run ended well is due at the next dispatch, this long after the one that started that run.
 */
export const SYNC_EVERY_MINUTES = 5;
