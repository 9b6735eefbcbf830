-- Wrong passwords counted per login name and source network (/24, /64),
-- for names that exist and names that do not alike, so the answers never
-- tell them apart and nobody elsewhere can lock a user out. A row goes once
-- its lock is over and it has been quiet as long; a network may have at most
-- 100 names counted, and the table 100,000 rows (sipprov's store/users.rs).
CREATE TABLE login_locks (
    login           TEXT NOT NULL,
    network         TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    locked_until    TEXT,
    last_attempt_at TEXT NOT NULL,
    PRIMARY KEY (login, network)
);
CREATE INDEX login_locks_last_attempt_at ON login_locks (last_attempt_at);
CREATE INDEX login_locks_network ON login_locks (network);
