import { notificationOutage } from './notification-outage';

notificationOutage('slack', 'rate-limit');
