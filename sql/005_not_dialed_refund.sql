-- A call written ahead but never placed (the agent's leg failed before the customer was
-- dialed) ends 'not_dialed'. It stays in the contact's history, but it was no call: it
-- gives back the attempt it took from the target's and the contact's counters (so a
-- failing agent phone cannot exhaust a list) and the "last call" instants it set (so it
-- starts no minimum gap between calls to the number). A preview "disposition without
-- dialing" is inserted already ended and keeps counting: an agent settled the target.
CREATE FUNCTION attempts_refund_not_dialed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE targets
       SET attempts_made = GREATEST(attempts_made - 1, 0),
           last_attempt_at = (SELECT max(a.created_at) FROM attempts a
                               WHERE a.target_id = NEW.target_id AND a.id <> NEW.id)
     WHERE id = NEW.target_id;
    UPDATE contacts SET attempts_made = GREATEST(attempts_made - 1, 0) WHERE id = NEW.contact_id;
    UPDATE phone_numbers
       SET last_call_at = (SELECT max(a.created_at) FROM attempts a
                            WHERE a.e164 = NEW.e164 AND a.id <> NEW.id
                              AND a.outcome IS DISTINCT FROM 'not_dialed')
     WHERE e164 = NEW.e164;
    RETURN NULL;
END $$;
CREATE TRIGGER attempts_refund_not_dialed AFTER UPDATE OF outcome ON attempts
    FOR EACH ROW WHEN (NEW.outcome = 'not_dialed' AND OLD.outcome IS NULL)
    EXECUTE FUNCTION attempts_refund_not_dialed();

-- Attempts by number (any campaign), for the number's last-call recomputation above.
CREATE INDEX IF NOT EXISTS attempts_e164 ON attempts (e164);
