-- Members (issue 17): a membership is recorded on a member's first request (tenancy.ts) and now also says when
-- the member was last seen and whether an admin removed them; removing keeps the row, so the tasks assigned to
-- them keep their assignee (tasks' foreign key) and show a removed member.
-- Notification preferences live on the membership (they are per organization); every change is also kept, under
-- the sequence number of its event, so the notifications worker applies to an event the preferences in effect
-- when it happened, however late it is taken into effect.

ALTER TABLE memberships ADD COLUMN last_seen_at timestamptz;
ALTER TABLE memberships ADD COLUMN removed_at timestamptz;
ALTER TABLE memberships ADD COLUMN notify_slack boolean NOT NULL DEFAULT true;
ALTER TABLE memberships ADD COLUMN notify_email boolean NOT NULL DEFAULT true;
ALTER TABLE memberships ADD COLUMN muted_project_ids uuid[] NOT NULL DEFAULT '{}';

CREATE TABLE preference_changes (
  organization_id text NOT NULL,
  user_id text NOT NULL,
  -- The event_log sequence number of the change (preferences.updated).
  seq bigint NOT NULL,
  notify_slack boolean NOT NULL,
  notify_email boolean NOT NULL,
  muted_project_ids uuid[] NOT NULL,
  PRIMARY KEY (organization_id, user_id, seq),
  FOREIGN KEY (organization_id, user_id) REFERENCES memberships (organization_id, user_id)
);
