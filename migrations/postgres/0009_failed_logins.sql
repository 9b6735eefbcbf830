-- Failed logins go to the operation log as one row per login name and
-- source network per hour, its count kept up to date, not one row per
-- attempt; past 1,000 such rows in an hour, the rest share one row. This
-- table finds the row a failure is counted on (sipprov's store/logs.rs).
CREATE TABLE failed_login_rows (
    hour     TIMESTAMPTZ NOT NULL,
    login    TEXT        NOT NULL,
    network  TEXT        NOT NULL,
    log_id   BIGINT      NOT NULL,
    attempts BIGINT      NOT NULL,
    PRIMARY KEY (hour, login, network)
);
CREATE INDEX logs_user_created ON logs (user_id, created_at);
