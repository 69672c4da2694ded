-- 0003: the audit log, a SHA-256 hash chain (`planspec_model::audit`).
--
-- Append-only: one row per record, `seq` 1, 2, 3 … in commit order. The writer computes each
-- record's hash over its predecessor's hash and the record's canonical JSON; the columns below
-- hold every field of the record, so editing any of them breaks the chain at that row.

CREATE TABLE audit (
    seq          INTEGER PRIMARY KEY,   -- 1, 2, 3 … without gaps
    time         TEXT    NOT NULL,      -- RFC 3339, UTC
    actor        TEXT    NOT NULL,      -- the actor's username
    groups       TEXT    NOT NULL,      -- JSON array of the actor's groups
    verb         TEXT    NOT NULL,
    api_group    TEXT    NOT NULL,
    resource     TEXT    NOT NULL,
    namespace    TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    subresource  TEXT    NOT NULL,
    path         TEXT    NOT NULL,
    code         INTEGER,               -- HTTP status; NULL for decisions outside a request
    decision     TEXT    NOT NULL,      -- allowed | denied | error
    reason       TEXT    NOT NULL,
    request_id   TEXT    NOT NULL,
    details      TEXT,                  -- JSON; NULL when none
    prev_hash    TEXT    NOT NULL,      -- lowercase hex SHA-256
    hash         TEXT    NOT NULL
) STRICT;

CREATE INDEX audit_by_actor ON audit (actor, seq);
CREATE INDEX audit_by_namespace ON audit (namespace, seq);
CREATE INDEX audit_by_resource ON audit (resource, seq);

-- The newest record (seq 0 and 64 zeros for an empty log), kept apart from the records so
-- that removing rows from the end is detected too.
CREATE TABLE audit_head (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    seq   INTEGER NOT NULL,
    hash  TEXT    NOT NULL
) STRICT;

INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Each record links to the head: next seq, previous hash. Whoever writes.
CREATE TRIGGER audit_links_to_head BEFORE INSERT ON audit BEGIN
    SELECT RAISE(ABORT, 'an audit record must follow the chain head')
    WHERE NEW.seq <> (SELECT seq FROM audit_head WHERE id = 1) + 1
       OR NEW.prev_hash <> (SELECT hash FROM audit_head WHERE id = 1);
END;

CREATE TRIGGER audit_advance_head AFTER INSERT ON audit BEGIN
    UPDATE audit_head SET seq = NEW.seq, hash = NEW.hash WHERE id = 1;
END;

-- Records are never changed or removed through the store. (Someone with the file can drop
-- these triggers; the hash chain is what detects that.)
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN
    SELECT RAISE(ABORT, 'audit records are append-only');
END;

CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN
    SELECT RAISE(ABORT, 'audit records are append-only');
END;
