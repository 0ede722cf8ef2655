-- The inbox: the events each consumer group has applied, written in the handler's transaction.
CREATE TABLE IF NOT EXISTS edp_inbox (
    consumer_group  TEXT NOT NULL,
    event_id        UUID NOT NULL,
    received_us     BIGINT NOT NULL,
    PRIMARY KEY (consumer_group, event_id)
);

CREATE INDEX IF NOT EXISTS edp_inbox_received ON edp_inbox (received_us);
