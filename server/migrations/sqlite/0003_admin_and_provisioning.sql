-- The web interface under /admin and provisioning the handsets from the server:
-- admin accounts, their sessions and the one-time setup links; the handsets themselves (the
-- handsets file is imported at start, then the database is the one source, so that several
-- server instances see the same handsets); what the server provisions to each handset; the
-- call log from Twilio's status callbacks; the handsets' fuller status reports.
-- Times are Unix seconds; flags are 0/1 integers (the same on SQLite and PostgreSQL).
CREATE TABLE admins (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- A session is known by the SHA-256 of its cookie's value, never the value itself.
CREATE TABLE admin_sessions (
    token_hash TEXT PRIMARY KEY NOT NULL,
    admin_id BIGINT NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX admin_sessions_by_admin ON admin_sessions (admin_id);

-- One-time links that create the first admin (by the SHA-256 of the link's token).
CREATE TABLE admin_setup_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE handsets (
    id TEXT PRIMARY KEY NOT NULL,
    identity TEXT NOT NULL UNIQUE,
    extension TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    -- E.164 numbers separated by spaces; '' = the account's main number.
    numbers TEXT NOT NULL DEFAULT '',
    -- The handsets' order (the handsets file's): a per-handset mailbox goes to the first one
    -- a number rings.
    position BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Handsets removed in /admin: the handsets file does not bring them back at the next start.
CREATE TABLE removed_handsets (
    id TEXT PRIMARY KEY NOT NULL,
    removed_at BIGINT NOT NULL
);

-- What the server sets on a handset (NULL: not set; the handset keeps its own value).
CREATE TABLE handset_provisioning (
    device_id TEXT PRIMARY KEY NOT NULL,
    ring_cadence TEXT,
    digit_map TEXT,
    country TEXT,
    volume_ring BIGINT,
    volume_earpiece BIGINT,
    volume_speaker BIGINT,
    -- Space-separated lists.
    codec_preferences TEXT,
    edges TEXT
);

CREATE TABLE handset_contacts (
    device_id TEXT NOT NULL,
    position BIGINT NOT NULL,
    name TEXT NOT NULL,
    number TEXT NOT NULL,
    PRIMARY KEY (device_id, position)
);

CREATE TABLE handset_speed_dials (
    device_id TEXT NOT NULL,
    digit TEXT NOT NULL CHECK (digit IN ('0', '1', '2', '3', '4', '5', '6', '7', '8', '9')),
    number TEXT NOT NULL,
    PRIMARY KEY (device_id, digit)
);

-- When a handset's event stream was last open (every instance writes it while one is), for
-- "online" across instances.
CREATE TABLE handset_streams (
    device_id TEXT PRIMARY KEY NOT NULL,
    seen_at BIGINT NOT NULL
);

ALTER TABLE handset_status ADD COLUMN registration TEXT;
ALTER TABLE handset_status ADD COLUMN edge TEXT;
ALTER TABLE handset_status ADD COLUMN uptime_secs BIGINT;

-- One row per call (the parent call's SID); each dialled leg's status callback may improve
-- it (an answered leg beats a busy one beats an unanswered one…: result_rank).
CREATE TABLE call_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    call_sid TEXT NOT NULL UNIQUE,
    started_at BIGINT NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('incoming', 'outgoing', 'internal')),
    from_number TEXT NOT NULL,
    to_number TEXT NOT NULL,
    handset TEXT,
    answered_by TEXT,
    duration_seconds BIGINT NOT NULL,
    result TEXT NOT NULL,
    result_rank BIGINT NOT NULL
);
CREATE INDEX call_log_by_time ON call_log (started_at, id);

-- Moves whenever the handsets themselves change (added, removed, renamed, a new secret), so
-- that every instance reloads them.
ALTER TABLE change_version ADD COLUMN handsets_version BIGINT NOT NULL DEFAULT 0;
