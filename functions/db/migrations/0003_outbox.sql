-- Transactional outbox (review C1): a mutation writes its event's messages here in the same statement
-- as the change; they are published to SQS right after commit (the fast path) or by the scheduled
-- relay. Consumers record what they have consumed, so a message delivered twice has its effect once.

CREATE TABLE outbox (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id text NOT NULL,
  -- The event (event_log.id) this message is about; consumers deduplicate on it.
  event_id uuid NOT NULL,
  -- A declared queue (lib/app.ts).
  destination text NOT NULL,
  body jsonb NOT NULL,
  request_id text,
  traceparent text,
  created_at timestamptz NOT NULL DEFAULT now(),
  -- The lease: nobody publishes the entry before this time. The fast path holds it briefly after commit;
  -- the relay takes it when it claims the entry and, after a failed publish, sets it to the retry time.
  locked_until timestamptz NOT NULL DEFAULT now(),
  attempts bigint NOT NULL DEFAULT 0,
  last_error text,
  published_at timestamptz
);
-- What the relay claims (and measures the age of): the unpublished entries only.
CREATE INDEX outbox_unpublished_idx ON outbox (locked_until) WHERE published_at IS NULL;
CREATE INDEX outbox_published_idx ON outbox (published_at) WHERE published_at IS NOT NULL;

-- Events a consumer has taken effect for (the idempotent-consumer inbox).
CREATE TABLE consumed_events (
  consumer text NOT NULL,
  event_id uuid NOT NULL,
  consumed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, event_id)
);

-- Who was told what: one row per notification (its Slack message and e-mail carry its id).
CREATE TABLE notifications (
  id uuid PRIMARY KEY,
  organization_id text NOT NULL,
  event_id uuid NOT NULL,
  user_id text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('assigned', 'mentioned', 'status_changed')),
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notifications_user_idx ON notifications (organization_id, user_id, created_at);
