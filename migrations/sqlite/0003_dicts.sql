-- XSwitch's dicts: realm/key/value rows. Provisioning settings live in realm
-- PROVISION, and per phone in realm PROVISION:<mac>.

CREATE TABLE dicts (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    realm      TEXT    NOT NULL,
    k          TEXT    NOT NULL,
    v          TEXT    NOT NULL DEFAULT '',
    d          TEXT    NOT NULL DEFAULT '',
    o          INTEGER NOT NULL DEFAULT 0,
    created_at TEXT    NOT NULL,
    updated_at TEXT    NOT NULL,
    deleted_at TEXT
);
CREATE UNIQUE INDEX dicts_realm_k_live ON dicts (realm, k) WHERE deleted_at IS NULL;
