-- Mailboxes, their messages, and each handset's forwarding, do-not-disturb and last status.
-- Times are Unix seconds; flags are 0/1 integers (the same on SQLite and PostgreSQL).
CREATE TABLE mailboxes (
    id TEXT PRIMARY KEY NOT NULL,
    greeting_text TEXT,
    greeting_url TEXT
);

CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    mailbox TEXT NOT NULL REFERENCES mailboxes (id),
    recording_sid TEXT NOT NULL UNIQUE,
    recording_url TEXT NOT NULL,
    duration_seconds BIGINT NOT NULL,
    call_sid TEXT NOT NULL,
    caller TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('new', 'saved', 'deleting'))
);
CREATE INDEX messages_by_mailbox ON messages (mailbox, received_at);

CREATE TABLE handset_settings (
    device_id TEXT PRIMARY KEY NOT NULL,
    do_not_disturb BIGINT NOT NULL DEFAULT 0,
    forward_when TEXT NOT NULL DEFAULT 'never'
        CHECK (forward_when IN ('never', 'always', 'busy', 'no-answer')),
    forward_to TEXT,
    no_answer_seconds BIGINT NOT NULL DEFAULT 20
);

CREATE TABLE handset_status (
    device_id TEXT PRIMARY KEY NOT NULL,
    last_seen BIGINT NOT NULL,
    registered BIGINT NOT NULL,
    address TEXT,
    firmware TEXT,
    last_error TEXT
);
