//! Storage on SQLite (the default, embedded) or PostgreSQL (for several nodes).
//!
//! Each query is written once with `$n` placeholders, which both drivers
//! accept, and [`on_db!`] compiles it against each concrete pool. Only what
//! truly differs (id allocation, connection set-up) is written per backend.

pub mod agents;
pub mod changes;
pub mod contacts;
pub mod devices;
pub mod dicts;
pub mod error;
pub mod extensions;
pub mod fetches;
pub mod key_templates;
pub mod list;
pub mod logs;
pub mod media;
pub mod pack_versions;
pub mod queues;
pub mod resync;
pub mod sensors;
pub mod users;

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use time::OffsetDateTime;

pub use error::{Constraint, Error, OrTaken, Result};
pub use list::{FieldError, Filter, ListParams, ListSpec, ListSql, Page, like_pattern};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs one body against whichever pool `db` holds; `$pool` is the concrete
/// pool inside the body, so the same SQL text serves both backends. A
/// block's `?` turns sqlx's errors into the store's; a single expression's
/// result is turned here.
macro_rules! on_db {
    ($db:expr, $pool:ident => $body:block) => {
        match $db {
            $crate::store::Db::Sqlite($pool) => $body,
            $crate::store::Db::Postgres($pool) => $body,
        }
    };
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::store::Db::Sqlite($pool) => $body.map_err($crate::store::Error::from),
            $crate::store::Db::Postgres($pool) => $body.map_err($crate::store::Error::from),
        }
    };
}
pub(crate) use on_db;

/// How many connections a pool holds and may hold.
#[derive(Debug, Clone, Copy)]
pub struct PoolUse {
    pub idle: i64,
    pub in_use: i64,
    pub max: i64,
}

/// A value bound into a query assembled at run time (lists, filters).
#[derive(Debug, Clone)]
pub enum Arg {
    Int(i64),
    Text(String),
    Time(OffsetDateTime),
}

/// Binds `args` in order onto a query of either backend.
macro_rules! bind_args {
    ($query:expr, $args:expr) => {{
        let mut q = $query;
        for arg in $args {
            q = match arg {
                $crate::store::Arg::Int(v) => q.bind(*v),
                $crate::store::Arg::Text(v) => q.bind(v.as_str()),
                $crate::store::Arg::Time(v) => q.bind(*v),
            };
        }
        q
    }};
}
pub(crate) use bind_args;

/// What differs between the two backends inside a write.
pub(crate) trait Backend {
    type Db: sqlx::Database;

    /// Starts a write transaction. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`), so a reader that later writes never hits SQLITE_BUSY.
    async fn begin_write(&self) -> sqlx::Result<sqlx::Transaction<'static, Self::Db>>;

    /// Reserves `n` fresh ids of `table` inside `tx`, so rows inserted in bulk
    /// know their ids without relying on the order RETURNING reports them in.
    async fn reserve_ids(
        &self,
        tx: &mut sqlx::Transaction<'static, Self::Db>,
        table: &'static str,
        n: i64,
    ) -> sqlx::Result<Vec<i64>>;

    /// Takes the lock that makes one push plan at a time, inside `tx`.
    async fn lock_push_queue(&self, tx: &mut sqlx::Transaction<'static, Self::Db>) -> sqlx::Result<()>;

    /// What a claim appends to its SELECT so two nodes never take one row.
    const SKIP_TAKEN: &'static str;

    /// Whether parameters are numbered (`$1`) or anonymous (`?`), see
    /// [`placeholders`].
    const NUMBERED_PARAMETERS: bool;

    /// The rows of the JSON array bound at `{}`, each in a column `value`.
    const JSON_ELEMENTS: &'static str;

    /// Updates the planner's statistics of `tables` after a bulk write.
    async fn refresh_statistics(&self, tables: &[&'static str]) -> sqlx::Result<()>;

    /// `sql` with `{rows}` standing for [`Self::JSON_ELEMENTS`] and each
    /// `{}` for the next parameter. Many rows travel as one JSON parameter:
    /// sqlx binds each parameter on its own, and binding was most of a
    /// 100,000-row import's time.
    fn json_rows_sql(&self, sql: &str) -> String {
        placeholders(&sql.replace("{rows}", Self::JSON_ELEMENTS), Self::NUMBERED_PARAMETERS)
    }
}

impl Backend for SqlitePool {
    type Db = sqlx::Sqlite;

    // One writer at a time already: `begin_write` holds the write lock.
    const SKIP_TAKEN: &'static str = "";
    const NUMBERED_PARAMETERS: bool = false;
    const JSON_ELEMENTS: &'static str = "json_each({})";

    // SQLite's planner does well without statistics here.
    async fn refresh_statistics(&self, _tables: &[&'static str]) -> sqlx::Result<()> {
        Ok(())
    }

    async fn lock_push_queue(&self, _tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>) -> sqlx::Result<()> {
        Ok(())
    }

    async fn begin_write(&self) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        self.begin_with("BEGIN IMMEDIATE").await
    }

    async fn reserve_ids(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
        table: &'static str,
        n: i64,
    ) -> sqlx::Result<Vec<i64>> {
        // The write lock is held, so the ids after the highest ever used are ours.
        let sql = format!(
            "SELECT MAX(n) FROM (SELECT COALESCE(MAX(id), 0) AS n FROM {table}
             UNION ALL SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = '{table}')"
        );
        let last: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut **tx)
            .await?;
        Ok((1..=n).map(|i| last + i).collect())
    }
}

impl Backend for PgPool {
    type Db = sqlx::Postgres;

