//! Device provisioning records (XSwitch `device_provisions`) and the lines
//! they give each phone.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use sqlx::{AssertSqlSafe, FromRow};
use time::OffsetDateTime;

use super::Arg;
use super::fetches::{PENDING_COLUMNS, UNCLAIMED};
use super::list::{FieldError, Filter, ListSpec, ListSql, like_pattern};
use super::logs::{NewLogEntry, commit_one_row, log_in_tx};
use super::{Backend, Db, Result, on_db};
use crate::domain::timestamp;

pub const COLUMNS: &str = "id, name, vendor, mac, extn, type, created_at, updated_at, deleted_at, last_provisioned_at, last_ip, last_user_agent, firmware, last_file";

/// A record as XSwitch shows it.
#[derive(Debug, Clone, FromRow, Serialize, utoipa::ToSchema)]
pub struct Device {
    pub id: i64,
    pub name: String,
    /// As the admin wrote it (`gs`, `潮流`, `yealink`…).
    pub vendor: String,
    /// 12 lower-case hex digits.
    pub mac: String,
    /// The lines, echoed as written.
    pub extn: String,
    /// The phone model, when known.
    #[serde(rename = "type")]
    #[sqlx(rename = "type")]
    pub kind: String,
    #[serde(serialize_with = "timestamp::serialize")]
    #[schema(value_type = String, example = "2022-11-16 14:08:47")]
    pub created_at: OffsetDateTime,
    #[serde(serialize_with = "timestamp::serialize")]
    #[schema(value_type = String, example = "2022-11-16 14:08:47")]
    pub updated_at: OffsetDateTime,
    #[serde(serialize_with = "timestamp::serialize_opt")]
    #[schema(value_type = String, example = "")]
    pub deleted_at: Option<OffsetDateTime>,
    /// When the phone last fetched a file; "" if never.
    #[serde(serialize_with = "timestamp::serialize_opt")]
    #[schema(value_type = String, example = "2026-11-23 08:01:02")]
    pub last_provisioned_at: Option<OffsetDateTime>,
    pub last_ip: String,
    pub last_user_agent: String,
    /// As the phone's User-Agent gave it.
    pub firmware: String,
    pub last_file: String,
}

/// A record to write, with its lines resolved to extension ids.
#[derive(Debug, Clone)]
pub struct DeviceFields {
    pub name: String,
    pub vendor: String,
    pub vendor_code: String,
    pub mac: String,
    pub extn: String,
    pub kind: String,
    pub lines: Vec<i64>,
}

/// What is already stored for a MAC: its vendor, and each line's extension.
#[derive(Debug, Clone, FromRow)]
pub struct MacUse {
    pub device_id: i64,
    pub mac: String,
    pub vendor_code: String,
    /// The record's model.
    pub kind: String,
    pub extension_id: Option<i64>,
}

/// A phone with an extension on one of its lines.
#[derive(Debug, Clone, FromRow)]
pub struct ExtensionOwner {
    pub extension_id: i64,
    pub mac: String,
}

/// Rows per INSERT, each chunk one JSON parameter of about 1 MB.
const CHUNK: usize = 10_000;
/// An import this large changes the tables enough for the planner to need
/// new statistics.
const REFRESH_STATISTICS_AFTER: usize = 1_000;

