//! Each family's pack prints and when each was first seen (see
//! `config_state_sql!`).

use time::OffsetDateTime;

use super::{Backend, Db, Result, on_db};

impl Db {
    /// Records the families' prints: a print not seen before is first seen
    /// `now`; one seen before keeps its date. A family seen for the first
    /// time has no change on record (its first print dates from 1970): its
    /// phones are as current as their fetches say.
    pub async fn note_pack_prints(&self, prints: &[(String, String)], now: OffsetDateTime) -> Result<()> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            for (vendor, print) in prints {
                // `WHERE true`: SQLite's way to end a SELECT before ON CONFLICT.
                sqlx::query(
                    "INSERT INTO pack_versions (vendor, print, first_seen)
                     SELECT $1, $2, CASE WHEN EXISTS (SELECT 1 FROM pack_versions WHERE vendor = $1) THEN $3 ELSE $4 END
                     WHERE true
                     ON CONFLICT (vendor, print) DO NOTHING")
                    .bind(vendor).bind(print).bind(now).bind(OffsetDateTime::UNIX_EPOCH)
                    .execute(&mut *tx).await?;
            }
            Ok(tx.commit().await?)
        })
    }
}
