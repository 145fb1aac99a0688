import { notificationOutage } from './notification-outage';

notificationOutage('slack', 'down');