impl Db {
    pub async fn device(&self, id: i64) -> Result<Option<Device>> {
        let sql = format!("SELECT {COLUMNS} FROM device_provisions WHERE id = $1 AND deleted_at IS NULL");
        on_db!(self, pool => sqlx::query_as(AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await)
    }

    /// Live records and lines of these MACs.
    pub async fn mac_uses(&self, macs: &[String]) -> Result<Vec<MacUse>> {
        self.fetch_where_in(
            "SELECT d.id AS device_id, d.mac, d.vendor_code, d.type AS kind, l.extension_id FROM device_provisions d
             LEFT JOIN device_provision_lines l ON l.device_id = d.id
             WHERE d.deleted_at IS NULL AND d.mac IN ({in})
             ORDER BY d.id",
            macs,
        )
        .await
    }

    /// The phones that have these extension numbers on a line, by
    /// extension id.
    pub async fn extension_owners(&self, numbers: &[String]) -> Result<Vec<ExtensionOwner>> {
        self.fetch_where_in(
            "SELECT l.extension_id, d.mac FROM device_provision_lines l
             JOIN device_provisions d ON d.id = l.device_id
             JOIN extensions e ON e.id = l.extension_id
             WHERE d.deleted_at IS NULL AND e.deleted_at IS NULL AND e.extn IN ({in})
             ORDER BY d.id",
            numbers,
        )
        .await
    }

    /// Inserts every record and its lines in one transaction: all or none.
    /// `written` is told each chunk's row count as it goes in, for a
    /// progress display.
    pub async fn insert_devices(
        &self,
        rows: Vec<DeviceFields>,
        now: OffsetDateTime,
        written: &(dyn Fn(usize) + Sync),
        log: &NewLogEntry,
    ) -> Result<Vec<Device>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let count = rows.len() as i64;
        let ids: Vec<i64> = on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let ids = pool.reserve_ids(&mut tx, "device_provisions", count).await?;
            // Each record keeps the log row that made it: an import's row is one for all.
            let log_id = log_in_tx!(tx, log, ids.first().copied(), ids.len(), now);
            let insert_records = pool.json_rows_sql(
                "INSERT INTO device_provisions (id, name, vendor, vendor_code, mac, extn, type, created_at, updated_at, created_log_id)
                 SELECT CAST(value->>0 AS BIGINT), value->>1, value->>2, value->>3, value->>4, value->>5, value->>6, {}, {}, {}
                 FROM {rows}");
            for (chunk, chunk_ids) in rows.chunks(CHUNK).zip(ids.chunks(CHUNK)) {
                let records: Vec<_> = chunk.iter().zip(chunk_ids)
                    .map(|(r, id)| (id, &r.name, &r.vendor, &r.vendor_code, &r.mac, &r.extn, &r.kind))
                    .collect();
                sqlx::query(AssertSqlSafe(insert_records.as_str())).bind(now).bind(now).bind(log_id)
                    .bind(serde_json::to_string(&records).expect("records serialize"))
                    .execute(&mut *tx).await?;
                written(chunk.len());
            }

            let lines: Vec<(i64, i64, &str, i64)> = rows.iter().zip(&ids)
                .flat_map(|(r, id)| r.lines.iter().enumerate().map(move |(pos, ext)| (*id, pos as i64 + 1, r.mac.as_str(), *ext)))
                .collect();
            let insert_lines = pool.json_rows_sql(
                "INSERT INTO device_provision_lines (device_id, position, mac, extension_id)
                 SELECT CAST(value->>0 AS BIGINT), CAST(value->>1 AS BIGINT), value->>2, CAST(value->>3 AS BIGINT)
                 FROM {rows}");
            for chunk in lines.chunks(CHUNK) {
                sqlx::query(AssertSqlSafe(insert_lines.as_str()))
                    .bind(serde_json::to_string(chunk).expect("lines serialize"))
                    .execute(&mut *tx).await?;
            }
            tx.commit().await?;
            // The rows are in; planning a little worse is no reason to say otherwise.
            if rows.len() >= REFRESH_STATISTICS_AFTER
                && let Err(err) = pool.refresh_statistics(&["device_provisions", "device_provision_lines", "provision_changes"]).await
            {
                tracing::warn!(error = %err, "could not refresh the planner's statistics after an import");
            }
            ids
        });
        Ok(rows
            .into_iter()
            .zip(ids)
            .map(|(r, id)| Device {
                id,
                name: r.name,
                vendor: r.vendor,
                mac: r.mac,
                extn: r.extn,
                kind: r.kind,
                created_at: now,
                updated_at: now,
                deleted_at: None,
                last_provisioned_at: None,
                last_ip: String::new(),
                last_user_agent: String::new(),
                firmware: String::new(),
                last_file: String::new(),
            })
            .collect())
    }

