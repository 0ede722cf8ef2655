-- Saga instances: their data, progress and pending deadline.
CREATE TABLE IF NOT EXISTS edp_sagas (
    saga            TEXT NOT NULL,
    id              UUID NOT NULL,
    status          TEXT NOT NULL,
    data            TEXT NOT NULL,
    progress        TEXT NOT NULL,
    -- The earliest pending deadline (Unix milliseconds); NULL once the saga has ended.
    deadline_ms     BIGINT,
    version         BIGINT NOT NULL,
    updated_us      BIGINT NOT NULL,
    PRIMARY KEY (saga, id)
);

-- What the deadline task reads.
CREATE INDEX IF NOT EXISTS edp_sagas_deadline ON edp_sagas (saga, deadline_ms) WHERE deadline_ms IS NOT NULL;
CREATE INDEX IF NOT EXISTS edp_sagas_status ON edp_sagas (saga, status);

-- What happened to each instance, in order.
CREATE TABLE IF NOT EXISTS edp_saga_history (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    saga            TEXT NOT NULL,
    id              UUID NOT NULL,
    at_ms           BIGINT NOT NULL,
    what            TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS edp_saga_history_instance ON edp_saga_history (saga, id, seq);
