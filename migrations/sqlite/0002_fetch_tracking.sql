-- What each phone last fetched, and phones nobody has registered yet.

ALTER TABLE device_provisions ADD COLUMN last_provisioned_at TEXT;
ALTER TABLE device_provisions ADD COLUMN last_ip TEXT NOT NULL DEFAULT '';
ALTER TABLE device_provisions ADD COLUMN last_user_agent TEXT NOT NULL DEFAULT '';
ALTER TABLE device_provisions ADD COLUMN firmware TEXT NOT NULL DEFAULT '';
ALTER TABLE device_provisions ADD COLUMN last_file TEXT NOT NULL DEFAULT '';

CREATE TABLE pending_phones (
    mac        TEXT    PRIMARY KEY,
    vendor     TEXT    NOT NULL,
    model      TEXT    NOT NULL,
    ip         TEXT    NOT NULL,
    user_agent TEXT    NOT NULL,
    first_seen TEXT    NOT NULL,
    last_seen  TEXT    NOT NULL,
    count      INTEGER NOT NULL
);
CREATE INDEX pending_phones_last_seen ON pending_phones (last_seen);
