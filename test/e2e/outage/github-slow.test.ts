import { syncOutage } from './sync-outage';

syncOutage('github', 'slow');
