-- Users log in to the API; extensions are the SIP accounts phones register with.
-- Times are UTC RFC 3339 text (as sqlx writes them), whole seconds; deleted_at IS NULL means the row is live.

CREATE TABLE users (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    login          TEXT    NOT NULL,
    name           TEXT    NOT NULL DEFAULT '',
    password_hash  TEXT,
    dev_key_hash   TEXT,
    type           TEXT    NOT NULL DEFAULT 'NORMAL',
    is_super       INTEGER NOT NULL DEFAULT 0,
    disabled       INTEGER NOT NULL DEFAULT 0,
    login_attempts INTEGER NOT NULL DEFAULT 0,
    locked_until   TEXT,
    last_login_at  TEXT,
    created_at     TEXT    NOT NULL,
    updated_at     TEXT    NOT NULL,
    deleted_at     TEXT
);
CREATE UNIQUE INDEX users_login_live ON users (lower(login)) WHERE deleted_at IS NULL;

-- id 0 owns system actions and cannot log in (no password); id 1 is the
-- administrator, whose password is set on first start.
INSERT INTO users (id, login, name, type, is_super, created_at, updated_at)
VALUES (0, 'system', 'SYSTEM', 'SYSTEM', 0, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
       (1, 'admin', 'Admin', 'NORMAL', 1, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now'));

CREATE TABLE sessions (
    token_hash TEXT    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id),
    created_at TEXT    NOT NULL,
    expires_at TEXT    NOT NULL
);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE extensions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    extn         TEXT    NOT NULL,
    name         TEXT    NOT NULL DEFAULT '',
    domain       TEXT    NOT NULL,
    context      TEXT    NOT NULL,
    type         TEXT    NOT NULL DEFAULT 'SIP',
    cid_name     TEXT    NOT NULL DEFAULT '',
    cid_number   TEXT    NOT NULL DEFAULT '',
    password_enc TEXT    NOT NULL,
    ha1          TEXT    NOT NULL,
    ha1b         TEXT    NOT NULL,
    user_id      INTEGER NOT NULL DEFAULT 0 REFERENCES users (id),
    disabled     INTEGER NOT NULL DEFAULT 0,
    description  TEXT    NOT NULL DEFAULT '',
    created_at   TEXT    NOT NULL,
    updated_at   TEXT    NOT NULL,
    deleted_at   TEXT
);
CREATE UNIQUE INDEX extensions_domain_extn_live ON extensions (domain, extn) WHERE deleted_at IS NULL;
CREATE INDEX extensions_extn ON extensions (extn);

CREATE TABLE device_provisions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL DEFAULT '',
    vendor      TEXT    NOT NULL,
    vendor_code TEXT    NOT NULL,
    mac         TEXT    NOT NULL,
    extn        TEXT    NOT NULL DEFAULT '',
    type        TEXT    NOT NULL DEFAULT '',
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL,
    deleted_at  TEXT
);
CREATE INDEX device_provisions_mac ON device_provisions (mac) WHERE deleted_at IS NULL;

-- The lines a record gives its phone, in order. Only live records have lines.
CREATE TABLE device_provision_lines (
    device_id    INTEGER NOT NULL REFERENCES device_provisions (id),
    position     INTEGER NOT NULL,
    mac          TEXT    NOT NULL,
    extension_id INTEGER NOT NULL REFERENCES extensions (id),
    PRIMARY KEY (device_id, position)
);
CREATE UNIQUE INDEX device_provision_lines_mac_extension ON device_provision_lines (mac, extension_id);
CREATE INDEX device_provision_lines_extension ON device_provision_lines (extension_id);

CREATE TABLE logs (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL,
    user_name  TEXT    NOT NULL,
    source_ip  TEXT    NOT NULL,
    resource   TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    summary    TEXT    NOT NULL,
    message    TEXT    NOT NULL,
    created_at TEXT    NOT NULL
);
CREATE INDEX logs_created ON logs (created_at);
