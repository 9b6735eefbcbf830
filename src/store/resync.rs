//! Pushes: jobs of phones told to re-check now (SIP NOTIFY), each phone's
//! row with its time to be sent, its state and what happened.

use serde::Serialize;
use sqlx::{AssertSqlSafe, FromRow};
use time::OffsetDateTime;

use super::logs::{NewLogEntry, log_in_tx};
use super::{Backend, Db, Result, on_db};

/// A phone's row as a job is made.
#[derive(Debug, Clone)]
pub struct NewPushPhone {
    pub device_id: i64,
    pub mac: String,
    /// Its network (`/24` or `/64`), for the per-network rate.
    pub network: String,
    /// `queued`, or already `unsupported` or `failed`.
    pub state: &'static str,
    pub detail: String,
    pub due_ms: i64,
}

/// A phone waiting or being sent, as the pacing sees it.
#[derive(Debug, Clone, FromRow)]
pub struct Waiting {
    pub network: String,
    pub due_ms: i64,
}

/// A phone's row in a job, as the API shows it.
#[derive(Debug, Clone, FromRow, Serialize, utoipa::ToSchema)]
pub struct PushPhone {
    /// The device record's id.
    #[sqlx(rename = "device_id")]
    pub id: i64,
    pub mac: String,
    /// queued, sent, answered, no_answer, rejected, confirmed, unsupported or failed.
    pub state: String,
    pub detail: String,
}

/// A push to one phone, as its timeline shows it.
#[derive(Debug, Clone, FromRow)]
pub struct PhonePush {
    pub job_id: i64,
    pub created_at: OffsetDateTime,
    pub actor: String,
    pub sent_at: Option<OffsetDateTime>,
    pub state: String,
    pub detail: String,
}

#[derive(Debug, Clone, FromRow)]
pub struct PushJob {
    pub id: i64,
    pub created_at: OffsetDateTime,
    pub actor: String,
    pub phones: i64,
}

/// A row one node took to send.
#[derive(Debug, Clone, FromRow)]
pub struct Claimed {
    pub job_id: i64,
    pub device_id: i64,
    pub mac: String,
    /// The claim's token: the outcome is written only under it.
    pub claim: String,
}

/// Times a row may be taken without an outcome before it fails.
const MAX_ATTEMPTS: i64 = 3;

/// How a send ended, for its row.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub state: &'static str,
    pub detail: String,
}

/// States of rows still to be sent or being sent.
const WAITING: &str = "state IN ('queued', 'sending')";

