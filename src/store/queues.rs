//! Call-centre queues, the agents in them (tiers) and their extra
//! parameters.

use serde::Serialize;
use sqlx::{AssertSqlSafe, FromRow};
use time::OffsetDateTime;

use super::list::{Filter, ListSpec};
use super::{Backend, Db, Result, on_db};
use crate::domain::timestamp::RowTimes;

pub const COLUMNS: &str = "id, name, description, type, strategy, template, cti_template, moh_sound, greeting, auto_record, load_url, load_url_params, created_at, updated_at, deleted_at";

#[derive(Debug, Clone, FromRow)]
pub struct Queue {
    pub id: i64,
    #[sqlx(flatten)]
    pub fields: QueueFields,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub deleted_at: Option<OffsetDateTime>,
}

/// The fields of a queue that the API writes.
#[derive(Debug, Clone, FromRow)]
pub struct QueueFields {
    pub name: String,
    pub description: String,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub strategy: String,
    pub template: String,
    pub cti_template: String,
    /// `""`, or JSON `{"media_id"}` / `{"media_path"}`.
    pub moh_sound: String,
    pub greeting: String,
    pub auto_record: i64,
    pub load_url: String,
    pub load_url_params: String,
}

/// Columns of a tier row joined with its queue and agent.
pub const AGENT_COLUMNS: &str =
    "a.id, a.queue_id, a.agent_id, a.agent_name, a.level, a.position, a.disabled, a.description,
    a.external_queue_id, a.external_agent_id, a.created_at, a.updated_at, a.deleted_at,
    q.name AS queue_name, u.extn, u.name, u.domain";
pub const AGENT_FROM: &str = "queue_agents a JOIN queues q ON q.id = a.queue_id JOIN users u ON u.id = a.agent_id";

#[derive(Debug, Clone, FromRow, Serialize, utoipa::ToSchema)]
pub struct QueueAgent {
    pub id: i64,
    pub queue_id: i64,
    pub agent_id: i64,
    pub agent_name: String,
    pub level: i64,
    pub position: i64,
    pub disabled: i64,
    pub description: String,
    pub external_queue_id: String,
    pub external_agent_id: String,
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub times: RowTimes,
    pub queue_name: String,
    /// The agent's extension number, name and domain.
    pub extn: String,
    pub name: String,
    pub domain: String,
}

pub const PARAM_COLUMNS: &str = "id, ref_id, realm, k, v, disabled, created_at, updated_at, deleted_at";

#[derive(Debug, Clone, FromRow, Serialize, utoipa::ToSchema)]
pub struct QueueParam {
    pub id: i64,
    /// The queue's id.
    pub ref_id: i64,
    /// CC or FIFO.
    pub realm: String,
    pub k: String,
    pub v: String,
    pub disabled: i64,
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub times: RowTimes,
}

macro_rules! bind_queue {
    ($query:expr, $f:expr) => {
        $query
            .bind(&$f.name)
            .bind(&$f.description)
            .bind(&$f.kind)
            .bind(&$f.strategy)
            .bind(&$f.template)
            .bind(&$f.cti_template)
            .bind(&$f.moh_sound)
            .bind(&$f.greeting)
            .bind($f.auto_record)
            .bind(&$f.load_url)
            .bind(&$f.load_url_params)
    };
}

