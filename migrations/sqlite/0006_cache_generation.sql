-- One number that every change to what phones are served bumps, in the same
-- transaction as the change: devices, their lines, extensions, dicts. Each
-- node compares it before using its cache of rendered files, so no node
-- serves an old config once a change is committed. Fetch tracking columns
-- are left out, so a boot storm does not empty the cache.

CREATE TABLE cache_generation (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL
);
INSERT INTO cache_generation (id, generation) VALUES (1, 1);

CREATE TRIGGER device_provisions_insert_bumps AFTER INSERT ON device_provisions
BEGIN UPDATE cache_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER device_provisions_update_bumps AFTER UPDATE OF name, vendor, vendor_code, mac, extn, type, deleted_at ON device_provisions
BEGIN UPDATE cache_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER device_provisions_delete_bumps AFTER DELETE ON device_provisions
BEGIN UPDATE cache_generation SET generation = generation + 1 WHERE id = 1; END;

CREATE TRIGGER device_provision_lines_insert_bumps AFTER INSERT ON device_provision_lines
BEGIN UPDATE cache_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER device_provision_lines_update_bumps AFTER UPDATE ON device_provision_lines
BEGIN UPDATE cache_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER device_provision_lines_delete_bumps AFTER DELETE ON device_provision_lines
BEGIN UPDATE cache_generation SET generation = generation + 1 WHERE id = 1; END;

CREATE TRIGGER extensions_insert_bumps AFTER INSERT ON extensions
BEGIN UPDATE cache_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER extensions_update_bumps AFTER UPDATE ON extensions
BEGIN UPDATE cache_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER extensions_delete_bumps AFTER DELETE ON extensions
BEGIN UPDATE cache_generation SET generation = generation + 1 WHERE id = 1; END;

CREATE TRIGGER dicts_insert_bumps AFTER INSERT ON dicts
BEGIN UPDATE cache_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER dicts_update_bumps AFTER UPDATE ON dicts
BEGIN UPDATE cache_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER dicts_delete_bumps AFTER DELETE ON dicts
BEGIN UPDATE cache_generation SET generation = generation + 1 WHERE id = 1; END;