    /// Rewrites a record and its lines; false when it is gone.
    pub async fn update_device(
        &self,
        id: i64,
        f: &DeviceFields,
        now: OffsetDateTime,
        log: &NewLogEntry,
    ) -> Result<bool> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let done = sqlx::query(
                "UPDATE device_provisions SET name = $2, vendor = $3, vendor_code = $4, mac = $5, extn = $6, type = $7, updated_at = $8
                 WHERE id = $1 AND deleted_at IS NULL")
                .bind(id).bind(&f.name).bind(&f.vendor).bind(&f.vendor_code).bind(&f.mac).bind(&f.extn).bind(&f.kind).bind(now)
                .execute(&mut *tx).await?;
            if done.rows_affected() != 1 {
                return Ok(false);
            }
            sqlx::query("DELETE FROM device_provision_lines WHERE device_id = $1").bind(id).execute(&mut *tx).await?;
            for (pos, ext) in f.lines.iter().enumerate() {
                sqlx::query("INSERT INTO device_provision_lines (device_id, position, mac, extension_id) VALUES ($1, $2, $3, $4)")
                    .bind(id).bind(pos as i64 + 1).bind(&f.mac).bind(*ext).execute(&mut *tx).await?;
            }
            log_in_tx!(tx, log, Some(id), 1, now);
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Soft-deletes a record; its lines go, so the MAC and extensions are free again.
    pub async fn delete_device(&self, id: i64, now: OffsetDateTime, log: &NewLogEntry) -> Result<bool> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let done = sqlx::query("UPDATE device_provisions SET deleted_at = $2, updated_at = $2 WHERE id = $1 AND deleted_at IS NULL")
                .bind(id).bind(now).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM device_provision_lines WHERE device_id = $1").bind(id).execute(&mut *tx).await?;
            commit_one_row!(tx, done, log, id, now)
        })
    }
}

/// Live records joined with their lines, in record then line order, with
/// `$filter` added to the condition. Extensions and key templates are read
/// apart and shared, see [`Db::with_shared`].
macro_rules! phone_lines_sql {
    ($filter:literal) => {
        concat!(
            "SELECT d.mac, d.id AS device_id, d.last_user_agent, d.name AS device_name, d.vendor_code,
                    d.type AS model, l.extension_id, d.keys, d.key_template_id, d.shown_key_slots
             FROM device_provisions d
             LEFT JOIN device_provision_lines l ON l.device_id = d.id
             WHERE d.deleted_at IS NULL",
            $filter,
            " ORDER BY d.id, l.position"
        )
    };
}

/// The phones' lines, every phone's (see [`Db::phone_lines`]).
pub const PHONE_LINES_SQL: &str = phone_lines_sql!("");

/// The live extensions as lines show them, with `$filter` added to the
/// condition.
macro_rules! line_extensions_sql {
    ($filter:literal) => {
        concat!(
            "SELECT id, extn, name, domain, cid_name, cid_number, password_enc, disabled FROM extensions WHERE deleted_at IS NULL",
            $filter
        )
    };
}

/// Every live extension, as lines show them.
pub const LINE_EXTENSIONS_SQL: &str = line_extensions_sql!("");

/// The live key templates' keys.
pub const TEMPLATE_KEYS_SQL: &str = "SELECT id, keys FROM key_templates WHERE deleted_at IS NULL";

/// One line of a phone, with what its configuration needs.
#[derive(Debug, Clone, FromRow)]
pub struct PhoneLine {
    pub mac: String,
    pub device_id: i64,
    /// The User-Agent of the phone's last fetch, which pre-rendering renders for.
    pub last_user_agent: String,
    pub device_name: String,
    pub vendor_code: String,
    pub model: String,
    extension_id: Option<i64>,
    /// The line's extension; none for a record without lines, or whose
    /// extension is deleted.
    #[sqlx(skip)]
    pub extension: Option<Arc<LineExtension>>,
    /// The record's own keys and its key template's, as stored (JSON).
    pub keys: String,
    key_template_id: Option<i64>,
    #[sqlx(skip)]
    pub template_keys: Option<Arc<str>>,
    /// Every slot its phone was given a key in (JSON).
    pub shown_key_slots: String,
}

/// An extension as a phone's line shows it. Read once, and shared by every
/// line it is on: a site of 100,000 phones has far fewer extensions than
/// lines, and each line's copy cost the fleet a third of its memory.
#[derive(Debug, FromRow)]
pub struct LineExtension {
    pub id: i64,
    pub extn: String,
    pub name: String,
    pub domain: String,
    pub cid_name: String,
    pub cid_number: String,
    pub password_enc: String,
    pub disabled: i64,
}

#[derive(FromRow)]
struct TemplateKeys {
    id: i64,
    keys: String,
}

impl Db {
    /// Every live record of a MAC joined with its lines, in record order then
    /// line order: the phone's lines. A record without lines gives one row
    /// without an extension.
    pub async fn phone_lines(&self, mac: &str) -> Result<Vec<PhoneLine>> {
        self.phones_lines(&[mac.to_string()]).await
    }

