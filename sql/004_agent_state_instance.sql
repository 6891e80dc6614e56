-- Which orchestrator instance hosted the agent session that recorded a state. After a
-- crash, an instance tells an agent bridge left behind by a dead process (its agent's
-- last state was recorded by that process) from the bridge of an agent logged in on
-- another live instance (reconciliation destroys the first, never the second).
ALTER TABLE agent_state_history ADD COLUMN instance_id text
    CHECK (instance_id IS NULL OR length(instance_id) BETWEEN 1 AND 200);
