-- Callbacks are dialed (issue 13, MISSION F): scheduled, personal, web and queue (courtesy)
-- callbacks are claimed when due under a lease (FOR UPDATE SKIP LOCKED, as targets are),
-- written ahead like any attempt (attempts.callback_id links the two), and say why they
-- wait (waiting_reason). A callback ends done, failed, missed (its window passed) or
-- deleted; none is ever dropped silently.

ALTER TABLE callbacks
    ADD COLUMN waiting_reason   text CHECK (waiting_reason IS NULL OR length(waiting_reason) <= 200),
    -- Not looked at again before this instant (a retry delay, a rule's next opening).
    ADD COLUMN next_try_at      timestamptz,
    -- Claim lease: the instance that is placing the callback (or showing it in preview).
    ADD COLUMN lease_owner      text,
    ADD COLUMN lease_expires_at timestamptz,
    -- The attempt in progress, else the last one.
    ADD COLUMN attempt_id       uuid REFERENCES attempts(id) ON DELETE SET NULL,
    -- A queue callback's place in its Asterisk queue when the caller asked (1 = head).
    ADD COLUMN queue_position   integer CHECK (queue_position IS NULL OR queue_position >= 1),
    -- The channel that asked for a queue callback (FastAGI's agi_channel).
    ADD COLUMN source_channel   text CHECK (source_channel IS NULL OR length(source_channel) <= 200),
    -- How it ended, in words: answered, no answer after 3 attempts, deleted by ...
    ADD COLUMN result           text CHECK (result IS NULL OR length(result) <= 200),
    ADD COLUMN deleted_by       text CHECK (deleted_by IS NULL OR length(deleted_by) <= 200),
    ADD COLUMN updated_at       timestamptz NOT NULL DEFAULT now();

-- 'dialing': an attempt is written ahead for it; 'missed': its window passed undialed.
ALTER TABLE callbacks DROP CONSTRAINT callbacks_status_check;
ALTER TABLE callbacks ADD CONSTRAINT callbacks_status_check
    CHECK (status IN ('pending', 'offered', 'dialing', 'done', 'failed', 'missed', 'deleted'));

DROP INDEX callbacks_due;
CREATE INDEX callbacks_due ON callbacks (window_start, id) WHERE status = 'pending';
-- A contact with an open callback is dialed only through it (the claim query skips it).
CREATE INDEX callbacks_open_contact ON callbacks (contact_id)
    WHERE status IN ('pending', 'offered', 'dialing');
CREATE INDEX callbacks_lease_owner ON callbacks (lease_owner) WHERE lease_owner IS NOT NULL;
-- Each tick settles the dialing ones and recovers the offered ones of a dead instance.
CREATE INDEX callbacks_in_flight ON callbacks (status) WHERE status IN ('offered', 'dialing');

ALTER TABLE attempts ADD COLUMN callback_id bigint REFERENCES callbacks(id) ON DELETE SET NULL;
CREATE INDEX attempts_callback ON attempts (callback_id) WHERE callback_id IS NOT NULL;

-- A target made for a callback alone (a web or queue caller, another number given at a
-- reschedule): the campaign's list never dials it, only its callbacks do.
ALTER TABLE targets ADD COLUMN callback_only boolean NOT NULL DEFAULT false;

-- Per campaign: whether a personal callback whose agent is not logged in waits for them or
-- goes to anyone; how many attempts a callback gets and how long between them; the
-- Asterisk queue whose courtesy callbacks this campaign dials.
ALTER TABLE campaigns
    ADD COLUMN personal_callback_fallback text NOT NULL DEFAULT 'wait'
        CHECK (personal_callback_fallback IN ('wait', 'anyone')),
    ADD COLUMN callback_attempts integer NOT NULL DEFAULT 3 CHECK (callback_attempts BETWEEN 1 AND 10),
    ADD COLUMN callback_retry_delay interval NOT NULL DEFAULT interval '10 minutes'
        CHECK (callback_retry_delay >= interval '0'),
    ADD COLUMN callback_queue text
        CHECK (callback_queue IS NULL OR callback_queue ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$');
CREATE UNIQUE INDEX campaigns_callback_queue ON campaigns (callback_queue) WHERE callback_queue IS NOT NULL;

-- Tokens of a website's "call me back" form: each may only create web callbacks, for its
-- one campaign. Only the sha256 of the token is kept, as for agents.
CREATE TABLE web_callback_tokens (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
    campaign_id  bigint NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    token_hash   text NOT NULL UNIQUE,
    active       boolean NOT NULL DEFAULT true,
    created_by   text,
    created_at   timestamptz NOT NULL DEFAULT now()
);