impl Db {
    /// Makes a job: under the queue's lock, `plan` is given the rows waiting
    /// now and how many jobs they belong to, and gives this job's rows (or
    /// refuses, with its reason). Logged with `log`.
    pub async fn insert_push_job<F>(
        &self,
        actor: &str,
        now: OffsetDateTime,
        now_ms: i64,
        log: &NewLogEntry,
        on_change: Option<(i64, i64)>,
        plan: F,
    ) -> Result<std::result::Result<(i64, Vec<NewPushPhone>), String>>
    where
        F: FnOnce(&[Waiting], i64) -> std::result::Result<Vec<NewPushPhone>, String>,
    {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            pool.lock_push_queue(&mut tx).await?;
            // Rows sent within the last minute count too: a network's gap
            // holds across pushes.
            let waiting: Vec<Waiting> = sqlx::query_as(AssertSqlSafe(format!(
                "SELECT network, due_ms FROM resync_phones WHERE {WAITING} OR due_ms > $1")))
                .bind(now_ms - 60_000)
                .fetch_all(&mut *tx).await?;
            let jobs: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
                "SELECT COUNT(DISTINCT job_id) FROM resync_phones WHERE {WAITING}")))
                .fetch_one(&mut *tx).await?;
            // Push on change moves its mark in the same transaction, so a
            // batch is queued once, by one node, or not at all.
            if let Some((from, to)) = on_change {
                let moved = sqlx::query("UPDATE resync_on_change SET seq = $2 WHERE id = 1 AND seq = $1")
                    .bind(from).bind(to).execute(&mut *tx).await?;
                if moved.rows_affected() != 1 {
                    return Ok(Err("another node queued these changes".into()));
                }
            }
            let rows = match plan(&waiting, jobs) {
                Ok(rows) => rows,
                Err(refused) => return Ok(Err(refused)),
            };
            let job: i64 = sqlx::query_scalar(
                "INSERT INTO resync_jobs (created_at, actor, phones) VALUES ($1, $2, $3) RETURNING id")
                .bind(now).bind(actor).bind(rows.len() as i64)
                .fetch_one(&mut *tx).await?;
            for r in &rows {
                sqlx::query(
                    "INSERT INTO resync_phones (job_id, device_id, mac, network, state, detail, due_ms)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)")
                    .bind(job).bind(r.device_id).bind(&r.mac).bind(&r.network).bind(r.state).bind(&r.detail).bind(r.due_ms)
                    .execute(&mut *tx).await?;
            }
            log_in_tx!(tx, log, Some(job), rows.len(), now);
            tx.commit().await?;
            Ok(Ok((job, rows)))
        })
    }

    pub async fn push_job(&self, id: i64) -> Result<Option<PushJob>> {
        on_db!(self, pool => sqlx::query_as("SELECT id, created_at, actor, phones FROM resync_jobs WHERE id = $1")
            .bind(id).fetch_optional(pool).await)
    }

    /// How many of a job's phones are still to be told (queued or being sent).
    pub async fn push_waiting(&self, job: i64) -> Result<i64> {
        on_db!(self, pool => sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM resync_phones WHERE job_id = $1 AND ({WAITING})")))
            .bind(job).fetch_one(pool).await)
    }

    /// A job's phones in device order; a row being sent shows as `sent`.
    pub async fn push_phones(&self, job: i64) -> Result<Vec<PushPhone>> {
        on_db!(self, pool => sqlx::query_as(
            "SELECT device_id, mac, CASE state WHEN 'sending' THEN 'sent' ELSE state END AS state, detail
             FROM resync_phones WHERE job_id = $1 ORDER BY device_id")
            .bind(job).fetch_all(pool).await)
    }

    /// Takes up to `limit` rows due at `now_ms` (of `job`, or any when 0)
    /// for this node until `until_ms`, under the token `claim`. Rows another
    /// node took and did not finish by their claim go back to the queue
    /// first, or fail once taken three times.
    pub async fn claim_due_pushes(
        &self,
        now_ms: i64,
        until_ms: i64,
        limit: i64,
        job: i64,
        claim: &str,
    ) -> Result<Vec<Claimed>> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "UPDATE resync_phones SET state = CASE WHEN attempts >= $2 THEN 'failed' ELSE 'queued' END,
                    detail = CASE WHEN attempts >= $2 THEN 'sending was cut off three times (the sender stopped)' ELSE detail END,
                    claim = NULL
                 WHERE state = 'sending' AND claimed_until < $1")
                .bind(now_ms).bind(MAX_ATTEMPTS).execute(&mut *tx).await?;
            let sql = format!(
                "UPDATE resync_phones SET state = 'sending', claimed_until = $2, claim = $5, attempts = attempts + 1
                 WHERE state = 'queued' AND (job_id, device_id) IN (
                    SELECT job_id, device_id FROM resync_phones
                    WHERE state = 'queued' AND due_ms <= $1 AND ($4 = 0 OR job_id = $4)
                    ORDER BY due_ms LIMIT $3{})
                 RETURNING job_id, device_id, mac, claim", pool_skip_taken(pool));
            let claimed = sqlx::query_as(AssertSqlSafe(sql))
                .bind(now_ms).bind(until_ms).bind(limit).bind(job).bind(claim)
                .fetch_all(&mut *tx).await?;
            tx.commit().await?;
            Ok(claimed)
        })
    }

    /// When the next row is due, if any is waiting.
    pub async fn next_push_due(&self) -> Result<Option<i64>> {
        on_db!(self, pool => sqlx::query_scalar("SELECT MIN(due_ms) FROM resync_phones WHERE state = 'queued'")
            .fetch_one(pool).await)
    }

    /// Writes how a send ended, unless the phone was confirmed meanwhile.
    pub async fn finish_push(&self, row: &Claimed, outcome: &Outcome, sent_at: OffsetDateTime) -> Result<()> {
        on_db!(self, pool => sqlx::query(
            "UPDATE resync_phones SET state = $3, detail = $4, sent_at = $5, claimed_until = NULL, claim = NULL
             WHERE job_id = $1 AND device_id = $2 AND state = 'sending' AND claim = $6")
            .bind(row.job_id).bind(row.device_id).bind(outcome.state).bind(&outcome.detail).bind(sent_at).bind(&row.claim)
            .execute(pool).await.map(drop))
    }

    /// Marks confirmed every phone of a job that fetched at or after the
    /// job's start: it has the files that were current then. A phone still
    /// queued is confirmed too, and is not sent anything. Returns how many.
    pub async fn confirm_pushes(&self) -> Result<u64> {
        on_db!(self, pool => sqlx::query(
            "UPDATE resync_phones SET state = 'confirmed', detail = ''
             WHERE state IN ('queued', 'sent', 'answered', 'no_answer')
               AND EXISTS (SELECT 1 FROM device_provisions d JOIN resync_jobs j ON j.id = resync_phones.job_id
                           WHERE d.id = resync_phones.device_id AND d.last_provisioned_at >= j.created_at)")
            .execute(pool).await.map(|done| done.rows_affected()))
    }

    /// Notes on phones that answered (or, through FreeSWITCH, were sent the
    /// NOTIFY) before `answered_before` and have not fetched since that they
    /// are not confirmed.
    pub async fn note_unconfirmed(&self, answered_before: OffsetDateTime, detail: &str) -> Result<u64> {
        on_db!(self, pool => sqlx::query(
            "UPDATE resync_phones SET detail = $2 WHERE state IN ('answered', 'sent') AND sent_at < $1 AND detail <> $2")
            .bind(answered_before).bind(detail)
            .execute(pool).await.map(|done| done.rows_affected()))
    }

    /// Deletes jobs made before `before` and, past the newest `keep` jobs,
    /// the older ones, with their rows.
    pub async fn prune_push_jobs(&self, before: OffsetDateTime, keep: i64) -> Result<u64> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let cut = "SELECT id FROM resync_jobs WHERE created_at < $1
                       OR id NOT IN (SELECT id FROM resync_jobs ORDER BY id DESC LIMIT $2)";
            sqlx::query(AssertSqlSafe(format!("DELETE FROM resync_phones WHERE job_id IN ({cut})")))
                .bind(before).bind(keep).execute(&mut *tx).await?;
            let done = sqlx::query(AssertSqlSafe(format!("DELETE FROM resync_jobs WHERE id IN ({cut})")))
                .bind(before).bind(keep).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(done.rows_affected())
        })
    }
}

