-- Media files (uploads, recordings, TTS prompts) and sensors (extn_alarms)
-- with their devices (seed 000).

CREATE TABLE media_files (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    type               TEXT    NOT NULL,
    name               TEXT    NOT NULL DEFAULT '',
    description        TEXT    NOT NULL DEFAULT '',
    file_name          TEXT    NOT NULL DEFAULT '',
    ext                TEXT    NOT NULL DEFAULT '',
    mime               TEXT    NOT NULL DEFAULT '',
    file_size          INTEGER NOT NULL DEFAULT 0,
    channels           INTEGER NOT NULL DEFAULT 0,
    sample_rate        INTEGER NOT NULL DEFAULT 0,
    bit_rate           INTEGER NOT NULL DEFAULT 0,
    duration           INTEGER NOT NULL DEFAULT 0,
    original_file_name TEXT    NOT NULL DEFAULT '',
    dir_path           TEXT    NOT NULL DEFAULT '',
    abs_path           TEXT    NOT NULL DEFAULT '',
    rel_path           TEXT    NOT NULL DEFAULT '',
    thumb_path         TEXT    NOT NULL DEFAULT '',
    meta               TEXT    NOT NULL DEFAULT '',
    geo_position       TEXT    NOT NULL DEFAULT '',
    user_id            INTEGER NOT NULL DEFAULT 0,
    channel_uuid       TEXT    NOT NULL DEFAULT '',
    -- For TTS prompts: a hash of (engine, voice, text), so none is made twice.
    tts_key            TEXT    NOT NULL DEFAULT '',
    processing_flag    INTEGER NOT NULL DEFAULT 0,
    created_at         TEXT    NOT NULL,
    updated_at         TEXT    NOT NULL,
    deleted_at         TEXT
);
CREATE INDEX media_files_type ON media_files (type, created_at);
CREATE INDEX media_files_channel_uuid ON media_files (channel_uuid);
CREATE INDEX media_files_tts_key ON media_files (tts_key) WHERE tts_key <> '';

CREATE TABLE extn_alarms (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL,
    description   TEXT    NOT NULL DEFAULT '',
    caller_number TEXT    NOT NULL DEFAULT '',
    call_duration TEXT    NOT NULL DEFAULT '',
    extn_id       INTEGER NOT NULL DEFAULT 0,
    action        TEXT    NOT NULL DEFAULT 'playback',
    -- JSON {"media_id","media_path","media_type"}, as the list shows it.
    data          TEXT    NOT NULL DEFAULT '',
    media_id      INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL,
    deleted_at    TEXT
);

CREATE TABLE extn_alarm_devices (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    extn_alarms_id INTEGER NOT NULL REFERENCES extn_alarms (id),
    device_id      TEXT    NOT NULL,
    device_name    TEXT    NOT NULL DEFAULT '',
    status         TEXT    NOT NULL DEFAULT 'init',
    event_name     TEXT    NOT NULL DEFAULT '',
    event_time     TEXT    NOT NULL DEFAULT '',
    call_uuid      TEXT    NOT NULL DEFAULT '',
    created_at     TEXT    NOT NULL,
    updated_at     TEXT    NOT NULL,
    deleted_at     TEXT
);
CREATE UNIQUE INDEX extn_alarm_devices_live ON extn_alarm_devices (extn_alarms_id, device_id) WHERE deleted_at IS NULL;
