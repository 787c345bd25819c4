-- One counter that every change a handset is told about moves forward (a message stored or
-- changing state, a handset's settings). Server-sent-event streams poll it, so that a change
-- made through one server instance reaches handsets connected to another.
CREATE TABLE change_version (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO change_version (id, version) VALUES (1, 0);
