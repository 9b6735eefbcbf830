//! What changed in the phones' data, as the triggers of migration 0008
//! record it, and what a node needs to know its phones without asking the
//! database on a fetch.

use sqlx::FromRow;

use super::{Db, Error, Result, on_db};

/// One recorded change: the phone it touched, or `None` for every phone.
#[derive(Debug, Clone, FromRow)]
pub struct Change {
    pub seq: i64,
    pub mac: Option<String>,
}

/// The PostgreSQL channel nodes announce changes on.
pub const CHANGES_CHANNEL: &str = "sipprov_changes";

const ALL_SETTINGS_SQL: &str = "SELECT realm, k, v FROM dicts WHERE deleted_at IS NULL AND (realm = 'PROVISION' OR realm LIKE 'PROVISION:%') ORDER BY id";

const SETTINGS_OF_SQL: &str = "SELECT realm, k, v FROM dicts WHERE deleted_at IS NULL AND realm IN ({in}) ORDER BY id";

/// Every query whose rows the phones' files are made of. A column they read
/// must be one the change triggers of migration 0008 watch, or phones keep
/// stale files; the end-to-end test `every_column_a_phone_file_reads_reaches_the_phone`
/// changes each one and checks that the next fetch shows it.
pub const PHONE_FILE_QUERIES: [&str; 5] = [
    super::devices::PHONE_LINES_SQL,
    super::devices::LINE_EXTENSIONS_SQL,
    super::devices::TEMPLATE_KEYS_SQL,
    ALL_SETTINGS_SQL,
    SETTINGS_OF_SQL,
];

impl Db {
    /// The newest change recorded, or 0.
    pub async fn latest_change(&self) -> Result<i64> {
        on_db!(self, pool => sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM provision_changes")
            .fetch_one(pool).await)
    }

    /// Up to `limit` changes after `seq`, oldest first.
    pub async fn changes_after(&self, seq: i64, limit: i64) -> Result<Vec<Change>> {
        on_db!(self, pool => sqlx::query_as("SELECT seq, mac FROM provision_changes WHERE seq > $1 ORDER BY seq LIMIT $2")
            .bind(seq).bind(limit).fetch_all(pool).await)
    }

    /// Forgets changes recorded before `unix_seconds`.
    pub async fn prune_changes(&self, unix_seconds: i64) -> Result<u64> {
        on_db!(self, pool => sqlx::query("DELETE FROM provision_changes WHERE at < $1")
            .bind(unix_seconds).execute(pool).await.map(|r| r.rows_affected()))
    }

    /// Tells the other nodes on PostgreSQL to look for changes now; on
    /// SQLite they notice the file change by themselves.
    pub async fn announce_changes(&self) -> Result<()> {
        match self {
            Db::Sqlite(_) => Ok(()),
            Db::Postgres(pool) => {
                sqlx::query("SELECT pg_notify($1, '')")
                    .bind(CHANGES_CHANNEL)
                    .execute(pool)
                    .await?;
                Ok(())
            }
        }
    }

    /// Every live provisioning setting, the site's and each phone's.
    pub async fn all_provision_settings(&self) -> Result<Vec<(String, String, String)>> {
        on_db!(self, pool => sqlx::query_as(ALL_SETTINGS_SQL).fetch_all(pool).await)
    }

    /// The live settings of these realms.
    pub async fn provision_settings_of(&self, realms: &[String]) -> Result<Vec<(String, String, String)>> {
        self.fetch_where_in(SETTINGS_OF_SQL, realms).await
    }
}

/// What tells a node that the phones' data may have changed, besides its
/// own periodic look: PostgreSQL's notifications, or SQLite's
/// `data_version`, which moves when another connection commits.
pub enum ChangeWatch {
    Sqlite(sqlx::SqliteConnection, i64),
    Postgres(sqlx::postgres::PgListener),
}

/// How often a SQLite node looks at the file's `data_version`.
const SQLITE_LOOK_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

impl Db {
    /// Opens the connection a node watches for changes on.
    pub async fn watch_changes(&self) -> Result<ChangeWatch> {
        use sqlx::Connection;
        match self {
            Db::Sqlite(pool) => {
                let mut conn = sqlx::SqliteConnection::connect_with(&pool.connect_options()).await?;
                let version = sqlx::query_scalar("PRAGMA data_version").fetch_one(&mut conn).await?;
                Ok(ChangeWatch::Sqlite(conn, version))
            }
            Db::Postgres(pool) => {
                let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
                listener.listen(CHANGES_CHANNEL).await?;
                Ok(ChangeWatch::Postgres(listener))
            }
        }
    }
}

impl ChangeWatch {
    /// Returns once something may have changed.
    pub async fn next(&mut self) -> Result<()> {
        match self {
            ChangeWatch::Sqlite(conn, seen) => loop {
                tokio::time::sleep(SQLITE_LOOK_EVERY).await;
                let version: i64 = sqlx::query_scalar("PRAGMA data_version").fetch_one(&mut *conn).await?;
                if version != *seen {
                    *seen = version;
                    return Ok(());
                }
            },
            ChangeWatch::Postgres(listener) => listener.recv().await.map(|_| ()).map_err(Error::from),
        }
    }
}
