import { type CapabilityModule, required } from './capability';
import { cachedSecretsExtension } from './third-party';

/**
 * The synthetic feed probe's settings: the public WebSocket and REST URLs (WEBSOCKET_URL, API_URL) and the OAuth client
 * credentials it gets a token with (FEED_PROBE_CREDENTIALS, a secret read through the extension). Out of the VPC: it
 * connects as a browser would.
 */
export const feedProbe: CapabilityModule = {
  summary: 'The public WebSocket and REST URLs and the probe\'s OAuth client credentials; out of the VPC, as a browser',
  network: 'internet',
  internetBecause:
    'it connects to the public WebSocket and REST URLs as a browser would, which from the VPC are as far out of reach as the ' +
    '@connections endpoint (no NAT)',
  aws(platform) {
    const missing = 'the integration settings (its credentials), the WebSocket settings and the REST API URL';
    const secret = required(platform.credentials, 'feed-probe', missing).feedProbe;
    return {
      paramsAndSecrets: cachedSecretsExtension(),
      environment: {
        WEBSOCKET_URL: required(platform.webSocket, 'feed-probe', missing).url,
        API_URL: required(platform.apiUrl, 'feed-probe', missing),
        FEED_PROBE_CREDENTIALS_SECRET_ARN: secret.secretArn,
      },
      grant: (fn) => secret.grantRead(fn),
    };
  },
  local: ({ websocket, api, feedProbeCredentials }) => ({
    WEBSOCKET_URL: websocket.url,
    API_URL: api.url,
    FEED_PROBE_CREDENTIALS: feedProbeCredentials,
  }),
};
