import { notificationOutage } from './notification-outage';

notificationOutage('sendgrid', 'slow');
