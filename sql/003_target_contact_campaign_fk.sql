-- A target's campaign is its contact's campaign, and one composite foreign key now says
-- so: targets (contact_id, campaign_id) -> contacts (id, campaign_id). It replaces the two
-- single-column keys (targets.contact_id -> contacts, targets.campaign_id -> campaigns),
-- which allowed a target whose campaign differed from its contact's. Deleting a campaign
-- still deletes its targets (campaign -> contacts -> targets, both ON DELETE CASCADE).
-- Why: each foreign key is a per-row trigger query; a contacts import checked three
-- references per contact with 1.6 numbers, now two (docs/benchmarks/import.md).
ALTER TABLE contacts ADD CONSTRAINT contacts_id_campaign_key UNIQUE (id, campaign_id);
ALTER TABLE targets
    ADD CONSTRAINT targets_contact_campaign_fkey FOREIGN KEY (contact_id, campaign_id)
        REFERENCES contacts (id, campaign_id) ON DELETE CASCADE;
ALTER TABLE targets DROP CONSTRAINT targets_contact_id_fkey;
ALTER TABLE targets DROP CONSTRAINT targets_campaign_id_fkey;
