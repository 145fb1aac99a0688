import { syncOutage } from './sync-outage';

syncOutage('googleCalendar', 'rate-limit');
