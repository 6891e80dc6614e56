-- Congestion (the network or the trunk refused the call) had no automatic wrap-up code:
-- such attempts were settled with a bare telephony label and no retry delay of their own.
-- Like Busy, it is worth another try soon; the campaign's cadence can still override it.
INSERT INTO wrapup_codes (code_set_id, label, outcome_class, retry_after, is_system)
SELECT NULL, 'Congestion', 'retry', interval '30 minutes', true
WHERE NOT EXISTS (SELECT 1 FROM wrapup_codes WHERE code_set_id IS NULL AND lower(label) = 'congestion');
