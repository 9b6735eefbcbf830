//! The one paged query every list endpoint runs: a count and a page of rows
//! from the same `FROM … WHERE …`.

use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{AssertSqlSafe, FromRow};

use super::{Arg, Db, Result, bind_args, on_db};

/// A list query assembled from static pieces chosen by the API layer; user
/// input only ever arrives through `args`.
#[derive(Debug, Clone)]
pub struct ListSql {
    /// Column list, e.g. `id, name, mac`.
    pub columns: &'static str,
    /// Table (and joins).
    pub from: &'static str,
    /// Conditions joined with AND; each uses `$n` numbered into `args`.
    pub conditions: Vec<String>,
    pub args: Vec<Arg>,
    pub order_by: String,
}

/// One page of rows and the total that matched.
#[derive(Debug)]
pub struct Page<T> {
    pub rows: Vec<T>,
    pub total: i64,
}

impl ListSql {
    /// The next placeholder, for a condition about to bind one more value.
    pub fn push(&mut self, condition: impl FnOnce(&str) -> String, arg: Arg) {
        self.args.push(arg);
        let placeholder = format!("${}", self.args.len());
        self.conditions.push(condition(&placeholder));
    }

    fn where_clause(&self) -> String {
        if self.conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.conditions.join(" AND "))
        }
    }
}

impl Db {
    pub async fn fetch_page<T>(&self, q: &ListSql, limit: i64, offset: i64) -> Result<Page<T>>
    where
        T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        let count_sql = format!("SELECT COUNT(*) FROM {}{}", q.from, q.where_clause());
        let rows_sql = format!(
            "SELECT {} FROM {}{} ORDER BY {} LIMIT {limit} OFFSET {offset}",
            q.columns,
            q.from,
            q.where_clause(),
            q.order_by
        );
        on_db!(self, pool => {
            let total: i64 = bind_args!(sqlx::query_scalar(AssertSqlSafe(count_sql.clone())), &q.args).fetch_one(pool).await?;
            let rows = bind_args!(sqlx::query_as::<_, T>(AssertSqlSafe(rows_sql.clone())), &q.args).fetch_all(pool).await?;
            Ok(Page { rows, total })
        })
    }

    /// Every matching row, for exports.
    pub async fn fetch_all_matching<T>(&self, q: &ListSql) -> Result<Vec<T>>
    where
        T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        let sql = format!(
            "SELECT {} FROM {}{} ORDER BY {}",
            q.columns,
            q.from,
            q.where_clause(),
            q.order_by
        );
        on_db!(self, pool => bind_args!(sqlx::query_as::<_, T>(AssertSqlSafe(sql.clone())), &q.args).fetch_all(pool).await)
    }
}

impl Db {
    /// Runs `sql`, whose `{in}` stands for a list of placeholders, over
    /// `values` in chunks that stay far below both backends' bind limits.
    pub(crate) async fn fetch_where_in<T>(&self, sql: &'static str, values: &[String]) -> Result<Vec<T>>
    where
        T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        let mut found = Vec::new();
        for chunk in values.chunks(500) {
            let placeholders = (1..=chunk.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            let chunk_sql = sql.replace("{in}", &placeholders);
            let rows: Vec<T> = on_db!(self, pool => {
                let mut q = sqlx::query_as(AssertSqlSafe(chunk_sql.clone()));
                for v in chunk {
                    q = q.bind(v.as_str());
                }
                q.fetch_all(pool).await?
            });
            found.extend(rows);
        }
        Ok(found)
    }
}
