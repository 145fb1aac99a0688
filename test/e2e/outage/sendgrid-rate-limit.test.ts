import { notificationOutage } from './notification-outage';

notificationOutage('sendgrid', 'rate-limit');
