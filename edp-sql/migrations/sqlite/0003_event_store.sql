-- The event store: append-only streams, one row per event. SQLite has one writer at
-- a time, so `seq` follows commit order and is the global order.
CREATE TABLE IF NOT EXISTS edp_events (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    stream_kind     TEXT NOT NULL,
    stream_id       TEXT NOT NULL,
    stream_version  INTEGER NOT NULL,
    event_id        BLOB NOT NULL,
    event_type      TEXT NOT NULL,
    event_version   INTEGER NOT NULL,
    data            TEXT NOT NULL,
    metadata        TEXT,
    recorded_us     INTEGER NOT NULL,
    -- The optimistic concurrency check: one event per stream version.
    UNIQUE (stream_kind, stream_id, stream_version)
);

-- The latest snapshot of each stream.
CREATE TABLE IF NOT EXISTS edp_snapshots (
    stream_kind     TEXT NOT NULL,
    stream_id       TEXT NOT NULL,
    stream_version  INTEGER NOT NULL,
    schema_version  INTEGER NOT NULL,
    data            TEXT NOT NULL,
    PRIMARY KEY (stream_kind, stream_id)
);

-- Where each projection got to, written with its read model.
CREATE TABLE IF NOT EXISTS edp_projections (
    name            TEXT PRIMARY KEY,
    commit_pos      INTEGER NOT NULL,
    seq             INTEGER NOT NULL,
    updated_us      INTEGER NOT NULL
);
