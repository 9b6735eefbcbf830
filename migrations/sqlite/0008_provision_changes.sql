-- What each change to the phones' data touched, so a node re-renders only
-- those phones: a MAC, or NULL for every phone (a site setting). Written by
-- triggers in the same transaction as the change, whoever makes it (a node,
-- the command line, an administrator's SQL). Nodes read the rows after the
-- last one they saw; rows older than an hour are pruned.

DROP TRIGGER device_provisions_insert_bumps;
DROP TRIGGER device_provisions_update_bumps;
DROP TRIGGER device_provisions_delete_bumps;
DROP TRIGGER device_provision_lines_insert_bumps;
DROP TRIGGER device_provision_lines_update_bumps;
DROP TRIGGER device_provision_lines_delete_bumps;
DROP TRIGGER extensions_insert_bumps;
DROP TRIGGER extensions_update_bumps;
DROP TRIGGER extensions_delete_bumps;
DROP TRIGGER dicts_insert_bumps;
DROP TRIGGER dicts_update_bumps;
DROP TRIGGER dicts_delete_bumps;
DROP TABLE cache_generation;

CREATE TABLE provision_changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    mac TEXT,
    at  INTEGER NOT NULL DEFAULT (unixepoch())
);
CREATE INDEX provision_changes_at ON provision_changes (at);

-- Fetch tracking columns are left out, so a boot storm changes nothing.
CREATE TRIGGER device_provisions_insert_changes AFTER INSERT ON device_provisions
BEGIN INSERT INTO provision_changes (mac) VALUES (NEW.mac); END;
CREATE TRIGGER device_provisions_update_changes AFTER UPDATE OF name, vendor, vendor_code, mac, extn, type, deleted_at ON device_provisions
BEGIN
    INSERT INTO provision_changes (mac) VALUES (OLD.mac);
    INSERT INTO provision_changes (mac) SELECT NEW.mac WHERE NEW.mac <> OLD.mac;
END;
CREATE TRIGGER device_provisions_delete_changes AFTER DELETE ON device_provisions
BEGIN INSERT INTO provision_changes (mac) VALUES (OLD.mac); END;

CREATE TRIGGER device_provision_lines_insert_changes AFTER INSERT ON device_provision_lines
BEGIN INSERT INTO provision_changes (mac) VALUES (NEW.mac); END;
CREATE TRIGGER device_provision_lines_update_changes AFTER UPDATE ON device_provision_lines
BEGIN
    INSERT INTO provision_changes (mac) VALUES (OLD.mac);
    INSERT INTO provision_changes (mac) SELECT NEW.mac WHERE NEW.mac <> OLD.mac;
END;
CREATE TRIGGER device_provision_lines_delete_changes AFTER DELETE ON device_provision_lines
BEGIN INSERT INTO provision_changes (mac) VALUES (OLD.mac); END;

-- An extension matters only to the phones that have it as a line; a new
-- one is on no phone yet.
CREATE TRIGGER extensions_update_changes AFTER UPDATE OF extn, name, domain, cid_name, cid_number, password_enc, disabled, deleted_at ON extensions
BEGIN INSERT INTO provision_changes (mac) SELECT mac FROM device_provision_lines WHERE extension_id = NEW.id; END;
CREATE TRIGGER extensions_delete_changes AFTER DELETE ON extensions
BEGIN INSERT INTO provision_changes (mac) SELECT mac FROM device_provision_lines WHERE extension_id = OLD.id; END;

-- Realm PROVISION is every phone's; PROVISION:<mac> is one phone's; other
-- realms are not the phones' at all.
CREATE TRIGGER dicts_insert_changes AFTER INSERT ON dicts
    WHEN NEW.realm = 'PROVISION' OR NEW.realm LIKE 'PROVISION:%'
BEGIN INSERT INTO provision_changes (mac) VALUES (NULLIF(substr(NEW.realm, 11), '')); END;
CREATE TRIGGER dicts_update_changes AFTER UPDATE ON dicts
    WHEN OLD.realm = 'PROVISION' OR OLD.realm LIKE 'PROVISION:%' OR NEW.realm = 'PROVISION' OR NEW.realm LIKE 'PROVISION:%'
BEGIN
    INSERT INTO provision_changes (mac) VALUES (NULLIF(substr(OLD.realm, 11), ''));
    INSERT INTO provision_changes (mac) SELECT NULLIF(substr(NEW.realm, 11), '') WHERE NEW.realm <> OLD.realm;
END;
CREATE TRIGGER dicts_delete_changes AFTER DELETE ON dicts
    WHEN OLD.realm = 'PROVISION' OR OLD.realm LIKE 'PROVISION:%'
BEGIN INSERT INTO provision_changes (mac) VALUES (NULLIF(substr(OLD.realm, 11), '')); END;