    /// [`Db::phone_lines`] of several phones at once, each phone's rows in
    /// its order.
    pub async fn phones_lines(&self, macs: &[String]) -> Result<Vec<PhoneLine>> {
        let lines: Vec<PhoneLine> = self
            .fetch_where_in(phone_lines_sql!(" AND d.mac IN ({in})"), macs)
            .await?;
        // By the ids the lines named: an extension moved to another line
        // meanwhile is still the one this line had, not none.
        let mut ids: Vec<String> = lines
            .iter()
            .filter_map(|l| l.extension_id)
            .map(|id| id.to_string())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let extensions = self
            .fetch_where_in(
                line_extensions_sql!(" AND id IN (SELECT CAST(listed AS BIGINT) FROM ({in}) AS ids)"),
                &ids,
            )
            .await?;
        self.with_shared(lines, extensions).await
    }

    /// [`Db::phone_lines`] of every phone with a live record.
    pub async fn all_phones_lines(&self) -> Result<Vec<PhoneLine>> {
        let (lines, extensions) = on_db!(self, pool => {
            let lines = sqlx::query_as(PHONE_LINES_SQL).fetch_all(pool).await?;
            (lines, sqlx::query_as(LINE_EXTENSIONS_SQL).fetch_all(pool).await?)
        });
        self.with_shared(lines, extensions).await
    }

    /// Gives each line its extension and its record's key template, one
    /// shared copy of each.
    async fn with_shared(&self, mut lines: Vec<PhoneLine>, extensions: Vec<LineExtension>) -> Result<Vec<PhoneLine>> {
        let extensions: HashMap<i64, Arc<LineExtension>> =
            extensions.into_iter().map(|e| (e.id, Arc::new(e))).collect();
        let templates: Vec<TemplateKeys> = if lines.iter().any(|l| l.key_template_id.is_some()) {
            on_db!(self, pool => sqlx::query_as(TEMPLATE_KEYS_SQL).fetch_all(pool).await)?
        } else {
            Vec::new()
        };
        let templates: HashMap<i64, Arc<str>> = templates.into_iter().map(|t| (t.id, Arc::from(t.keys))).collect();
        for line in &mut lines {
            line.extension = line.extension_id.and_then(|id| extensions.get(&id).cloned());
            line.template_keys = line.key_template_id.and_then(|id| templates.get(&id).cloned());
        }
        Ok(lines)
    }
}

/// A line of a phone, as the device list shows it.
#[derive(Debug, Clone, FromRow)]
pub struct LineNumber {
    pub mac: String,
    pub extn: String,
}

/// Whether a live record's phone has the config it would get now:
/// `never` fetched, `current` (its last fetch is at or after every change to
/// what its files are made of) or `older`. What counts, each a clause on
/// the record `$d` (`changed_since_fetch!`): the record itself, the accounts
/// on its lines, its key template, its family's pack (templates included),
/// the site's settings in realm PROVISION and its own in PROVISION:<mac>, a
/// deletion counting as a change. Times are whole seconds, so a change
/// within the second of a fetch counts as fetched.
///
/// Two forms of the same clauses: `config_state_sql!` tests them per record,
/// for a page of phones; `older_ids_sql!` collects the older records of the
/// whole fleet at once, one join per clause, for the status filter and the
/// counts, where a test per record would cost one look-up per clause per
/// phone. It is joined to, never negated or tested inside an expression:
/// PostgreSQL hashes such a subquery only while it fits in `work_mem`, and
/// past that runs it again for every row.
macro_rules! changed_since_fetch {
    (record, $d:literal) => {
        concat!($d, ".updated_at > ", $d, ".last_provisioned_at")
    };
    (lines, $d:literal) => {
        concat!(
            "EXISTS (SELECT 1 FROM device_provision_lines l JOIN extensions e ON e.id = l.extension_id
                     WHERE l.device_id = ",
            $d,
            ".id AND COALESCE(e.deleted_at, e.updated_at) > ",
            $d,
            ".last_provisioned_at)"
        )
    };
    (key_template, $d:literal) => {
        concat!(
            "EXISTS (SELECT 1 FROM key_templates t
                     WHERE t.id = ",
            $d,
            ".key_template_id AND t.updated_at > ",
            $d,
            ".last_provisioned_at)"
        )
    };
    (pack, $d:literal) => {
        concat!(
            "EXISTS (SELECT 1 FROM pack_versions p
                     WHERE p.vendor = ",
            $d,
            ".vendor_code AND p.first_seen > ",
            $d,
            ".last_provisioned_at)"
        )
    };
    // Read once for all phones (an uncorrelated subquery), not once per phone.
    (site_settings, $d:literal) => {
        concat!(
            "(SELECT MAX(COALESCE(s.deleted_at, s.updated_at)) FROM dicts s WHERE s.realm = 'PROVISION') > ",
            $d,
            ".last_provisioned_at"
        )
    };
    (own_settings, $d:literal) => {
        concat!(
            "EXISTS (SELECT 1 FROM dicts s WHERE s.realm = 'PROVISION:' || ",
            $d,
            ".mac
                     AND COALESCE(s.deleted_at, s.updated_at) > ",
            $d,
            ".last_provisioned_at)"
        )
    };
}

