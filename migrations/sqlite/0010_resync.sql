-- Pushes: an administrator's request that phones re-check now (a job), and
-- each phone's NOTIFY in it. Each phone's row gets its time to be sent when
-- the job is made, within the site's rates, so any node may send it when it
-- is due; `claimed_until` keeps it to one node (PostgreSQL: FOR UPDATE SKIP
-- LOCKED). Times to send and claims are milliseconds since 1970 (UTC).
-- States: queued, sending, sent, answered, no_answer, rejected, confirmed,
-- unsupported, failed.
CREATE TABLE resync_jobs (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT    NOT NULL,
    actor      TEXT    NOT NULL,
    phones     INTEGER NOT NULL
);
CREATE INDEX resync_jobs_created ON resync_jobs (created_at);

CREATE TABLE resync_phones (
    job_id        INTEGER NOT NULL REFERENCES resync_jobs (id) ON DELETE CASCADE,
    device_id     INTEGER NOT NULL,
    mac           TEXT    NOT NULL,
    network       TEXT    NOT NULL,
    state         TEXT    NOT NULL,
    detail        TEXT    NOT NULL DEFAULT '',
    due_ms        INTEGER NOT NULL,
    claimed_until INTEGER,
    -- The claim that took the row: only it may write the outcome.
    claim         TEXT,
    -- Times a node took the row; one taken three times without an outcome
    -- (the node stopped mid-send) fails instead of going round again.
    attempts      INTEGER NOT NULL DEFAULT 0,
    sent_at       TEXT,
    PRIMARY KEY (job_id, device_id)
);
CREATE INDEX resync_phones_due ON resync_phones (state, due_ms);

-- Push on change: the last change (provision_changes.seq) whose phones were
-- queued. A node moves it forward only from the value it read, so each
-- batch of changes is queued by one node.
CREATE TABLE resync_on_change (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER  NOT NULL
);
INSERT INTO resync_on_change (id, seq) VALUES (1, 0);
