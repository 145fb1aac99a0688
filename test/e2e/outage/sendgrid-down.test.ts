import { notificationOutage } from './notification-outage';

notificationOutage('sendgrid', 'down');