pub(crate) use changed_since_fetch;

/// The config state of the record `d`, as `never`, `older` or `current`.
macro_rules! config_state_sql {
    () => {
        concat!(
            "CASE WHEN d.last_provisioned_at IS NULL THEN 'never' WHEN ",
            $crate::store::devices::changed_since_fetch!(record, "d"),
            " OR ",
            $crate::store::devices::changed_since_fetch!(lines, "d"),
            " OR ",
            $crate::store::devices::changed_since_fetch!(key_template, "d"),
            " OR ",
            $crate::store::devices::changed_since_fetch!(pack, "d"),
            " OR ",
            $crate::store::devices::changed_since_fetch!(site_settings, "d"),
            " OR ",
            $crate::store::devices::changed_since_fetch!(own_settings, "d"),
            " THEN 'older' ELSE 'current' END"
        )
    };
}
pub(crate) use config_state_sql;

/// The ids of every live record whose phone is `older`.
macro_rules! older_ids_sql {
    () => {
        concat!(
            "SELECT c.id FROM device_provisions c WHERE c.deleted_at IS NULL AND ",
            changed_since_fetch!(record, "c"),
            " UNION SELECT c.id FROM device_provisions c WHERE c.deleted_at IS NULL AND ",
            changed_since_fetch!(lines, "c"),
            " UNION SELECT c.id FROM device_provisions c WHERE c.deleted_at IS NULL AND ",
            changed_since_fetch!(key_template, "c"),
            " UNION SELECT c.id FROM device_provisions c WHERE c.deleted_at IS NULL AND ",
            changed_since_fetch!(pack, "c"),
            " UNION SELECT c.id FROM device_provisions c WHERE c.deleted_at IS NULL AND ",
            changed_since_fetch!(site_settings, "c"),
            " UNION SELECT c.id FROM device_provisions c WHERE c.deleted_at IS NULL AND ",
            changed_since_fetch!(own_settings, "c")
        )
    };
}

/// A phone's config state (see `config_state_sql!`).
#[derive(Debug, Clone, FromRow)]
pub struct ConfigState {
    pub mac: String,
    pub state: String,
}

/// How many live records' phones are in a config state.
#[derive(Debug, Clone, FromRow)]
pub struct StateCount {
    pub state: String,
    pub phones: i64,
}

impl Db {
    /// The numbers on the lines of these phones, in line order.
    pub async fn line_numbers(&self, macs: &[String]) -> Result<Vec<LineNumber>> {
        self.fetch_where_in(
            "SELECT d.mac, e.extn
             FROM device_provisions d
             JOIN device_provision_lines l ON l.device_id = d.id
             JOIN extensions e ON e.id = l.extension_id
             WHERE d.deleted_at IS NULL AND d.mac IN ({in})
             ORDER BY d.id, l.position",
            macs,
        )
        .await
    }

    /// The config state of each of these phones.
    pub async fn config_states(&self, macs: &[String]) -> Result<Vec<ConfigState>> {
        self.fetch_where_in(
            concat!(
                "SELECT d.mac, ",
                config_state_sql!(),
                " AS state FROM device_provisions d WHERE d.deleted_at IS NULL AND d.mac IN ({in})"
            ),
            macs,
        )
        .await
    }

