-- Each phone's fetches, for its timeline: what it asked for, from where,
-- with which firmware, and how it was answered (the version served, or
-- why it was refused). Kept by MAC, so a record made again finds its
-- phone's history. Bounded: the newest fetches of each phone, for a few
-- weeks, and a cap on the whole table (store/fetches.rs).
CREATE TABLE fetch_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    mac        TEXT    NOT NULL,
    at         TEXT    NOT NULL,
    file       TEXT    NOT NULL,
    ip         TEXT    NOT NULL,
    user_agent TEXT    NOT NULL,
    firmware   TEXT    NOT NULL,
    outcome    TEXT    NOT NULL,
    reason     TEXT    NOT NULL,
    version    TEXT    NOT NULL
);
CREATE INDEX fetch_events_mac ON fetch_events (mac, id);
CREATE INDEX fetch_events_at ON fetch_events (at);

-- A record's changes, found by the summary the log gives them ("id 12").
CREATE INDEX logs_resource_summary ON logs (resource, summary);
