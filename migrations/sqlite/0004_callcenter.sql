-- Call-centre agents (users of type AGENT), queues, their agents (tiers)
-- and extra parameters, and the dicts that list the parameters (seed 002).

ALTER TABLE users ADD COLUMN extn         TEXT    NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN extn_id      INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN cid_name     TEXT    NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN cid_number   TEXT    NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN context      TEXT    NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN domain       TEXT    NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN email        TEXT    NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN tel          TEXT    NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN tel_enabled  INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN auto_record  INTEGER NOT NULL DEFAULT 0;
-- Voicemail PIN, encrypted: FreeSWITCH needs it back.
ALTER TABLE users ADD COLUMN vm_password_enc TEXT NOT NULL DEFAULT '';
-- JSON object of mod_callcenter agent settings.
ALTER TABLE users ADD COLUMN agent_info   TEXT    NOT NULL DEFAULT '{}';
ALTER TABLE users ADD COLUMN ha1          TEXT    NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN ha1b         TEXT    NOT NULL DEFAULT '';

CREATE TABLE queues (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT    NOT NULL,
    description     TEXT    NOT NULL DEFAULT '',
    type            TEXT    NOT NULL,
    strategy        TEXT    NOT NULL,
    template        TEXT    NOT NULL DEFAULT '',
    cti_template    TEXT    NOT NULL DEFAULT '',
    -- JSON: {"media_id"} or {"media_path"}; '' for none.
    moh_sound       TEXT    NOT NULL DEFAULT '',
    greeting        TEXT    NOT NULL DEFAULT '',
    auto_record     INTEGER NOT NULL DEFAULT 0,
    load_url        TEXT    NOT NULL DEFAULT '',
    load_url_params TEXT    NOT NULL DEFAULT '{}',
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL,
    deleted_at      TEXT
);
CREATE UNIQUE INDEX queues_name_live ON queues (name) WHERE deleted_at IS NULL;

CREATE TABLE queue_agents (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    queue_id          INTEGER NOT NULL REFERENCES queues (id),
    agent_id          INTEGER NOT NULL REFERENCES users (id),
    agent_name        TEXT    NOT NULL DEFAULT '',
    level             INTEGER NOT NULL DEFAULT 1,
    position          INTEGER NOT NULL DEFAULT 1,
    disabled          INTEGER NOT NULL DEFAULT 0,
    description       TEXT    NOT NULL DEFAULT '',
    external_queue_id TEXT    NOT NULL DEFAULT '',
    external_agent_id TEXT    NOT NULL DEFAULT '',
    created_at        TEXT    NOT NULL,
    updated_at        TEXT    NOT NULL,
    deleted_at        TEXT
);
CREATE UNIQUE INDEX queue_agents_live ON queue_agents (queue_id, agent_id) WHERE deleted_at IS NULL;
CREATE INDEX queue_agents_agent ON queue_agents (agent_id);

CREATE TABLE queue_params (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    ref_id     INTEGER NOT NULL REFERENCES queues (id),
    realm      TEXT    NOT NULL,
    k          TEXT    NOT NULL,
    v          TEXT    NOT NULL DEFAULT '',
    disabled   INTEGER NOT NULL DEFAULT 0,
    created_at TEXT    NOT NULL,
    updated_at TEXT    NOT NULL,
    deleted_at TEXT
);
CREATE UNIQUE INDEX queue_params_live ON queue_params (ref_id, k) WHERE deleted_at IS NULL;

INSERT INTO dicts (realm, k, v, d, o, created_at, updated_at)
VALUES ('QUEUE_CC_PARAM', 'Announce Sound', 'announce-sound', '播报声音文件', 0, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
       ('QUEUE_CC_PARAM', 'Announce Frequency', 'announce-frequency', '播报间隔时间', 1, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
       ('QUEUE_CC_PARAM', 'Announce Agent Answer', 'announce-agent-answer', '播报工号', 2, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
       ('QUEUE_CC_PARAM', 'Announce Position', 'announce-position', '播报位置', 3, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
       ('QUEUE_CC_PARAM', 'Retain Agent', 'retain-agent', '最小空闲坐席数', 4, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
       ('QUEUE_CC_PARAM', 'Wait Timeout', 'wait-timeout', '最大等待时间', 5, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
       ('QUEUE_CC_PARAM', 'Wait Timeout Without Agent', 'wait-timeout-without-agent', '无坐席最大等待时间', 6, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
       ('QUEUE_CC_PARAM', 'Wait Timeout Without Agent Time Reached', 'wait-timeout-without-agent-time-reached', '无坐席额外等待时间', 7, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
       ('QUEUE_CC_PARAM', 'Overflow Capacity Action', 'overflow-capacity-action', '排队溢出操作', 8, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
       ('QUEUE_CC_PARAM', 'Wait Timeout Without Agent Action', 'wait-timeout-without-agent-action', '无坐席超时操作', 9, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
       ('QUEUE_CC_PARAM', 'Wait Timeout Action', 'wait-timeout-action', '超时操作', 10, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
       ('QUEUE_CC_PARAM', 'Tier Rules Apply', 'tier-rules-apply', '应用阶层规则', 11, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
       ('QUEUE_CC_PARAM', 'Tier Rule Wait Second', 'tier-rule-wait-second', '进入下一阶层等待时长', 12, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
       ('QUEUE_CC_PARAM', 'Tier Rule Wait Multiply Level', 'tier-rule-wait-multiply-level', '阶层等待倍增等级', 13, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
       ('QUEUE_CC_PARAM', 'Tier Rule No Agent No Wait', 'tier-rule-no-agent-no-wait', '无坐席无等待阶层规则', 14, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
       ('QUEUE_CC_PARAM', 'Abandoned Resume Allowed', 'abandoned-resume-allowed', '是否放弃之前等待时间', 15, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
       ('QUEUE_CC_PARAM', 'Discard Abandoned After', 'discard-abandoned-after', '删除之前等待时间', 16, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
       ('QUEUE_CC_PARAM', 'Time Base Score', 'time-base-score', '时间基准分数', 17, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
       ('QUEUE_CC_PARAM', 'Capacity', 'capacity', '容量', 18, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
       ('QUEUE_CC_PARAM', 'Agent Timeout', 'agent-timeout', '坐席超时时间', 19, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
       ('QUEUE_FIFO_PARAM', 'Importance', 'importance', '重要等级', 0, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
       ('QUEUE_FIFO_PARAM', 'Outbound Per Cycle', 'outbound_per_cycle', '坐席群振数量', 1, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
       ('QUEUE_FIFO_PARAM', 'Outbound Per Cycle Min', 'outbound_per_cycle_min', '坐席最小群振数量', 2, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
       ('QUEUE_FIFO_PARAM', 'Outbound Priority', 'outbound_priority', '优先级', 3, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
       ('QUEUE_FIFO_PARAM', 'Outbound Name', 'outbound_name', '外呼显示名', 4, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
       ('QUEUE_FIFO_PARAM', 'Retry Delay', 'retry_delay', '重拨延时', 5, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
       ('QUEUE_FIFO_PARAM', 'Outbound Ring Timeout', 'outbound_ring_timeout', '响铃时间', 6, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
       ('QUEUE_FIFO_PARAM', 'Outbound Default Lag', 'outbound_default_lag', '默认延迟', 7, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now'));