    /// How many phones with a live record are in each config state; a state
    /// no phone is in is absent.
    pub async fn config_state_counts(&self) -> Result<Vec<StateCount>> {
        on_db!(self, pool => sqlx::query_as(concat!(
            "SELECT state, COUNT(*) AS phones FROM (SELECT CASE WHEN d.last_provisioned_at IS NULL THEN 'never'
                    WHEN o.id IS NOT NULL THEN 'older' ELSE 'current' END AS state
             FROM device_provisions d LEFT JOIN (", older_ids_sql!(), ") AS o ON o.id = d.id
             WHERE d.deleted_at IS NULL) AS fleet GROUP BY state"
        ))
        .fetch_all(pool).await)
    }
}

pub const LIST: ListSpec = ListSpec {
    columns: COLUMNS,
    from: "device_provisions",
    always: &["deleted_at IS NULL"],
    filters: &[
        Filter::Contains("name", "name"),
        Filter::Contains("type", "type"),
        // Any name of the family finds all its records (`gs` finds `潮流`):
        // `vendor_named` turns the name into the code first.
        Filter::Vendor("vendor", "vendor_code"),
        Filter::Custom("mac", mac_filter, Some(MAC_PART)),
        Filter::Custom("extn", extn_filter, None),
        Filter::Custom("status", status_filter, Some(STATUS)),
    ],
    sortable: &[
        ("id", "id"),
        ("name", "name"),
        ("vendor", "vendor_code"),
        ("mac", "mac"),
        ("type", "type"),
        ("created_at", "created_at"),
        ("updated_at", "updated_at"),
    ],
    default_order: "id",
};

/// Unknown phones that asked for a configuration, newest first; a MAC
/// leaves the list once a record claims it.
pub const PENDING: ListSpec = ListSpec {
    columns: PENDING_COLUMNS,
    from: "pending_phones",
    always: &[UNCLAIMED],
    filters: &[
        Filter::Custom("mac", mac_filter, Some(MAC_PART)),
        Filter::Vendor("vendor", "vendor"),
    ],
    sortable: &[
        ("mac", "mac"),
        ("vendor", "vendor"),
        ("first_seen", "first_seen"),
        ("last_seen", "last_seen"),
        ("count", "count"),
    ],
    default_order: "last_seen DESC, mac",
};

/// What `mac_filter` takes: some hex digits among `:-. `, or blank.
pub const MAC_PART: &str = r"^\s*([0-9A-Fa-f:.\- ]*[0-9A-Fa-f][0-9A-Fa-f:.\- ]*)?\s*$";

/// What `status_filter` takes; blank is no filter, as for every list parameter.
pub const STATUS: &str = r"^\s*(current|older|never)?\s*$";

/// Phones in a config state (`config_state_sql!`): `current`, `older` or
/// `never` fetched.
pub fn status_filter(value: &str, sql: &mut ListSql) -> std::result::Result<(), FieldError> {
    let state = value.trim();
    if !["current", "older", "never"].contains(&state) {
        return Err(FieldError::new(
            "status",
            format!("'{value}' is not current, older or never"),
        ));
    }
    let condition = match state {
        "never" => "last_provisioned_at IS NULL",
        "older" => concat!("id IN (", older_ids_sql!(), ")"),
        // `NOT EXISTS`, an anti-join, not `NOT IN`: PostgreSQL rescans a
        // set too large to hash for every row of a negated `IN`.
        _ => concat!(
            "last_provisioned_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM (",
            older_ids_sql!(),
            ") AS o WHERE o.id = device_provisions.id)"
        ),
    };
    sql.conditions.push(condition.to_string());
    Ok(())
}

/// Part of a MAC, in any of its spellings.
pub fn mac_filter(value: &str, sql: &mut ListSql) -> std::result::Result<(), FieldError> {
    let digits: String = value.chars().filter(|c| !":-. ".contains(*c)).collect();
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(FieldError::new(
            "mac",
            format!("'{value}' is not (part of) a MAC address"),
        ));
    }
    sql.push(
        |p| format!("mac LIKE {p} ESCAPE '\\'"),
        Arg::Text(like_pattern(&digits)),
    );
    Ok(())
}

/// Records with a line whose extension number contains the value.
pub fn extn_filter(value: &str, sql: &mut ListSql) -> std::result::Result<(), FieldError> {
    sql.push(
        |p| format!("id IN (SELECT l.device_id FROM device_provision_lines l JOIN extensions e ON e.id = l.extension_id WHERE lower(e.extn) LIKE {p} ESCAPE '\\')"),
        Arg::Text(like_pattern(value)),
    );
    Ok(())
}
