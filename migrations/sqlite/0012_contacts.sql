-- Contacts: names and numbers beyond the extensions (a front desk, a
-- supplier) that the company directory lists. A change to any is a change
-- to every phone's directory, recorded like the extensions' (0011).
CREATE TABLE contacts (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL,
    number     TEXT    NOT NULL,
    created_at TEXT    NOT NULL,
    updated_at TEXT    NOT NULL,
    deleted_at TEXT
);
CREATE INDEX contacts_live ON contacts (name) WHERE deleted_at IS NULL;

CREATE TRIGGER contacts_insert_directory AFTER INSERT ON contacts
BEGIN INSERT INTO provision_changes (mac) VALUES (NULL); END;
CREATE TRIGGER contacts_update_directory AFTER UPDATE OF name, number, deleted_at ON contacts
    WHEN OLD.name IS NOT NEW.name OR OLD.number IS NOT NEW.number OR OLD.deleted_at IS NOT NEW.deleted_at
BEGIN INSERT INTO provision_changes (mac) VALUES (NULL); END;
CREATE TRIGGER contacts_delete_directory AFTER DELETE ON contacts
BEGIN INSERT INTO provision_changes (mac) VALUES (NULL); END;
