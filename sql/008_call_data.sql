-- Call-associated data (MISSION E): variables a campaign defines, and their values per
-- attempt. A value is at most 256 characters; saves are versioned per attempt so that
-- when two desktops edit at once the first save wins and the second is told what
-- changed (the client sends the version it read). Each save is also appended to the
-- attempt's history (attempt_events, kind 'call_data_saved').

CREATE TABLE call_data_variables (
    campaign_id  bigint NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_]{0,31}$'),
    label        text NOT NULL CHECK (length(label) BETWEEN 1 AND 64),
    editable     boolean NOT NULL DEFAULT true,
    -- Secure: the value never leaves the server in clear for a page (masked in every
    -- payload); an agent may still write it when it is editable.
    secure       boolean NOT NULL DEFAULT false,
    position     smallint NOT NULL CHECK (position >= 0),
    PRIMARY KEY (campaign_id, name),
    UNIQUE (campaign_id, position)
);

-- Only saved values are rows: a variable never saved shows the contact's custom field of
-- the same name (or nothing). The attempt's version is the highest version of its rows
-- (0 before any save); a save writes every value it changes with version + 1.
-- No foreign key to the definitions: the values stay with the attempt when a campaign's
-- variables are redefined later.
CREATE TABLE call_data_values (
    attempt_id  uuid NOT NULL REFERENCES attempts(id),
    name        text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_]{0,31}$'),
    value       text NOT NULL CHECK (length(value) <= 256),
    version     integer NOT NULL CHECK (version >= 1),
    updated_by  bigint REFERENCES agents(id),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (attempt_id, name)
);