/// The claim's suffix for this pool's backend.
fn pool_skip_taken<B: Backend>(_: &B) -> &'static str {
    B::SKIP_TAKEN
}

/// A phone a push may tell, as its plan needs it.
#[derive(Debug, Clone, FromRow)]
pub struct PushCandidate {
    pub id: i64,
    pub mac: String,
    pub vendor_code: String,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub last_ip: String,
}

/// Which phones a push tells.
#[derive(Debug, Clone)]
pub enum Pick {
    Ids(Vec<i64>),
    Macs(Vec<String>),
    Vendor(String),
    /// Phones whose last fetch is older than a change to their files.
    Older,
    /// Those of these MACs whose config is older and that no push is about
    /// to tell already (push on change); a MAC without a record is passed over.
    Changed(Vec<String>),
    /// Every phone whose config is older and that no push is about to tell
    /// already (push on change after a site-wide change).
    OlderUntold,
}

/// Phones no push is about to tell.
macro_rules! untold_sql {
    () => {
        "NOT EXISTS (SELECT 1 FROM resync_phones r WHERE r.device_id = d.id AND r.state IN ('queued', 'sending'))"
    };
}

const CANDIDATES: &str =
    "SELECT d.id, d.mac, d.vendor_code, d.type, d.last_ip FROM device_provisions d WHERE d.deleted_at IS NULL";

