-- The event store: append-only streams, one row per event.
CREATE TABLE IF NOT EXISTS edp_events (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The writing transaction: readers of the global order stop before any
    -- transaction still running, so a late commit is never passed over.
    tx_id           XID8 NOT NULL DEFAULT pg_current_xact_id(),
    stream_kind     TEXT NOT NULL,
    stream_id       TEXT NOT NULL,
    stream_version  BIGINT NOT NULL,
    event_id        UUID NOT NULL,
    event_type      TEXT NOT NULL,
    event_version   INT NOT NULL,
    data            JSONB NOT NULL,
    metadata        JSONB,
    recorded_us     BIGINT NOT NULL,
    -- The optimistic concurrency check: one event per stream version.
    UNIQUE (stream_kind, stream_id, stream_version)
);

-- The global order projections follow.
CREATE INDEX IF NOT EXISTS edp_events_global ON edp_events (tx_id, seq);

-- The latest snapshot of each stream.
CREATE TABLE IF NOT EXISTS edp_snapshots (
    stream_kind     TEXT NOT NULL,
    stream_id       TEXT NOT NULL,
    stream_version  BIGINT NOT NULL,
    schema_version  INT NOT NULL,
    data            JSONB NOT NULL,
    PRIMARY KEY (stream_kind, stream_id)
);

-- Where each projection got to, written with its read model.
CREATE TABLE IF NOT EXISTS edp_projections (
    name            TEXT PRIMARY KEY,
    commit_pos      BIGINT NOT NULL,
    seq             BIGINT NOT NULL,
    updated_us      BIGINT NOT NULL
);
