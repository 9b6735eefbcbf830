//! Each family's pack print, and when it last changed (see
//! `config_state_sql!`).

use time::OffsetDateTime;

use super::{Backend, Db, Result, on_db};

impl Db {
    /// Records the families' prints; a family whose print differs from the
    /// one stored changed `now`. A family seen for the first time has no
    /// change on record: its phones are as current as their fetches say.
    pub async fn note_pack_prints(&self, prints: &[(String, String)], now: OffsetDateTime) -> Result<()> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            for (vendor, print) in prints {
                sqlx::query(
                    "INSERT INTO pack_versions (vendor, print, changed_at) VALUES ($1, $2, $3)
                     ON CONFLICT (vendor) DO UPDATE SET print = excluded.print, changed_at = $4
                     WHERE pack_versions.print <> excluded.print")
                    .bind(vendor).bind(print).bind(OffsetDateTime::UNIX_EPOCH).bind(now)
                    .execute(&mut *tx).await?;
            }
            Ok(tx.commit().await?)
        })
    }
}
