-- Each family's pack prints (a hash of its manifests and templates) and
-- when each was first seen: a phone that fetched before its family's newest
-- print appeared is older. Kept by (family, print), first seen only, so
-- nodes (or a command) whose packs differ add a print once and never move
-- its date: the state settles instead of flipping with each restart.
CREATE TABLE pack_versions (
    vendor     TEXT NOT NULL,
    print      TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    PRIMARY KEY (vendor, print)
);
CREATE INDEX pack_versions_vendor ON pack_versions (vendor, first_seen);

-- A phone's own settings (realm PROVISION:<mac>), deleted ones included, by
-- realm: the config state looks them up per phone.
CREATE INDEX dicts_realm ON dicts (realm);

-- A device's pushes, newest first, for its timeline.
CREATE INDEX resync_phones_device ON resync_phones (device_id, job_id);