impl Db {
    /// The live records `pick` names, in id order; at most `limit`.
    pub async fn push_candidates(&self, pick: &Pick, limit: i64) -> Result<Vec<PushCandidate>> {
        let mut found: Vec<PushCandidate> = match pick {
            Pick::Ids(ids) => {
                let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
                self.fetch_where_in(
                    "SELECT d.id, d.mac, d.vendor_code, d.type, d.last_ip FROM device_provisions d
                     WHERE d.deleted_at IS NULL AND CAST(d.id AS TEXT) IN ({in})",
                    &ids,
                )
                .await?
            }
            Pick::Macs(macs) => {
                self.fetch_where_in(
                    "SELECT d.id, d.mac, d.vendor_code, d.type, d.last_ip FROM device_provisions d
                     WHERE d.deleted_at IS NULL AND d.mac IN ({in})",
                    macs,
                )
                .await?
            }
            Pick::Vendor(code) => {
                let sql = format!("{CANDIDATES} AND d.vendor_code = $1 ORDER BY d.id LIMIT $2");
                on_db!(self, pool => sqlx::query_as(AssertSqlSafe(sql)).bind(code).bind(limit).fetch_all(pool).await)?
            }
            Pick::Changed(macs) => {
                let sql = concat!(
                    "SELECT d.id, d.mac, d.vendor_code, d.type, d.last_ip FROM device_provisions d
                     WHERE d.deleted_at IS NULL AND d.mac IN ({in}) AND ",
                    super::devices::config_state_sql!(),
                    " = 'older' AND ",
                    untold_sql!()
                );
                self.fetch_where_in(sql, macs).await?
            }
            Pick::Older | Pick::OlderUntold => {
                let untold = if matches!(pick, Pick::OlderUntold) {
                    concat!(" AND ", untold_sql!())
                } else {
                    ""
                };
                let sql = format!(
                    "{CANDIDATES} AND {} = 'older'{untold} ORDER BY d.id LIMIT $1",
                    super::devices::config_state_sql!()
                );
                on_db!(self, pool => sqlx::query_as(AssertSqlSafe(sql)).bind(limit).fetch_all(pool).await)?
            }
        };
        found.sort_by_key(|c| c.id);
        Ok(found)
    }

    /// The newest change, how old the oldest and newest after `seq` are
    /// (unix seconds), and whether one of them touched every phone.
    pub async fn changes_since(&self, seq: i64) -> Result<Option<ChangesSince>> {
        let found: Option<ChangesSince> = on_db!(self, pool => sqlx::query_as(
            "SELECT MAX(seq) AS last, MIN(at) AS first_at, MAX(at) AS last_at,
                    COUNT(*) - COUNT(mac) AS site_wide
             FROM provision_changes WHERE seq > $1 HAVING COUNT(*) > 0")
            .bind(seq).fetch_optional(pool).await)?;
        Ok(found)
    }

    /// The MACs changes after `from` up to `to` touched, at most `limit`.
    pub async fn changed_macs(&self, from: i64, to: i64, limit: i64) -> Result<Vec<String>> {
        on_db!(self, pool => sqlx::query_scalar(
            "SELECT DISTINCT mac FROM provision_changes WHERE seq > $1 AND seq <= $2 AND mac IS NOT NULL ORDER BY mac LIMIT $3")
            .bind(from).bind(to).bind(limit).fetch_all(pool).await)
    }

    /// Where push on change stands.
    pub async fn push_on_change_seq(&self) -> Result<i64> {
        on_db!(self, pool => sqlx::query_scalar("SELECT seq FROM resync_on_change WHERE id = 1").fetch_one(pool).await)
    }

    /// Moves push on change from `from` to `to` without a push (it is off,
    /// or nothing is to be told); false when another node moved it first.
    pub async fn advance_push_on_change(&self, from: i64, to: i64) -> Result<bool> {
        on_db!(self, pool => sqlx::query("UPDATE resync_on_change SET seq = $2 WHERE id = 1 AND seq = $1")
            .bind(from).bind(to).execute(pool).await.map(|done| done.rows_affected() == 1))
    }
}

/// Changes not yet pushed (see [`Db::changes_since`]).
#[derive(Debug, Clone, FromRow)]
pub struct ChangesSince {
    pub last: i64,
    pub first_at: i64,
    pub last_at: i64,
    pub site_wide: i64,
}

impl Db {
    /// The newest pushes to a device's phone, newest first.
    pub async fn device_pushes(&self, device_id: i64, limit: i64) -> Result<Vec<PhonePush>> {
        on_db!(self, pool => sqlx::query_as(
            "SELECT j.id AS job_id, j.created_at, j.actor, p.sent_at,
                    CASE p.state WHEN 'sending' THEN 'sent' ELSE p.state END AS state, p.detail
             FROM resync_phones p JOIN resync_jobs j ON j.id = p.job_id
             WHERE p.device_id = $1 ORDER BY j.id DESC LIMIT $2")
            .bind(device_id).bind(limit).fetch_all(pool).await)
    }
}
