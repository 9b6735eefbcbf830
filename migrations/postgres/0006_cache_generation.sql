-- One number that every change to what phones are served bumps, in the same
-- transaction as the change: devices, their lines, extensions, dicts. Each
-- node compares it before using its cache of rendered files, so no node
-- serves an old config once a change is committed. Fetch tracking columns
-- are left out, so a boot storm does not empty the cache.

CREATE TABLE cache_generation (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    generation BIGINT NOT NULL
);
INSERT INTO cache_generation (id, generation) VALUES (1, 1);

CREATE FUNCTION bump_cache_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE cache_generation SET generation = generation + 1 WHERE id = 1;
    RETURN NULL;
END;
$$;

-- Once per statement: a bulk import bumps it once, not per row.
CREATE TRIGGER device_provisions_bumps AFTER INSERT OR DELETE ON device_provisions
    FOR EACH STATEMENT EXECUTE FUNCTION bump_cache_generation();
CREATE TRIGGER device_provisions_update_bumps AFTER UPDATE OF name, vendor, vendor_code, mac, extn, type, deleted_at ON device_provisions
    FOR EACH STATEMENT EXECUTE FUNCTION bump_cache_generation();
CREATE TRIGGER device_provision_lines_bumps AFTER INSERT OR UPDATE OR DELETE ON device_provision_lines
    FOR EACH STATEMENT EXECUTE FUNCTION bump_cache_generation();
CREATE TRIGGER extensions_bumps AFTER INSERT OR UPDATE OR DELETE ON extensions
    FOR EACH STATEMENT EXECUTE FUNCTION bump_cache_generation();
CREATE TRIGGER dicts_bumps AFTER INSERT OR UPDATE OR DELETE ON dicts
    FOR EACH STATEMENT EXECUTE FUNCTION bump_cache_generation();