    const SKIP_TAKEN: &'static str = " FOR UPDATE SKIP LOCKED";
    const NUMBERED_PARAMETERS: bool = true;
    const JSON_ELEMENTS: &'static str = "json_array_elements({}::json)";

    // Without them, the planner reading every phone after a 100,000-row
    // import still believed the table held a few hundred rows and joined
    // them in a nested loop: 5 s instead of 0.15 s.
    async fn refresh_statistics(&self, tables: &[&'static str]) -> sqlx::Result<()> {
        let sql = format!("ANALYZE {}", tables.join(", "));
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(self).await.map(drop)
    }

    async fn lock_push_queue(&self, tx: &mut sqlx::Transaction<'static, sqlx::Postgres>) -> sqlx::Result<()> {
        sqlx::query("SELECT pg_advisory_xact_lock(7283529402)")
            .execute(&mut **tx)
            .await
            .map(drop)
    }

    async fn begin_write(&self) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        self.begin().await
    }

    async fn reserve_ids(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
        table: &'static str,
        n: i64,
    ) -> sqlx::Result<Vec<i64>> {
        sqlx::query_scalar("SELECT nextval(pg_get_serial_sequence($1, 'id')) FROM generate_series(1, $2)")
            .bind(table)
            .bind(n)
            .fetch_all(&mut **tx)
            .await
    }
}

impl Db {
    /// Opens `url` (`sqlite://path` or `postgres://…`), creating a SQLite file
    /// if it does not exist yet.
    pub async fn connect(url: &str) -> anyhow::Result<Db> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url).context("invalid PostgreSQL URL")?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await
                .context("connecting to PostgreSQL")?;
            Ok(Db::Postgres(pool))
        } else if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .context("invalid SQLite URL")?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            if let Some(dir) = options.get_filename().parent() {
                std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .connect_with(options)
                .await
                .context("opening SQLite")?;
            Ok(Db::Sqlite(pool))
        } else {
            anyhow::bail!("database URL must start with sqlite:// or postgres://")
        }
    }

    /// Applies this backend's migrations. On PostgreSQL the migrator holds an
    /// advisory lock, so nodes starting together are safe.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        match self {
            Db::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await?,
            Db::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await?,
        }
        Ok(())
    }

    /// The pool's connections now.
    pub fn pool_use(&self) -> PoolUse {
        on_db!(self, pool => {
            let idle = i64::try_from(pool.num_idle()).unwrap_or(i64::MAX);
            PoolUse {
                idle,
                in_use: i64::from(pool.size()) - idle,
                max: i64::from(pool.options().get_max_connections()),
            }
        })
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    pub async fn close(&self) {
        on_db!(self, pool => { pool.close().await })
    }

    pub async fn ping(&self) -> Result<()> {
        on_db!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))
    }
}

/// Replaces each `{}` in `sql` with the next parameter: `$1`, `$2`, … or,
/// not `numbered`, `?`.
pub(crate) fn placeholders(sql: &str, numbered: bool) -> String {
    let mut out = String::with_capacity(sql.len() * 2);
    let mut pieces = sql.split("{}");
    out.push_str(pieces.next().unwrap_or_default());
    for (n, piece) in pieces.enumerate() {
        if numbered {
            out.push('$');
            out.push_str(&(n + 1).to_string());
        } else {
            out.push('?');
        }
        out.push_str(piece);
    }
    out
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn placeholders_number_in_order_or_not_at_all() {
        use super::Backend;
        let sqlite = sqlx::SqlitePool::connect_lazy("sqlite::memory:").unwrap();
        assert_eq!(
            sqlite.json_rows_sql("SELECT {} FROM {rows}"),
            "SELECT ? FROM json_each(?)"
        );
        let postgres = sqlx::PgPool::connect_lazy("postgres://localhost/none").unwrap();
        assert_eq!(
            postgres.json_rows_sql("SELECT {} FROM {rows}"),
            "SELECT $1 FROM json_array_elements($2::json)"
        );
    }
}
