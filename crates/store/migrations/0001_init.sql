-- 0001: resources, the change log and the store's counters.
--
-- A migration, once released, is never edited: change the schema with a new numbered file
-- (the runner refuses a database whose applied migration differs from the shipped one).

-- The current state: one row per object.
CREATE TABLE resources (
    kind             TEXT    NOT NULL,
    namespace        TEXT    NOT NULL,  -- '' for cluster-scoped kinds
    name             TEXT    NOT NULL,
    uid              TEXT    NOT NULL,
    revision         INTEGER NOT NULL,  -- revision of the last write (resourceVersion)
    created_revision INTEGER NOT NULL,
    labels           TEXT    NOT NULL,  -- JSON object of metadata.labels, for selectors
    object           TEXT    NOT NULL,  -- the whole document, resourceVersion included
    PRIMARY KEY (kind, namespace, name)
) STRICT;

-- The change log: exactly one row per revision in (compacted_revision, revision].
CREATE TABLE changes (
    revision         INTEGER PRIMARY KEY,
    change_type      TEXT    NOT NULL CHECK (change_type IN ('ADDED', 'MODIFIED', 'DELETED')),
    kind             TEXT    NOT NULL,
    namespace        TEXT    NOT NULL,
    name             TEXT    NOT NULL,
    uid              TEXT    NOT NULL,
    created_revision INTEGER NOT NULL,
    object           TEXT    NOT NULL   -- the object after the change (for DELETED: its last state)
) STRICT;

-- Counters: `revision` (newest committed; kept by the trigger on `changes`) and
-- `compacted_revision` (changes up to and including it are gone).
CREATE TABLE meta (
    key   TEXT    PRIMARY KEY,
    value INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

INSERT INTO meta (key, value) VALUES ('revision', 0), ('compacted_revision', 0);

-- The log is written with the state it describes. Inserts and updates of `resources` log
-- their change here; a delete is logged by the store (it needs the deletion's revision).
-- `AFTER UPDATE OF revision`: a later migration that backfills another column logs nothing.
CREATE TRIGGER resources_added AFTER INSERT ON resources BEGIN
    INSERT INTO changes (revision, change_type, kind, namespace, name, uid, created_revision, object)
    VALUES (NEW.revision, 'ADDED', NEW.kind, NEW.namespace, NEW.name, NEW.uid, NEW.created_revision, NEW.object);
END;

CREATE TRIGGER resources_modified AFTER UPDATE OF revision ON resources BEGIN
    INSERT INTO changes (revision, change_type, kind, namespace, name, uid, created_revision, object)
    VALUES (NEW.revision, 'MODIFIED', NEW.kind, NEW.namespace, NEW.name, NEW.uid, NEW.created_revision, NEW.object);
END;

-- Each change takes the next revision, exactly: no gap, no reuse, whoever writes.
CREATE TRIGGER changes_next_revision BEFORE INSERT ON changes BEGIN
    SELECT RAISE(ABORT, 'a change must take the next revision')
    WHERE NEW.revision <> (SELECT value FROM meta WHERE key = 'revision') + 1;
END;

CREATE TRIGGER changes_advance_revision AFTER INSERT ON changes BEGIN
    UPDATE meta SET value = NEW.revision WHERE key = 'revision';
END;
