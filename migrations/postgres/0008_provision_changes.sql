-- What each change to the phones' data touched, so a node re-renders only
-- those phones: a MAC, or NULL for every phone (a site setting). Written by
-- triggers in the same transaction as the change, whoever makes it (a node,
-- the command line, an administrator's SQL). Nodes read the rows after the
-- last one they saw; rows older than an hour are pruned.
--
-- Nodes read rows in `seq` order, so `seq` must follow commit order: every
-- statement that changes the phones' data first takes one transaction lock,
-- so such transactions commit one at a time and a later one never commits
-- a smaller `seq` after a node has read past it.

DROP TRIGGER device_provisions_bumps ON device_provisions;
DROP TRIGGER device_provisions_update_bumps ON device_provisions;
DROP TRIGGER device_provision_lines_bumps ON device_provision_lines;
DROP TRIGGER extensions_bumps ON extensions;
DROP TRIGGER dicts_bumps ON dicts;
DROP FUNCTION bump_cache_generation();
DROP TABLE cache_generation;

CREATE TABLE provision_changes (
    seq BIGSERIAL PRIMARY KEY,
    mac TEXT,
    at  BIGINT NOT NULL DEFAULT extract(epoch FROM now())::bigint
);
CREATE INDEX provision_changes_at ON provision_changes (at);

CREATE FUNCTION provision_changes_in_order() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7283529401);
    RETURN NULL;
END;
$$;

CREATE FUNCTION provision_phone_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO provision_changes (mac) VALUES (OLD.mac);
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.mac <> OLD.mac) THEN
        INSERT INTO provision_changes (mac) VALUES (NEW.mac);
    END IF;
    RETURN NULL;
END;
$$;

-- An extension matters only to the phones that have it as a line.
CREATE FUNCTION provision_extension_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO provision_changes (mac) SELECT mac FROM device_provision_lines WHERE extension_id = OLD.id;
    RETURN NULL;
END;
$$;

-- Realm PROVISION is every phone's; PROVISION:<mac> is one phone's; other
-- realms are not the phones' at all.
CREATE FUNCTION provision_setting_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND (OLD.realm = 'PROVISION' OR OLD.realm LIKE 'PROVISION:%') THEN
        INSERT INTO provision_changes (mac) VALUES (NULLIF(substr(OLD.realm, 11), ''));
    END IF;
    IF (TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.realm <> OLD.realm))
        AND (NEW.realm = 'PROVISION' OR NEW.realm LIKE 'PROVISION:%') THEN
        INSERT INTO provision_changes (mac) VALUES (NULLIF(substr(NEW.realm, 11), ''));
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER device_provisions_in_order BEFORE INSERT OR DELETE OR UPDATE OF name, vendor, vendor_code, mac, extn, type, deleted_at ON device_provisions
    FOR EACH STATEMENT EXECUTE FUNCTION provision_changes_in_order();
CREATE TRIGGER device_provision_lines_in_order BEFORE INSERT OR UPDATE OR DELETE ON device_provision_lines
    FOR EACH STATEMENT EXECUTE FUNCTION provision_changes_in_order();
CREATE TRIGGER extensions_in_order BEFORE DELETE OR UPDATE OF extn, name, domain, cid_name, cid_number, password_enc, disabled, deleted_at ON extensions
    FOR EACH STATEMENT EXECUTE FUNCTION provision_changes_in_order();
CREATE TRIGGER dicts_in_order BEFORE INSERT OR UPDATE OR DELETE ON dicts
    FOR EACH STATEMENT EXECUTE FUNCTION provision_changes_in_order();

-- Fetch tracking columns are left out, so a boot storm changes nothing.
CREATE TRIGGER device_provisions_changes AFTER INSERT OR DELETE ON device_provisions
    FOR EACH ROW EXECUTE FUNCTION provision_phone_changed();
CREATE TRIGGER device_provisions_update_changes AFTER UPDATE OF name, vendor, vendor_code, mac, extn, type, deleted_at ON device_provisions
    FOR EACH ROW EXECUTE FUNCTION provision_phone_changed();
CREATE TRIGGER device_provision_lines_changes AFTER INSERT OR UPDATE OR DELETE ON device_provision_lines
    FOR EACH ROW EXECUTE FUNCTION provision_phone_changed();
CREATE TRIGGER extensions_changes AFTER UPDATE OF extn, name, domain, cid_name, cid_number, password_enc, disabled, deleted_at OR DELETE ON extensions
    FOR EACH ROW EXECUTE FUNCTION provision_extension_changed();
CREATE TRIGGER dicts_changes AFTER INSERT OR UPDATE OR DELETE ON dicts
    FOR EACH ROW EXECUTE FUNCTION provision_setting_changed();
