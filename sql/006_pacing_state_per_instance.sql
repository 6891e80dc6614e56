-- The pacer's snapshot per orchestrator instance. Several instances may dial one predictive
-- campaign; each paces its own calls and keeps its own abandon counts under the cap (so
-- their sum is under it too). With one row per campaign the last instance to save won,
-- and a restarted instance could take up another's counts and forget its own abandons.
-- '' is a snapshot of no particular instance (saved before this migration): an instance
-- with no row of its own starts from it.
ALTER TABLE campaign_pacing_state
    ADD COLUMN instance_id text NOT NULL DEFAULT '' CHECK (length(instance_id) <= 200);
ALTER TABLE campaign_pacing_state DROP CONSTRAINT campaign_pacing_state_pkey;
ALTER TABLE campaign_pacing_state ADD PRIMARY KEY (campaign_id, instance_id);
