import { syncOutage } from './sync-outage';

syncOutage('github', 'down');
