-- The transactional outbox: one row per event, written in the caller's transaction.
CREATE TABLE IF NOT EXISTS edp_outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id        BLOB NOT NULL UNIQUE,
    topic           TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    subject         TEXT,
    -- The whole envelope, encoded as edp-sql's outbox/row.rs describes.
    envelope        BLOB NOT NULL,
    created_us      INTEGER NOT NULL,
    published_us    INTEGER
);

-- What the relay reads: unpublished rows in id order.
CREATE INDEX IF NOT EXISTS edp_outbox_unpublished ON edp_outbox (id) WHERE published_us IS NULL;

-- Which relay may publish: one holder at a time, until its lease expires.
CREATE TABLE IF NOT EXISTS edp_outbox_lease (
    name            TEXT PRIMARY KEY,
    owner           TEXT NOT NULL,
    expires_us      INTEGER NOT NULL
);
