import { syncOutage } from './sync-outage';

syncOutage('googleCalendar', 'slow');
