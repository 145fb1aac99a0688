/** The feed's limits, from the environment so a test or an operator can set them (docs/feed.md). */
export const feedSettings = () => ({
  /** WebSocket connections per organization. */
  connectionCap: positive('FEED_CONNECTION_CAP', 10_000),
  /** How many of the latest events a `resume` replays; an older position answers resync_required. */
  replayWindow: positive('FEED_REPLAY_WINDOW', 10_000),
});

function positive(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  return Number.isInteger(value) && value > 0 ? value : fallback;
}
