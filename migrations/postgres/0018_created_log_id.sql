-- The operation-log row that created each record: an import logs its rows
-- together ("N rows"), so a record's timeline finds the import that made it
-- by this id, not by the summary. No foreign key: old log rows are pruned,
-- and a record keeps its history without them.
ALTER TABLE device_provisions ADD COLUMN created_log_id BIGINT;
