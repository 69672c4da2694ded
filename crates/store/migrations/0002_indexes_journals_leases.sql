-- 0002: the label and owner indexes, execution journals, node records and leases.
--
-- A migration, once released, is never edited: change the schema with a new numbered file.
--
-- The indexes are kept by triggers on `resources`, not by the writer: a trigger runs inside the
-- statement that changes the row, so an index can never disagree with the rows whatever writes
-- them (the writer, this migration's backfill, a later migration), and a lone create or update
-- stays one autocommit statement. Each trigger that removes index rows reads them back from the
-- old row with the same expressions that inserted them, so no second index by object is needed.

-- One row per label whose value is a string (others count as absent, as in selectors).
-- Equality and `in` terms of a label selector find their objects here, already in key order.
CREATE TABLE label_index (
    kind      TEXT NOT NULL,
    key       TEXT NOT NULL,
    value     TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name      TEXT NOT NULL,
    PRIMARY KEY (kind, key, value, namespace, name)
) STRICT, WITHOUT ROWID;

CREATE TRIGGER label_index_added AFTER INSERT ON resources BEGIN
    INSERT OR IGNORE INTO label_index (kind, key, value, namespace, name)
    SELECT NEW.kind, j.key, j.value, NEW.namespace, NEW.name
    FROM json_each(NEW.labels) AS j WHERE j.type = 'text';
END;

CREATE TRIGGER label_index_modified AFTER UPDATE OF labels ON resources
WHEN OLD.labels IS NOT NEW.labels BEGIN
    DELETE FROM label_index
    WHERE kind = OLD.kind AND namespace = OLD.namespace AND name = OLD.name
      AND (key, value) IN (SELECT j.key, j.value FROM json_each(OLD.labels) AS j WHERE j.type = 'text');
    INSERT OR IGNORE INTO label_index (kind, key, value, namespace, name)
    SELECT NEW.kind, j.key, j.value, NEW.namespace, NEW.name
    FROM json_each(NEW.labels) AS j WHERE j.type = 'text';
END;

CREATE TRIGGER label_index_removed AFTER DELETE ON resources BEGIN
    DELETE FROM label_index
    WHERE kind = OLD.kind AND namespace = OLD.namespace AND name = OLD.name
      AND (key, value) IN (SELECT j.key, j.value FROM json_each(OLD.labels) AS j WHERE j.type = 'text');
END;

INSERT OR IGNORE INTO label_index (kind, key, value, namespace, name)
SELECT r.kind, j.key, j.value, r.namespace, r.name
FROM resources AS r, json_each(r.labels) AS j WHERE j.type = 'text';

-- Owner uid → dependent, from `metadata.ownerReferences[*].uid` (string uids of an array).
-- `instr` skips the JSON parse for the many objects that have no owner references; the text
-- is written by serde_json, which never escapes the characters of that key.
CREATE TABLE owner_index (
    owner_uid TEXT NOT NULL,
    kind      TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name      TEXT NOT NULL,
    PRIMARY KEY (owner_uid, kind, namespace, name)
) STRICT, WITHOUT ROWID;

CREATE TRIGGER owner_index_added AFTER INSERT ON resources
WHEN instr(NEW.object, '"ownerReferences"') > 0 BEGIN
    INSERT OR IGNORE INTO owner_index (owner_uid, kind, namespace, name)
    SELECT json_extract(NEW.object, j.fullkey || '.uid'), NEW.kind, NEW.namespace, NEW.name
    FROM json_each(NEW.object, '$.metadata.ownerReferences') AS j
    WHERE json_type(NEW.object, '$.metadata.ownerReferences') = 'array'
      AND json_type(NEW.object, j.fullkey || '.uid') = 'text';
END;

CREATE TRIGGER owner_index_modified AFTER UPDATE OF object ON resources
WHEN instr(OLD.object, '"ownerReferences"') > 0 OR instr(NEW.object, '"ownerReferences"') > 0 BEGIN
    DELETE FROM owner_index
    WHERE kind = OLD.kind AND namespace = OLD.namespace AND name = OLD.name
      AND owner_uid IN (SELECT json_extract(OLD.object, j.fullkey || '.uid')
                        FROM json_each(OLD.object, '$.metadata.ownerReferences') AS j);
    INSERT OR IGNORE INTO owner_index (owner_uid, kind, namespace, name)
    SELECT json_extract(NEW.object, j.fullkey || '.uid'), NEW.kind, NEW.namespace, NEW.name
    FROM json_each(NEW.object, '$.metadata.ownerReferences') AS j
    WHERE instr(NEW.object, '"ownerReferences"') > 0
      AND json_type(NEW.object, '$.metadata.ownerReferences') = 'array'
      AND json_type(NEW.object, j.fullkey || '.uid') = 'text';
END;

CREATE TRIGGER owner_index_removed AFTER DELETE ON resources
WHEN instr(OLD.object, '"ownerReferences"') > 0 BEGIN
    DELETE FROM owner_index
    WHERE kind = OLD.kind AND namespace = OLD.namespace AND name = OLD.name
      AND owner_uid IN (SELECT json_extract(OLD.object, j.fullkey || '.uid')
                        FROM json_each(OLD.object, '$.metadata.ownerReferences') AS j);
END;

INSERT OR IGNORE INTO owner_index (owner_uid, kind, namespace, name)
SELECT json_extract(r.object, j.fullkey || '.uid'), r.kind, r.namespace, r.name
FROM resources AS r, json_each(r.object, '$.metadata.ownerReferences') AS j
WHERE instr(r.object, '"ownerReferences"') > 0
  AND json_type(r.object, '$.metadata.ownerReferences') = 'array'
  AND json_type(r.object, j.fullkey || '.uid') = 'text';

-- Executions by uid: journals and node records belong to an existing Execution.
CREATE INDEX resources_execution_uid ON resources (uid) WHERE kind = 'Execution';

-- The append-only journal of each Execution: entries 0, 1, 2 … without gaps.
CREATE TABLE journal (
    execution_uid TEXT    NOT NULL,
    seq           INTEGER NOT NULL CHECK (seq >= 0),
    entry         TEXT    NOT NULL,  -- JSON, opaque to the store
    PRIMARY KEY (execution_uid, seq)
) STRICT;

-- The current record of each node of an Execution.
CREATE TABLE node_records (
    execution_uid TEXT NOT NULL,
    node_id       TEXT NOT NULL,
    phase         TEXT NOT NULL,
    record        TEXT NOT NULL,     -- JSON, opaque to the store
    PRIMARY KEY (execution_uid, node_id)
) STRICT;

CREATE INDEX node_records_by_phase ON node_records (execution_uid, phase, node_id);

-- Journals and node records go with their Execution, in the transaction that deletes it.
CREATE TRIGGER execution_removed AFTER DELETE ON resources
WHEN OLD.kind = 'Execution' BEGIN
    DELETE FROM journal WHERE execution_uid = OLD.uid;
    DELETE FROM node_records WHERE execution_uid = OLD.uid;
END;

-- Named leases with fencing tokens. `lease_token` in `meta` is the newest token handed out:
-- tokens increase across every lease and survive releases.
CREATE TABLE leases (
    name          TEXT    PRIMARY KEY,
    holder        TEXT    NOT NULL,
    token         INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL
) STRICT;

INSERT INTO meta (key, value) VALUES ('lease_token', 0);
