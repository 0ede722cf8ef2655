-- The transactional outbox: one row per event, written in the caller's transaction.
CREATE TABLE IF NOT EXISTS edp_outbox (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        UUID NOT NULL UNIQUE,
    topic           TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    subject         TEXT,
    -- The whole envelope, encoded as edp-sql's outbox/row.rs describes.
    envelope        BYTEA NOT NULL,
    created_us      BIGINT NOT NULL,
    published_us    BIGINT
);

-- What the relay reads: unpublished rows in id order.
CREATE INDEX IF NOT EXISTS edp_outbox_unpublished ON edp_outbox (id) WHERE published_us IS NULL;

-- Wakes relays that LISTEN, once per inserting statement (delivered at commit).
CREATE OR REPLACE FUNCTION edp_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('edp_outbox', '');
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS edp_outbox_notify ON edp_outbox;
CREATE TRIGGER edp_outbox_notify AFTER INSERT ON edp_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION edp_outbox_notify();
