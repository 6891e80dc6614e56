-- Runtime support for the data layer (orchestrator/ledger/claims.py, attempts.py):
-- instance heartbeats for reconciliation, DB-level idempotency of attempt events,
-- and indexes for the claim query, the call caps and lease release.

-- One row per orchestrator instance. An instance whose heartbeat is stale no longer
-- owns its attempts: another instance reconciles them against Asterisk.
CREATE TABLE orchestrator_instances (
    instance_id   text PRIMARY KEY CHECK (length(instance_id) BETWEEN 1 AND 200),
    started_at    timestamptz NOT NULL DEFAULT now(),
    heartbeat_at  timestamptz NOT NULL DEFAULT now()
);

-- A replayed event (after a reconnect) must not count twice: single-occurrence kinds
-- appear once per attempt; repeatable kinds are deduplicated by an optional data->>'key'.
CREATE UNIQUE INDEX attempt_events_once ON attempt_events (attempt_id, kind)
    WHERE kind IN ('created', 'originated', 'ringing', 'answered', 'amd', 'bridged',
                   'abandoned', 'ended', 'dispositioned');
CREATE UNIQUE INDEX attempt_events_keyed ON attempt_events (attempt_id, kind, (data->>'key'))
    WHERE data ? 'key';

-- The claim query skips contacts with an attempt awaiting its disposition.
CREATE INDEX attempts_undispositioned ON attempts (contact_id) WHERE dispositioned_at IS NULL;
-- Concurrent-call caps count live attempts per campaign.
CREATE INDEX attempts_live_campaign ON attempts (campaign_id) WHERE ended_at IS NULL;
-- Releasing an instance's leases.
CREATE INDEX targets_lease_owner ON targets (lease_owner) WHERE lease_owner IS NOT NULL;
-- Reports: attempts in a time window and per agent.
CREATE INDEX attempts_campaign_answered ON attempts (campaign_id, answered_at) WHERE answered_at IS NOT NULL;
CREATE INDEX agent_state_history_campaign_at ON agent_state_history (campaign_id, at);
