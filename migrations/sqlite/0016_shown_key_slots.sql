-- Every slot a device's phone was given a key in (a JSON array, growing
-- with each change of its keys or its template's): a slot in it without a
-- key now is written empty, so a key taken away leaves the phone too.
-- Rows from before it start with none, and gain their slots at their next
-- change, which counts the keys before the change as well.
ALTER TABLE device_provisions ADD COLUMN shown_key_slots TEXT NOT NULL DEFAULT '[]';

-- It is read for the phone's files: a change to it is a change to them.
DROP TRIGGER device_provisions_keys_changes;
CREATE TRIGGER device_provisions_keys_changes AFTER UPDATE OF keys, key_template_id, shown_key_slots ON device_provisions
BEGIN INSERT INTO provision_changes (mac) VALUES (NEW.mac); END;
