-- The company directory phones show is built from every live extension's
-- name and number (store::extensions::DIRECTORY_SQL): a change to any of
-- them is a change to every phone's directory, recorded like a site
-- setting (a NULL MAC). A new extension is in the directory too. An update
-- counts only when it changes what the directory reads.
CREATE TRIGGER extensions_insert_directory AFTER INSERT ON extensions
BEGIN INSERT INTO provision_changes (mac) VALUES (NULL); END;
CREATE TRIGGER extensions_update_directory AFTER UPDATE OF extn, name, disabled, deleted_at ON extensions
    WHEN OLD.extn IS NOT NEW.extn OR OLD.name IS NOT NEW.name
      OR OLD.disabled IS NOT NEW.disabled OR OLD.deleted_at IS NOT NEW.deleted_at
BEGIN INSERT INTO provision_changes (mac) VALUES (NULL); END;
CREATE TRIGGER extensions_delete_directory AFTER DELETE ON extensions
BEGIN INSERT INTO provision_changes (mac) VALUES (NULL); END;
