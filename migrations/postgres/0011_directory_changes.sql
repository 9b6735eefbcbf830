-- The company directory phones show is built from every live extension's
-- name and number (store::extensions::DIRECTORY_SQL): a change to any of
-- them is a change to every phone's directory, recorded like a site
-- setting (a NULL MAC). Inserts and deletes count once per statement (an
-- import of 10,000 extensions is one change); an update counts only when
-- it changes what the directory reads.
CREATE FUNCTION provision_directory_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO provision_changes (mac) VALUES (NULL);
    RETURN NULL;
END;
$$;

CREATE TRIGGER extensions_insert_in_order BEFORE INSERT ON extensions
    FOR EACH STATEMENT EXECUTE FUNCTION provision_changes_in_order();
CREATE TRIGGER extensions_insert_delete_directory AFTER INSERT OR DELETE ON extensions
    FOR EACH STATEMENT EXECUTE FUNCTION provision_directory_changed();
CREATE TRIGGER extensions_update_directory AFTER UPDATE OF extn, name, disabled, deleted_at ON extensions
    FOR EACH ROW
    WHEN (OLD.extn IS DISTINCT FROM NEW.extn OR OLD.name IS DISTINCT FROM NEW.name
          OR OLD.disabled IS DISTINCT FROM NEW.disabled OR OLD.deleted_at IS DISTINCT FROM NEW.deleted_at)
    EXECUTE FUNCTION provision_directory_changed();
