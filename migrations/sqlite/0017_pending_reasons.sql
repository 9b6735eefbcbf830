-- Why a pending phone's last fetch got no file: its MAC has no record, and
-- whether its network was made to wait.
ALTER TABLE pending_phones ADD COLUMN reason TEXT NOT NULL DEFAULT '';
