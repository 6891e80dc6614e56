-- The ledger: the dialer's source of truth and the coordinator between orchestrator instances.
-- Rules the database can enforce are constraints and triggers here, not only code:
--   E.164 format, attempts never above max, one live attempt per number, DNC, unique external id.

CREATE TABLE teams (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE wrapup_code_sets (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- A wrap-up code maps to an outcome class, which drives cadence and the unavailable reason.
-- code_set_id NULL: a system default, part of every campaign's set.
CREATE TABLE wrapup_codes (
    id             bigserial PRIMARY KEY,
    code_set_id    bigint REFERENCES wrapup_code_sets(id) ON DELETE CASCADE,
    label          text NOT NULL CHECK (length(label) BETWEEN 1 AND 100),
    outcome_class  text NOT NULL CHECK (outcome_class IN ('final_success', 'final_failure', 'retry', 'dnc')),
    retry_after    interval CHECK (retry_after IS NULL OR retry_after >= interval '0'),
    is_system      boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX wrapup_codes_label_per_set ON wrapup_codes (coalesce(code_set_id, 0), lower(label));

INSERT INTO wrapup_codes (code_set_id, label, outcome_class, retry_after, is_system) VALUES
    (NULL, 'Answering machine detected', 'retry',         interval '4 hours', true),
    (NULL, 'Busy',                       'retry',         interval '15 minutes', true),
    (NULL, 'Fax',                        'final_failure', NULL, true),
    (NULL, 'No answer',                  'retry',         interval '2 hours', true),
    (NULL, 'Sale',                       'final_success', NULL, true),
    (NULL, 'Voicemail',                  'retry',         interval '1 day', true);

CREATE TABLE campaigns (
    id                       bigserial PRIMARY KEY,
    name                     text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$'),
    status                   text NOT NULL DEFAULT 'draft'
                             CHECK (status IN ('draft', 'running', 'paused', 'stopped', 'completed')),
    mode                     text NOT NULL DEFAULT 'progressive'
                             CHECK (mode IN ('preview', 'direct_preview', 'progressive', 'power', 'predictive')),
    progressive_flavour      text NOT NULL DEFAULT 'agent_first'
                             CHECK (progressive_flavour IN ('agent_first', 'customer_first')),
    power_lines_per_agent    numeric(4,2) NOT NULL DEFAULT 2 CHECK (power_lines_per_agent BETWEEN 1 AND 10),
    abandon_cap              numeric(5,4) NOT NULL DEFAULT 0.03 CHECK (abandon_cap BETWEEN 0 AND 0.2),
    abandon_grace_seconds    numeric(4,1) NOT NULL DEFAULT 2 CHECK (abandon_grace_seconds BETWEEN 0 AND 10),
    abandon_lock             interval NOT NULL DEFAULT interval '72 hours' CHECK (abandon_lock >= interval '0'),
    no_answer_timeout_s      integer NOT NULL DEFAULT 26 CHECK (no_answer_timeout_s BETWEEN 15 AND 120),
    window_start             time NOT NULL DEFAULT '09:00',
    window_end               time NOT NULL DEFAULT '21:00',
    window_days              smallint[] NOT NULL DEFAULT '{1,2,3,4,5,6,7}',  -- ISO weekdays, 1 = Monday
    min_gap                  interval NOT NULL DEFAULT interval '0' CHECK (min_gap >= interval '0'),
    max_attempts_per_target  integer NOT NULL DEFAULT 10 CHECK (max_attempts_per_target BETWEEN 1 AND 1000),
    max_attempts_per_contact integer CHECK (max_attempts_per_contact IS NULL OR max_attempts_per_contact >= 1),
    max_amd_per_target       integer NOT NULL DEFAULT 3 CHECK (max_amd_per_target >= 1),
    cadence                  jsonb NOT NULL DEFAULT '{}'::jsonb,  -- telephony outcome -> seconds before retry
    amd_policy               text NOT NULL DEFAULT 'off'
                             CHECK (amd_policy IN ('off', 'hangup', 'voicemail_drop', 'pass_to_agent')),
    amd_message              text,
    silent_call_message      text NOT NULL DEFAULT 'sound:dialer/silent-call',
    caller_id                text CHECK (caller_id IS NULL OR caller_id ~ '^\+[1-9][0-9]{6,14}$'),
    preview_timeout_s        integer NOT NULL DEFAULT 60 CHECK (preview_timeout_s BETWEEN 5 AND 3600),
    preview_auto_action      text NOT NULL DEFAULT 'skip' CHECK (preview_auto_action IN ('skip', 'accept', 'remove')),
    preview_allow_skip       boolean NOT NULL DEFAULT true,
    preview_allow_remove     boolean NOT NULL DEFAULT true,
    preview_delay            interval NOT NULL DEFAULT interval '1 hour',
    wrapup_code_set_id       bigint REFERENCES wrapup_code_sets(id),
    wrapup_seconds           integer NOT NULL DEFAULT 30 CHECK (wrapup_seconds BETWEEN 0 AND 3600),
    default_wrapup_code_id   bigint REFERENCES wrapup_codes(id),
    max_concurrent_calls     integer CHECK (max_concurrent_calls IS NULL OR max_concurrent_calls >= 1),
    recording                boolean NOT NULL DEFAULT false,
    recording_resume_s       integer NOT NULL DEFAULT 60 CHECK (recording_resume_s BETWEEN 5 AND 3600),
    masking                  boolean NOT NULL DEFAULT false,
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    CHECK (window_start < window_end)
);

CREATE TABLE campaign_teams (
    campaign_id  bigint NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    team_id      bigint NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    PRIMARY KEY (campaign_id, team_id)
);

-- The pacer's learned state and abandon counters survive restarts (the 24 h / 30 d budget must not reset).
CREATE TABLE campaign_pacing_state (
    campaign_id  bigint PRIMARY KEY REFERENCES campaigns(id) ON DELETE CASCADE,
    snapshot     jsonb NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE agents (
    id             bigserial PRIMARY KEY,
    username       text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
    display_name   text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
    role           text NOT NULL DEFAULT 'agent' CHECK (role IN ('agent', 'supervisor', 'admin')),
    endpoint       text CHECK (endpoint IS NULL OR endpoint ~ '^(PJSIP|SIP|Local|IAX2)/[A-Za-z0-9_.@+-]+$'),
    phone_mode     text NOT NULL DEFAULT 'per_call' CHECK (phone_mode IN ('per_call', 'nailed')),
    token_hash     text UNIQUE,  -- sha256 of the bearer token; the token itself is never stored
    active         boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE agent_teams (
    agent_id  bigint NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    team_id   bigint NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    PRIMARY KEY (agent_id, team_id)
);

CREATE TABLE agent_state_history (
    id           bigserial PRIMARY KEY,
    agent_id     bigint NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    state        text NOT NULL CHECK (state IN ('logged_out', 'not_ready', 'available', 'reserved', 'ringing',
                                                'on_call', 'hold', 'consulting', 'conferencing', 'wrap_up')),
    reason       text,
    campaign_id  bigint REFERENCES campaigns(id) ON DELETE SET NULL,
    at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agent_state_history_agent_at ON agent_state_history (agent_id, at);

CREATE TABLE contacts (
    id             bigserial PRIMARY KEY,
    campaign_id    bigint NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    external_id    text CHECK (external_id IS NULL OR length(external_id) BETWEEN 1 AND 200),
    first_name     text CHECK (first_name IS NULL OR length(first_name) <= 200),
    last_name      text CHECK (last_name IS NULL OR length(last_name) <= 200),
    postal_code    text CHECK (postal_code IS NULL OR length(postal_code) <= 20),
    time_zone      text,  -- IANA zone when known; else the targets' candidate zones are used
    custom_fields  jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(custom_fields) = 'object'),
    expires_at     timestamptz,
    complete       boolean NOT NULL DEFAULT false,
    attempts_made  integer NOT NULL DEFAULT 0 CHECK (attempts_made >= 0),
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (campaign_id, external_id)
);

CREATE TABLE targets (
    id                   bigserial PRIMARY KEY,
    contact_id           bigint NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    campaign_id          bigint NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    position             smallint NOT NULL CHECK (position >= 1),
    description          text NOT NULL DEFAULT '' CHECK (length(description) <= 100),
    e164                 text NOT NULL CHECK (e164 ~ '^\+[1-9][0-9]{6,14}$'),
    candidate_time_zones text[] NOT NULL DEFAULT '{}',
    attempts_made        integer NOT NULL DEFAULT 0,
    max_attempts         integer NOT NULL DEFAULT 10,
    amd_count            integer NOT NULL DEFAULT 0 CHECK (amd_count >= 0),
    available_from       timestamptz,
    last_shown_at        timestamptz,
    last_attempt_at      timestamptz,
    last_outcome         text,
    last_outcome_class   text CHECK (last_outcome_class IS NULL OR
                                     last_outcome_class IN ('final_success', 'final_failure', 'retry', 'dnc')),
    unavailable_reason   text CHECK (unavailable_reason IS NULL OR unavailable_reason IN (
                             'Exhausted', 'Complete', 'DNC', 'Last outcome not valid for calling',
                             'Invalid target', 'Max answering machine detections', 'Not in cadence',
                             'Offered', 'Outside calling window')),
    -- Claim lease: an orchestrator instance owns the target until the lease expires.
    lease_owner          text,
    lease_expires_at     timestamptz,
    UNIQUE (contact_id, position),
    CHECK (max_attempts >= 1),
    CHECK (attempts_made BETWEEN 0 AND max_attempts)
);
CREATE INDEX targets_dialable ON targets (campaign_id, available_from NULLS FIRST, id)
    WHERE unavailable_reason IS NULL OR unavailable_reason IN ('Not in cadence', 'Outside calling window');
CREATE INDEX targets_e164 ON targets (e164);

-- Cross-campaign facts about one phone number: minimum gap and the abandon lock.
CREATE TABLE phone_numbers (
    e164                  text PRIMARY KEY CHECK (e164 ~ '^\+[1-9][0-9]{6,14}$'),
    last_call_at          timestamptz,
    abandon_locked_until  timestamptz
);

CREATE TABLE dnc_entries (
    id           bigserial PRIMARY KEY,
    e164         text NOT NULL CHECK (e164 ~ '^\+[1-9][0-9]{6,14}$'),
    campaign_id  bigint REFERENCES campaigns(id) ON DELETE CASCADE,  -- NULL: global
    source       text NOT NULL DEFAULT 'manual' CHECK (length(source) BETWEEN 1 AND 100),
    reason       text CHECK (reason IS NULL OR length(reason) <= 250),
    added_at     timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    CHECK (expires_at IS NULL OR expires_at > added_at)
);
CREATE UNIQUE INDEX dnc_entries_unique ON dnc_entries (e164, coalesce(campaign_id, 0));

-- An Attempt is committed before its originate; its id is the ARI channelId.
CREATE TABLE attempts (
    id              uuid PRIMARY KEY,
    campaign_id     bigint NOT NULL REFERENCES campaigns(id),
    contact_id      bigint NOT NULL REFERENCES contacts(id),
    target_id       bigint NOT NULL REFERENCES targets(id),
    attempt_number  integer NOT NULL CHECK (attempt_number >= 1),  -- per contact: "Attempt N (Mobile)"
    e164            text NOT NULL CHECK (e164 ~ '^\+[1-9][0-9]{6,14}$'),
    mode            text NOT NULL,
    agent_id        bigint REFERENCES agents(id),
    owner           text NOT NULL,  -- orchestrator instance that placed it
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'dialing', 'ringing', 'answered', 'bridged', 'ended')),
    outcome         text CHECK (outcome IS NULL OR outcome IN (
                        'human', 'machine', 'fax', 'busy', 'no_answer', 'congestion', 'failed',
                        'invalid_number', 'abandoned', 'cancelled_by_agent', 'rejected_by_agent',
                        'not_dialed', 'unknown')),
    cause           integer,
    cause_txt       text,
    amd_status      text,
    wrapup_code_id  bigint REFERENCES wrapup_codes(id),
    disposition_note text CHECK (disposition_note IS NULL OR length(disposition_note) <= 2000),
    created_at      timestamptz NOT NULL DEFAULT now(),
    originated_at   timestamptz,
    answered_at     timestamptz,
    connected_at    timestamptz,
    ended_at        timestamptz,
    dispositioned_at timestamptz,
    UNIQUE (contact_id, attempt_number),
    CHECK ((state = 'ended') = (ended_at IS NOT NULL))
);
-- At most one live attempt per phone number, whichever campaign or instance placed it.
CREATE UNIQUE INDEX attempts_one_live_per_number ON attempts (e164) WHERE ended_at IS NULL;
CREATE INDEX attempts_campaign_created ON attempts (campaign_id, created_at);
CREATE INDEX attempts_target ON attempts (target_id);
CREATE INDEX attempts_live ON attempts (owner) WHERE ended_at IS NULL;

-- Append-only history of each attempt; current state is derived from it and mirrored on attempts.
CREATE TABLE attempt_events (
    id          bigserial PRIMARY KEY,
    attempt_id  uuid NOT NULL REFERENCES attempts(id),
    at          timestamptz NOT NULL DEFAULT now(),
    kind        text NOT NULL CHECK (length(kind) BETWEEN 1 AND 64),
    data        jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX attempt_events_attempt ON attempt_events (attempt_id, id);

CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER attempt_events_append_only BEFORE UPDATE OR DELETE ON attempt_events
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

-- DNC and the attempt counters are enforced at insert time, whatever code path writes the attempt.
CREATE FUNCTION attempts_before_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM dnc_entries d
               WHERE d.e164 = NEW.e164
                 AND (d.campaign_id IS NULL OR d.campaign_id = NEW.campaign_id)
                 AND (d.expires_at IS NULL OR d.expires_at > now())) THEN
        RAISE EXCEPTION 'number is on the do-not-call list' USING ERRCODE = 'check_violation',
            CONSTRAINT = 'attempts_not_dnc';
    END IF;
    -- Counting here makes "attempts never above max" a database fact (targets' CHECK).
    UPDATE targets SET attempts_made = attempts_made + 1, last_attempt_at = NEW.created_at
     WHERE id = NEW.target_id;
    UPDATE contacts SET attempts_made = attempts_made + 1 WHERE id = NEW.contact_id;
    INSERT INTO phone_numbers (e164, last_call_at) VALUES (NEW.e164, NEW.created_at)
        ON CONFLICT (e164) DO UPDATE SET last_call_at = GREATEST(phone_numbers.last_call_at, EXCLUDED.last_call_at);
    RETURN NEW;
END $$;
CREATE TRIGGER attempts_before_insert BEFORE INSERT ON attempts
    FOR EACH ROW EXECUTE FUNCTION attempts_before_insert();

CREATE TABLE callbacks (
    id                 bigserial PRIMARY KEY,
    kind               text NOT NULL CHECK (kind IN ('scheduled', 'personal', 'web', 'queue')),
    campaign_id        bigint REFERENCES campaigns(id) ON DELETE CASCADE,
    contact_id         bigint REFERENCES contacts(id) ON DELETE CASCADE,
    target_id          bigint REFERENCES targets(id) ON DELETE SET NULL,
    e164               text NOT NULL CHECK (e164 ~ '^\+[1-9][0-9]{6,14}$'),
    name               text CHECK (name IS NULL OR char_length(name) BETWEEN 3 AND 250),
    window_start       timestamptz NOT NULL,
    window_end         timestamptz NOT NULL,
    time_zone          text NOT NULL,
    queue              text,
    reason             text CHECK (reason IS NULL OR char_length(reason) <= 250),
    notes              text CHECK (notes IS NULL OR char_length(notes) <= 2000),
    assigned_agent_id  bigint REFERENCES agents(id) ON DELETE SET NULL,
    assigned_team_id   bigint REFERENCES teams(id) ON DELETE SET NULL,
    status             text NOT NULL DEFAULT 'pending'
                       CHECK (status IN ('pending', 'offered', 'done', 'failed', 'deleted')),
    attempts_made      integer NOT NULL DEFAULT 0 CHECK (attempts_made >= 0),
    max_attempts       integer NOT NULL DEFAULT 3 CHECK (max_attempts BETWEEN 1 AND 10),
    created_by         bigint REFERENCES agents(id) ON DELETE SET NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    deleted_at         timestamptz,
    CHECK (window_end > window_start)
);
CREATE INDEX callbacks_due ON callbacks (window_start) WHERE status = 'pending';

-- Interaction archive (MISSION G): an ordered timeline per interaction.
CREATE TABLE interaction_events (
    id              bigserial PRIMARY KEY,
    interaction_id  uuid NOT NULL,
    attempt_id      uuid REFERENCES attempts(id),
    seq             integer NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('menu', 'queue', 'queue_callback', 'conversation',
                                                  'consult', 'deleted')),
    label           text NOT NULL,
    agent_id        bigint REFERENCES agents(id),
    started_at      timestamptz NOT NULL,
    duration        interval NOT NULL DEFAULT interval '0' CHECK (duration >= interval '0'),
    data            jsonb NOT NULL DEFAULT '{}'::jsonb,
    UNIQUE (interaction_id, seq)
);

CREATE TABLE audit_log (
    id           bigserial PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    actor        text NOT NULL,
    action       text NOT NULL,
    object_type  text NOT NULL,
    object_id    text,
    details      jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