impl Db {
    pub async fn queue(&self, id: i64) -> Result<Option<Queue>> {
        let sql = format!("SELECT {COLUMNS} FROM queues WHERE id = $1 AND deleted_at IS NULL");
        on_db!(self, pool => sqlx::query_as(AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await)
    }

    pub async fn insert_queue(&self, f: &QueueFields, now: OffsetDateTime) -> Result<i64> {
        on_db!(self, pool => bind_queue!(sqlx::query_scalar(
            "INSERT INTO queues (name, description, type, strategy, template, cti_template, moh_sound, greeting, auto_record,
                load_url, load_url_params, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) RETURNING id"), f)
            .bind(now).fetch_one(pool).await)
    }

    pub async fn update_queue(&self, id: i64, f: &QueueFields, now: OffsetDateTime) -> Result<bool> {
        on_db!(self, pool => bind_queue!(sqlx::query(
            "UPDATE queues SET name = $2, description = $3, type = $4, strategy = $5, template = $6, cti_template = $7,
                moh_sound = $8, greeting = $9, auto_record = $10, load_url = $11, load_url_params = $12, updated_at = $13
             WHERE id = $1 AND deleted_at IS NULL").bind(id), f)
            .bind(now).execute(pool).await.map(|r| r.rows_affected() == 1))
    }

    /// Deletes a queue with its agents and parameters.
    pub async fn delete_queue(&self, id: i64, now: OffsetDateTime) -> Result<bool> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let done = sqlx::query("UPDATE queues SET deleted_at = $2, updated_at = $2 WHERE id = $1 AND deleted_at IS NULL")
                .bind(id).bind(now).execute(&mut *tx).await?;
            sqlx::query("UPDATE queue_agents SET deleted_at = $2, updated_at = $2 WHERE queue_id = $1 AND deleted_at IS NULL")
                .bind(id).bind(now).execute(&mut *tx).await?;
            sqlx::query("UPDATE queue_params SET deleted_at = $2, updated_at = $2 WHERE ref_id = $1 AND deleted_at IS NULL")
                .bind(id).bind(now).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Adds agents to a queue, all or nothing. An agent already in the
    /// queue keeps its tier as it is. Returns the tiers of `agents`.
    pub async fn add_queue_agents(
        &self,
        queue_id: i64,
        agents: &[(i64, String)],
        now: OffsetDateTime,
    ) -> Result<Vec<QueueAgent>> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            for (agent_id, agent_name) in agents {
                sqlx::query(
                    "INSERT INTO queue_agents (queue_id, agent_id, agent_name, created_at, updated_at)
                     SELECT $1, $2, $3, $4, $4 WHERE NOT EXISTS
                       (SELECT 1 FROM queue_agents WHERE queue_id = $1 AND agent_id = $2 AND deleted_at IS NULL)")
                    .bind(queue_id).bind(agent_id).bind(agent_name).bind(now).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        let mut out = Vec::with_capacity(agents.len());
        for (agent_id, _) in agents {
            out.extend(self.queue_agent(queue_id, *agent_id).await?);
        }
        Ok(out)
    }

    pub async fn queue_agent(&self, queue_id: i64, agent_id: i64) -> Result<Option<QueueAgent>> {
        let sql = format!(
            "SELECT {AGENT_COLUMNS} FROM {AGENT_FROM} WHERE a.queue_id = $1 AND a.agent_id = $2 AND a.deleted_at IS NULL"
        );
        on_db!(self, pool => sqlx::query_as(AssertSqlSafe(sql)).bind(queue_id).bind(agent_id).fetch_optional(pool).await)
    }

    pub async fn remove_queue_agent(&self, queue_id: i64, agent_id: i64, now: OffsetDateTime) -> Result<bool> {
        on_db!(self, pool => sqlx::query(
            "UPDATE queue_agents SET deleted_at = $3, updated_at = $3 WHERE queue_id = $1 AND agent_id = $2 AND deleted_at IS NULL")
            .bind(queue_id).bind(agent_id).bind(now).execute(pool).await.map(|r| r.rows_affected() == 1))
    }

    /// Which of these users exist, live.
    pub async fn live_user_ids(&self, ids: &[i64]) -> Result<Vec<i64>> {
        let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
        let found: Vec<(i64,)> = self
            .fetch_where_in(
                "SELECT id FROM users WHERE deleted_at IS NULL AND CAST(id AS TEXT) IN ({in})",
                &ids,
            )
            .await?;
        Ok(found.into_iter().map(|(id,)| id).collect())
    }

    pub async fn queue_params(&self, queue_id: i64) -> Result<Vec<QueueParam>> {
        let sql =
            format!("SELECT {PARAM_COLUMNS} FROM queue_params WHERE ref_id = $1 AND deleted_at IS NULL ORDER BY id");
        on_db!(self, pool => sqlx::query_as(AssertSqlSafe(sql)).bind(queue_id).fetch_all(pool).await)
    }

    pub async fn queue_param(&self, queue_id: i64, id: i64) -> Result<Option<QueueParam>> {
        let sql =
            format!("SELECT {PARAM_COLUMNS} FROM queue_params WHERE ref_id = $1 AND id = $2 AND deleted_at IS NULL");
        on_db!(self, pool => sqlx::query_as(AssertSqlSafe(sql)).bind(queue_id).bind(id).fetch_optional(pool).await)
    }

    pub async fn insert_queue_param(
        &self,
        queue_id: i64,
        realm: &str,
        k: &str,
        v: &str,
        now: OffsetDateTime,
    ) -> Result<i64> {
        on_db!(self, pool => sqlx::query_scalar(
            "INSERT INTO queue_params (ref_id, realm, k, v, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5) RETURNING id")
            .bind(queue_id).bind(realm).bind(k).bind(v).bind(now).fetch_one(pool).await)
    }

    pub async fn update_queue_param(&self, p: &QueueParam, now: OffsetDateTime) -> Result<bool> {
        on_db!(self, pool => sqlx::query(
            "UPDATE queue_params SET k = $2, v = $3, disabled = $4, updated_at = $5 WHERE id = $1 AND deleted_at IS NULL")
            .bind(p.id).bind(&p.k).bind(&p.v).bind(p.disabled).bind(now).execute(pool).await.map(|r| r.rows_affected() == 1))
    }

    pub async fn delete_queue_param(&self, queue_id: i64, id: i64, now: OffsetDateTime) -> Result<bool> {
        on_db!(self, pool => sqlx::query(
            "UPDATE queue_params SET deleted_at = $3, updated_at = $3 WHERE ref_id = $1 AND id = $2 AND deleted_at IS NULL")
            .bind(queue_id).bind(id).bind(now).execute(pool).await.map(|r| r.rows_affected() == 1))
    }

    /// The parameter keys a queue realm allows: the `v` of dict realm
    /// `QUEUE_CC_PARAM` or `QUEUE_FIFO_PARAM`.
    pub async fn queue_param_keys(&self, dict_realm: &str) -> Result<Vec<String>> {
        on_db!(self, pool => sqlx::query_scalar(
            "SELECT v FROM dicts WHERE realm = $1 AND deleted_at IS NULL ORDER BY o, id")
            .bind(dict_realm).fetch_all(pool).await)
    }
}

pub const LIST: ListSpec = ListSpec {
    columns: COLUMNS,
    from: "queues",
    always: &["deleted_at IS NULL"],
    filters: &[
        Filter::Contains("name", "name"),
        Filter::EqualsIgnoreCase("type", "type"),
    ],
    sortable: &[
        ("id", "id"),
        ("name", "name"),
        ("created_at", "created_at"),
        ("updated_at", "updated_at"),
    ],
    default_order: "id",
};

pub const AGENTS: ListSpec = ListSpec {
    columns: AGENT_COLUMNS,
    from: AGENT_FROM,
    always: &["a.deleted_at IS NULL"],
    filters: &[],
    sortable: &[("id", "a.id"), ("level", "a.level"), ("position", "a.position")],
    default_order: "a.id",
};
