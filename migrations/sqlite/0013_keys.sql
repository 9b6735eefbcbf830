-- Programmable keys (line, BLF, speed dial, ...): a device's own, and
-- named key templates many devices share; a device's key overrides its
-- template's in the same slot. Keys are a JSON array of
-- {slot, type, value, label}, checked by the admin core before they are
-- written. A change to either is a change to the phones that show it.
CREATE TABLE key_templates (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL,
    keys       TEXT    NOT NULL DEFAULT '[]',
    created_at TEXT    NOT NULL,
    updated_at TEXT    NOT NULL,
    deleted_at TEXT
);
CREATE UNIQUE INDEX key_templates_live_name ON key_templates (name) WHERE deleted_at IS NULL;

ALTER TABLE device_provisions ADD COLUMN keys TEXT NOT NULL DEFAULT '[]';
ALTER TABLE device_provisions ADD COLUMN key_template_id INTEGER REFERENCES key_templates (id);
CREATE INDEX device_provisions_key_template ON device_provisions (key_template_id) WHERE key_template_id IS NOT NULL;

CREATE TRIGGER device_provisions_keys_changes AFTER UPDATE OF keys, key_template_id ON device_provisions
BEGIN INSERT INTO provision_changes (mac) VALUES (NEW.mac); END;
CREATE TRIGGER key_templates_update_changes AFTER UPDATE OF keys, deleted_at ON key_templates
BEGIN
    INSERT INTO provision_changes (mac)
    SELECT mac FROM device_provisions WHERE key_template_id = NEW.id AND deleted_at IS NULL;
END;
