-- What each family's files are made of (its manifests and templates, as a
-- hash) and when that last changed: a phone that fetched before is older.
-- Written by the node that first loads a changed pack.
CREATE TABLE pack_versions (
    vendor     TEXT PRIMARY KEY,
    print      TEXT NOT NULL,
    changed_at TIMESTAMPTZ NOT NULL
);

-- A phone's own settings (realm PROVISION:<mac>), deleted ones included, by
-- realm: the config state looks them up per phone.
CREATE INDEX dicts_realm ON dicts (realm);
