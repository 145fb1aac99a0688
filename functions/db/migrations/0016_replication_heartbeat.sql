-- Issue 15 (review S4): a heartbeat the primary writes every minute (the replicaHeartbeat schedule), so the read
-- replica's lag is measured from a fresh write — an idle primary does not read as lag — and the weekly reports
-- can tell a lagging replica from a fresh one before they read it. One row.
CREATE TABLE replication_heartbeat (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO replication_heartbeat DEFAULT VALUES;
