import { syncOutage } from './sync-outage';

syncOutage('github', 'rate-limit');
