//! Device records: the rules every door's create, update, delete and
//! import go through. [`plan`] checks rows in three steps: each row alone
//! ([`check_row`], pure), the rows against each other ([`check_batch`]), and
//! the rows against what is stored ([`check_stored`]); every bad row is
//! reported and nothing is written unless all are good.

use std::collections::{HashMap, HashSet};

use super::log::{Action, message};
use super::rows::RawRow;
use super::{Actor, Admin, Error, Result, RowError};
use crate::domain::{ExtnRef, Mac, Vendor, parse_extn_field, timestamp};
use crate::packs::Packs;
use crate::packs::manifest::model_key;
use crate::provision::{PreviewFile, Provisioner};
use crate::store::Db;
use crate::store::devices::{self, Device, DeviceFields};
use crate::store::extensions::ExtensionKey;
use crate::store::fetches::PendingPhone;
use crate::store::logs::Summary;
use crate::store::{ListParams, Page};

/// Where an import is, told as it goes for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The rows are being checked against the packs and the database.
    Checking,
    /// This many more rows went into the (still open) transaction.
    Written(usize),
}

/// Told each `Step`; the API tells no one (`&|_| {}`).
pub type OnStep<'a> = &'a (dyn Fn(Step) + Sync);

/// What an import did: the records it created, or in a dry run those it
/// would create.
#[derive(Debug)]
pub enum Imported {
    Created(Vec<Device>),
    Planned(Vec<RowPlan>),
}

/// A row of a dry run: the record it would create, what that does to the
/// phone, and what an administrator should look at before confirming.
#[derive(Debug)]
pub struct RowPlan {
    pub fields: DeviceFields,
    pub action: RowAction,
    pub warnings: Vec<String>,
}

/// What a row does to its phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowAction {
    /// The MAC has no record yet: a new phone.
    NewPhone,
    /// The MAC has a record already, or an earlier row: the row's lines are
    /// added to that phone (a phone with several lines has several records).
    MoreLines,
}

impl RowAction {
    pub fn code(self) -> &'static str {
        match self {
            RowAction::NewPhone => "new_phone",
            RowAction::MoreLines => "more_lines",
        }
    }
}

/// A record's fields an update changes; the rest keep their value.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DeviceChange {
    pub name: Option<String>,
    pub extn: Option<String>,
    pub vendor: Option<String>,
    pub mac: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// A record as the device table shows it.
#[derive(Debug)]
pub struct DeviceStatus {
    pub device: Device,
    /// The numbers on its lines, in line order.
    pub lines: Vec<String>,
    /// `never`, `current` or `older`; `None` when the record went meanwhile.
    pub state: Option<String>,
}

/// How many phones are in each config state, and how many wait to be claimed.
#[derive(Debug, Default, serde::Serialize)]
pub struct FleetSummary {
    pub current: i64,
    pub older: i64,
    pub never: i64,
    pub pending: i64,
}

/// The files a record's phone would get.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Preview {
    pub id: i64,
    pub mac: String,
    pub vendor: String,
    /// The URL to give phones (DHCP option 66).
    pub provisioning_url: String,
    pub files: Vec<PreviewFile>,
}

/// The operation log's resource for device records.
pub(super) const RESOURCE: &str = "device_provisions";

impl Admin {
    /// Creates one record. A MAC's misses are forgiven when each node reads
    /// the change, so a phone that asked before its record existed is not
    /// throttled.
    pub async fn create_device(&self, actor: &Actor, row: RawRow) -> Result<Device> {
        let log = actor.entry(RESOURCE, Action::Create, Summary::Id, message(&row, &[]));
        let planned = plan(&self.db, &self.packs.current(), vec![Ok(row)], None)
            .await
            .map_err(one_row)?;
        let created = self.db.insert_devices(planned, timestamp::now(), &|_| {}, &log).await?;
        created
            .into_iter()
            .next()
            .ok_or_else(|| Error::Refused("nothing was created".into()))
    }

    /// Changes the fields given of record `id`.
    pub async fn update_device(&self, actor: &Actor, id: i64, change: DeviceChange) -> Result<()> {
        let current = self.device(id).await?;
        let log = actor.entry(RESOURCE, Action::Update, Summary::Id, message(&change, &[]));
        let merged = RawRow {
            row: 1,
            name: change.name.or(Some(current.name)),
            extn: change.extn.or(Some(current.extn)),
            vendor: change.vendor.or(Some(current.vendor)),
            mac: change.mac.or(Some(current.mac)),
            kind: change.kind.or(Some(current.kind)),
        };
        let planned = plan(&self.db, &self.packs.current(), vec![Ok(merged)], Some(id))
            .await
            .map_err(one_row)?;
        self.keys_fit_change(id, &planned[0]).await?;
        if !self.db.update_device(id, &planned[0], timestamp::now(), &log).await? {
            return Err(device_not_found(id));
        }
        Ok(())
    }

    pub async fn delete_device(&self, actor: &Actor, id: i64) -> Result<()> {
        let log = actor.entry(RESOURCE, Action::Delete, Summary::Id, format!("{{\"id\":{id}}}"));
        if !self.db.delete_device(id, timestamp::now(), &log).await? {
            return Err(device_not_found(id));
        }
        Ok(())
    }

    /// A page of live records; a `vendor` filter may be any name of a family.
    pub async fn list_devices(&self, mut params: ListParams) -> Result<Page<Device>> {
        self.vendor_filter(&mut params)?;
        Ok(self.db.list(&devices::LIST, &params, None).await?)
    }

    /// A page of phones no record serves that asked for a file.
    pub async fn list_pending(&self, mut params: ListParams) -> Result<Page<PendingPhone>> {
        self.vendor_filter(&mut params)?;
        Ok(self.db.list(&devices::PENDING, &params, None).await?)
    }

    /// A live record.
    pub async fn device(&self, id: i64) -> Result<Device> {
        self.db.device(id).await?.ok_or_else(|| device_not_found(id))
    }

    /// Each record with the numbers on its lines and how current its phone's
    /// files are. The state is read after the rows: a fetch recorded in
    /// between must not show as current beside "never fetched".
    pub async fn device_statuses(&self, devices: Vec<Device>) -> Result<Vec<DeviceStatus>> {
        let macs: Vec<String> = devices.iter().map(|d| d.mac.clone()).collect();
        let mut lines_of: HashMap<String, Vec<String>> = HashMap::new();
        for line in self.db.line_numbers(&macs).await? {
            lines_of.entry(line.mac).or_default().push(line.extn);
        }
        let states: HashMap<String, String> = self
            .db
            .config_states(&macs)
            .await?
            .into_iter()
            .map(|s| (s.mac, s.state))
            .collect();
        Ok(devices
            .into_iter()
            .map(|device| {
                let lines = lines_of.get(&device.mac).cloned().unwrap_or_default();
                let state = match device.last_provisioned_at {
                    None => Some("never".to_string()),
                    Some(_) => states.get(&device.mac).cloned(),
                };
                DeviceStatus { device, lines, state }
            })
            .collect())
    }

    /// The fleet at a glance: how many phones have each config state, and
    /// how many unknown phones wait to be claimed.
    pub async fn fleet_summary(&self) -> Result<FleetSummary> {
        let mut summary = FleetSummary::default();
        for count in self.db.config_state_counts().await? {
            match count.state.as_str() {
                "current" => summary.current = count.phones,
                "older" => summary.older = count.phones,
                _ => summary.never += count.phones,
            }
        }
        let one = ListParams::from_map(HashMap::from([("perPage".to_string(), "1".to_string())]))?;
        summary.pending = self.db.list::<PendingPhone>(&devices::PENDING, &one, None).await?.total;
        Ok(summary)
    }

    /// What the phone of record `id` would get from `host`, passwords masked.
    pub async fn preview_device(&self, phones: &Provisioner, id: i64, host: &str) -> Result<Preview> {
        let device = self.device(id).await?;
        let vendor = self
            .packs
            .current()
            .vendor(&device.vendor)
            .map_err(|e| Error::field("vendor", e))?;
        let mac: Mac = device.mac.parse().map_err(|e| Error::field("mac", e))?;
        Ok(Preview {
            id,
            mac: device.mac,
            vendor: vendor.code().into(),
            provisioning_url: format!("http://{host}/prov/"),
            files: phones.preview(vendor, mac, host).await,
        })
    }

    /// An import, for every door alike: every row is checked, then all are
    /// written in one transaction with its log row, or none. A dry run
    /// reports the records it would create and writes nothing.
    pub async fn import_devices(
        &self,
        actor: &Actor,
        rows: Vec<std::result::Result<RawRow, RowError>>,
        dry_run: bool,
        on_step: OnStep<'_>,
    ) -> Result<Imported> {
        if rows.is_empty() {
            return Err(Error::field("devices", "no rows to import"));
        }
        let started = std::time::Instant::now();
        on_step(Step::Checking);
        let numbers: Vec<usize> = rows.iter().map(|r| r.as_ref().map_or(0, |r| r.row)).collect();
        let planned = plan(&self.db, &self.packs.current(), rows, None).await?;
        let checked = started.elapsed();
        if dry_run {
            return Ok(Imported::Planned(self.row_plans(&numbers, planned).await?));
        }
        // The log keeps how many rows and which MACs (cut to its length).
        let macs: Vec<&str> = planned.iter().map(|d| d.mac.as_str()).collect();
        let change = serde_json::json!({"rows": planned.len(), "macs": macs});
        let log = actor.entry(RESOURCE, Action::Import, Summary::Rows, message(&change, &[]));
        let written = |rows| on_step(Step::Written(rows));
        let created = self
            .db
            .insert_devices(planned, timestamp::now(), &written, &log)
            .await?;
        tracing::info!(
            rows = created.len(),
            check_ms = checked.as_millis() as u64,
            write_ms = (started.elapsed() - checked).as_millis() as u64,
            "device records imported"
        );
        Ok(Imported::Created(created))
    }
}

fn device_not_found(id: i64) -> Error {
    Error::NotFound(format!("device_provision {id} not found"))
}

impl Admin {
    /// What each planned row does to its phone, and its warnings: its MAC
    /// in an earlier row (its lines join that phone), an extension already
    /// on another phone (stored, or in an earlier row), a model its pack
    /// cannot check (it lists none). `numbers` are the rows' numbers, in
    /// order.
    async fn row_plans(&self, numbers: &[usize], planned: Vec<DeviceFields>) -> Result<Vec<RowPlan>> {
        let mut macs: Vec<String> = planned.iter().map(|d| d.mac.clone()).collect();
        macs.sort();
        macs.dedup();
        let stored: HashSet<String> = self.db.mac_uses(&macs).await?.into_iter().map(|u| u.mac).collect();
        let lines: Vec<Vec<ExtnRef>> = planned
            .iter()
            .map(|d| parse_extn_field(&d.extn).unwrap_or_default())
            .collect();
        let mut extns: Vec<String> = lines.iter().flatten().map(|l| l.extn.clone()).collect();
        extns.sort();
        extns.dedup();
        let mut owners: HashMap<i64, Vec<String>> = HashMap::new();
        for owner in self.db.extension_owners(&extns).await? {
            owners.entry(owner.extension_id).or_default().push(owner.mac);
        }
        let packs = self.packs.current();
        let mut mac_row: HashMap<String, usize> = HashMap::new();
        let mut extension_row: HashMap<i64, (String, usize)> = HashMap::new();
        let mut plans = Vec::with_capacity(planned.len());
        for ((fields, &row), line_refs) in planned.into_iter().zip(numbers).zip(&lines) {
            let mut warnings = Vec::new();
            let mut action = if stored.contains(&fields.mac) {
                RowAction::MoreLines
            } else {
                RowAction::NewPhone
            };
            match mac_row.get(&fields.mac) {
                Some(first) => {
                    action = RowAction::MoreLines;
                    warnings.push(format!(
                        "MAC {} is also in row {first}: this row's lines go to the same phone",
                        fields.mac
                    ));
                }
                None => {
                    mac_row.insert(fields.mac.clone(), row);
                }
            }
            for (id, line) in fields.lines.iter().zip(line_refs) {
                let others: Vec<&str> = owners
                    .get(id)
                    .into_iter()
                    .flatten()
                    .filter(|m| **m != fields.mac)
                    .map(String::as_str)
                    .collect();
                if !others.is_empty() {
                    warnings.push(format!("extension {line} is already a line of MAC {}", named(&others)));
                }
                match extension_row.get(id) {
                    Some((mac, first)) if *mac != fields.mac => {
                        warnings.push(format!("extension {line} is also on MAC {mac} in row {first}"));
                    }
                    Some(_) => {}
                    None => {
                        extension_row.insert(*id, (fields.mac.clone(), row));
                    }
                }
            }
            // A pack with a model list refuses a model it does not list; one
            // without a list cannot tell, and says so.
            if let Ok(vendor) = packs.vendor(&fields.vendor_code)
                && !fields.kind.is_empty()
                && packs.knows_model(vendor, &fields.kind).is_none()
            {
                warnings.push(format!(
                    "{vendor}'s pack lists no models, so '{}' is not checked: its phone gets the family's defaults",
                    fields.kind
                ));
            }
            plans.push(RowPlan {
                fields,
                action,
                warnings,
            });
        }
        Ok(plans)
    }
}

/// A few of `macs` by name and how many more: a shared extension on a
/// thousand phones makes one short warning, not a thousand.
fn named(macs: &[&str]) -> String {
    const NAMED: usize = 3;
    match macs.len() {
        n if n <= NAMED => macs.join(", "),
        n => format!("{} and {} more", macs[..NAMED].join(", "), n - NAMED),
    }
}

/// For a single record, its row errors as one error (see [`Error::of_one_row`]).
fn one_row(err: Error) -> Error {
    match err {
        Error::Rows { rows, .. } => Error::of_one_row(rows),
        other => other,
    }
}

/// The records to write, or every reason they cannot be: each row alone
/// ([`check_row`]), against what is stored ([`check_stored`]), and against
/// the other rows ([`check_batch`]).
///
/// `replacing` names a record being updated: its own current lines do not
/// count as taken.
pub async fn plan(
    db: &Db,
    packs: &Packs,
    rows: Vec<std::result::Result<RawRow, RowError>>,
    replacing: Option<i64>,
) -> Result<Vec<DeviceFields>> {
    let mut errors = Vec::new();
    let mut checked = Vec::with_capacity(rows.len());
    for row in rows {
        match row {
            Ok(raw) => checked.push(check_row(packs, raw)),
            Err(e) => errors.push(e),
        }
    }
    let stored = Stored::read(db, packs, &checked, replacing).await?;
    for row in &mut checked {
        refuse_unlisted_model(packs, &stored, row);
    }
    let mut resolved: Vec<ResolvedRow> = checked.into_iter().map(|row| check_stored(row, &stored)).collect();
    check_batch(&mut resolved, packs, &stored);
    let mut planned = Vec::with_capacity(resolved.len());
    for mut row in resolved {
        match (row.errors.is_empty(), row.checked.mac, row.checked.vendor) {
            (true, Some(mac), Some(vendor)) => planned.push(DeviceFields {
                name: row.checked.name,
                vendor: row.checked.vendor_text,
                vendor_code: vendor.code().to_string(),
                mac: mac.lower(),
                extn: row.checked.extn_text,
                kind: row.checked.kind,
                lines: row.lines,
            }),
            _ => errors.append(&mut row.errors),
        }
    }
    if errors.is_empty() {
        return Ok(planned);
    }
    Err(Error::rows(errors))
}

/// A model its family's pack does not list is refused: in a spreadsheet it
/// is most often a typo. A record keeps one, as long as it does not change
/// its family or model: it may date from before the pack's list.
fn refuse_unlisted_model(packs: &Packs, stored: &Stored, row: &mut CheckedRow) {
    let Some(vendor) = row.vendor else {
        return;
    };
    let kept = stored
        .replaced
        .as_ref()
        .is_some_and(|r| r.vendor_code == vendor.code() && r.kind == row.kind);
    if row.kind.is_empty() || kept || row.errors.iter().any(|e| e.column == "type") {
        return;
    }
    if packs.knows_model(vendor, &row.kind) == Some(false) {
        row.errors.push(RowError {
            row: row.row,
            column: "type".into(),
            value: row.kind.clone(),
            reason: format!(
                "{vendor}'s pack does not list model '{}'; leave it empty for the family's defaults, or add the model to the pack's [models]",
                row.kind
            ),
        });
    }
}

/// What the database holds for a batch's extension numbers and MACs.
#[derive(Debug, Default)]
pub struct Stored {
    /// Live extensions by number, in every domain.
    by_number: HashMap<String, Vec<ExtensionKey>>,
    /// The family of each MAC that has a record.
    vendor_of_mac: HashMap<String, String>,
    /// The model of each MAC that has a record with one (its first).
    kind_of_mac: HashMap<String, String>,
    /// (MAC, extension id) of every line records already have.
    taken: HashSet<(String, i64)>,
    /// How many lines each MAC's records have.
    lines_of_mac: HashMap<String, usize>,
    /// The record being updated, as it is now.
    replaced: Option<Replaced>,
}

/// A record being updated: what it may keep although the rules have grown
/// stricter since it was written.
#[derive(Debug)]
struct Replaced {
    vendor_code: String,
    kind: String,
    lines: usize,
}

impl Stored {
    async fn read(db: &Db, packs: &Packs, rows: &[CheckedRow], replacing: Option<i64>) -> Result<Stored> {
        let mut numbers: Vec<String> = rows
            .iter()
            .flat_map(|p| p.lines.iter().map(|l| l.extn.clone()))
            .collect();
        numbers.sort();
        numbers.dedup();
        let mut stored = Stored::default();
        for key in db.extensions_numbered(&numbers).await? {
            stored.by_number.entry(key.extn.clone()).or_default().push(key);
        }
        let mut macs: Vec<String> = rows.iter().filter_map(|p| p.mac.map(|m| m.lower())).collect();
        macs.sort();
        macs.dedup();
        for used in db
            .mac_uses(&macs)
            .await?
            .into_iter()
            .filter(|u| Some(u.device_id) != replacing)
        {
            if let Some(ext) = used.extension_id {
                stored.taken.insert((used.mac.clone(), ext));
                *stored.lines_of_mac.entry(used.mac.clone()).or_default() += 1;
            }
            // The phone's model is its first record's, as its files have it.
            if !stored.vendor_of_mac.contains_key(&used.mac) && !used.kind.trim().is_empty() {
                stored.kind_of_mac.insert(used.mac.clone(), used.kind);
            }
            stored.vendor_of_mac.insert(used.mac, used.vendor_code);
        }
        if let Some(id) = replacing
            && let Some(record) = db.device(id).await?
        {
            stored.replaced = Some(Replaced {
                vendor_code: packs
                    .vendor(&record.vendor)
                    .map_or_else(|_| String::new(), |v| v.code().to_string()),
                lines: parse_extn_field(&record.extn).map_or(0, |lines| lines.len()),
                kind: record.kind,
            });
        }
        Ok(stored)
    }
}

/// A row checked alone and against what is stored: its lines resolved to
/// extension ids, and every error so far.
#[derive(Debug)]
pub struct ResolvedRow {
    checked: CheckedRow,
    lines: Vec<i64>,
    errors: Vec<RowError>,
}

/// Checks a row against what is stored: the MAC's family if it has a
/// record, each line's extension (one, in one domain), and lines the MAC
/// already has.
pub fn check_stored(mut checked: CheckedRow, stored: &Stored) -> ResolvedRow {
    let mut errors = std::mem::take(&mut checked.errors);
    let err = |column: &str, value: &str, reason: String| RowError {
        row: checked.row,
        column: column.into(),
        value: value.into(),
        reason,
    };
    let mac = checked.mac.map(|m| m.lower());
    if let (Some(mac), Some(vendor)) = (&mac, checked.vendor)
        && let Some(code) = stored.vendor_of_mac.get(mac)
        && *code != vendor.code()
    {
        errors.push(err(
            "vendor",
            &checked.vendor_text,
            format!("MAC {mac} is already registered as a {code} phone"),
        ));
    }
    let mut lines = Vec::with_capacity(checked.lines.len());
    for line in &checked.lines {
        let candidates = stored.by_number.get(&line.extn).map(Vec::as_slice).unwrap_or(&[]);
        let matching: Vec<&ExtensionKey> = candidates
            .iter()
            .filter(|k| line.domain.as_ref().is_none_or(|d| *d == k.domain))
            .collect();
        let id = match matching.as_slice() {
            [one] => one.id,
            [] => {
                errors.push(err(
                    "extn",
                    &checked.extn_text,
                    format!("extension {line} does not exist"),
                ));
                continue;
            }
            many => {
                let domains: Vec<&str> = many.iter().map(|k| k.domain.as_str()).collect();
                errors.push(err(
                    "extn",
                    &checked.extn_text,
                    format!(
                        "extension {} exists in several domains ({}); write {}@domain",
                        line.extn,
                        domains.join(", "),
                        line.extn
                    ),
                ));
                continue;
            }
        };
        if let Some(mac) = &mac
            && stored.taken.contains(&(mac.clone(), id))
        {
            errors.push(err(
                "extn",
                &checked.extn_text,
                format!("extension {line} is already a line of MAC {mac}"),
            ));
            continue;
        }
        lines.push(id);
    }
    ResolvedRow { checked, lines, errors }
}

/// Checks rows against each other and the MACs' records: a MAC is one
/// phone, of one family and one model, an extension is a line of it once,
/// and all its lines fit its model.
pub fn check_batch(rows: &mut [ResolvedRow], packs: &Packs, stored: &Stored) {
    let mut phones: HashMap<String, PhoneSoFar> = HashMap::new();
    let mut line_row: HashMap<(String, i64), usize> = HashMap::new();
    for row in rows {
        let (Some(mac), Some(vendor), number) =
            (row.checked.mac.map(|m| m.lower()), row.checked.vendor, row.checked.row)
        else {
            continue;
        };
        // A family other than its record's is `check_stored`'s to refuse.
        if row.errors.iter().any(|e| e.column == "vendor") {
            continue;
        }
        let err = |column: &str, value: &str, reason: String| RowError {
            row: number,
            column: column.into(),
            value: value.into(),
            reason,
        };
        let phone = phones
            .entry(mac.clone())
            .or_insert_with(|| match stored.vendor_of_mac.get(&mac) {
                Some(code) => PhoneSoFar {
                    code: code.clone(),
                    first_row: None,
                    kind: stored.kind_of_mac.get(&mac).map(|k| (k.clone(), None)),
                    lines: stored.lines_of_mac.get(&mac).copied().unwrap_or(0),
                },
                None => PhoneSoFar {
                    code: vendor.code().to_string(),
                    first_row: Some(number),
                    kind: None,
                    lines: 0,
                },
            });
        if phone.code != vendor.code() {
            let first = phone
                .first_row
                .map_or_else(String::new, |first| format!(" in row {first}"));
            row.errors.push(err(
                "vendor",
                &row.checked.vendor_text,
                format!("MAC {mac} is a {} phone{first}", phone.code),
            ));
            continue;
        }
        // The rows of one phone agree on its model, and with its records;
        // a record being updated may keep the model it has.
        let kind = row.checked.kind.as_str();
        let keeps_its_model = stored.replaced.as_ref().is_some_and(|r| r.kind == kind);
        let mut names_the_model = false;
        match &phone.kind {
            Some((known, at)) if !kind.is_empty() && model_key(known) != model_key(kind) && !keeps_its_model => {
                let whose = at.map_or_else(|| "its record".to_string(), |first| format!("row {first}"));
                row.errors
                    .push(err("type", kind, format!("MAC {mac} is a {known} in {whose}")));
            }
            None if !kind.is_empty() && !row.errors.iter().any(|e| e.column == "type") => {
                phone.kind = Some((kind.to_string(), Some(number)));
                names_the_model = true;
            }
            _ => {}
        }
        let mut kept = Vec::with_capacity(row.lines.len());
        for (id, line) in row.lines.iter().zip(&row.checked.lines) {
            match line_row.get(&(mac.clone(), *id)) {
                Some(first) => row.errors.push(err(
                    "extn",
                    &row.checked.extn_text,
                    format!("extension {line} is already a line of MAC {mac} in row {first}"),
                )),
                None => {
                    line_row.insert((mac.clone(), *id), number);
                    kept.push(*id);
                }
            }
        }
        phone.lines += kept.len();
        // All of a phone's lines fit its model: checked when this row adds
        // lines or names the model, unless the row alone is past it
        // (`check_row` says so) or a record being updated keeps its count.
        let model = phone.kind.as_ref().map_or("", |(k, _)| k.as_str());
        let alone_past = packs
            .line_limit(vendor, kind)
            .is_some_and(|l| row.checked.lines.len() > l);
        let grows = stored.replaced.as_ref().is_none_or(|r| kept.len() > r.lines);
        if let Some(limit) = packs.line_limit(vendor, model)
            && phone.lines > limit
            && (names_the_model || !kept.is_empty())
            && grows
            && !alone_past
        {
            row.errors.push(err(
                "extn",
                &row.checked.extn_text,
                format!(
                    "MAC {mac} would have {} lines with its other rows and records; a {} takes at most {limit}",
                    phone.lines,
                    phone_named(vendor, model)
                ),
            ));
        }
        row.lines = kept;
    }
}

/// A phone as a message names it: its model, else its family's phone.
fn phone_named(vendor: Vendor, model: &str) -> String {
    if model.is_empty() {
        format!("{} phone", vendor.code())
    } else {
        model.to_string()
    }
}

/// One phone's rows so far: its family (and its first row; `None` when a
/// record has it), its model (and the row that named it; `None` for its
/// record) and how many lines it has.
struct PhoneSoFar {
    code: String,
    first_row: Option<usize>,
    kind: Option<(String, Option<usize>)>,
    lines: usize,
}

/// A row's fields, each parsed where it could be, and what was wrong with
/// the row alone.
#[derive(Debug)]
pub struct CheckedRow {
    row: usize,
    name: String,
    vendor: Option<Vendor>,
    vendor_text: String,
    mac: Option<Mac>,
    extn_text: String,
    lines: Vec<ExtnRef>,
    kind: String,
    errors: Vec<RowError>,
}

/// Checks a row alone: a MAC, a family the packs know, lines that parse, a
/// name and a model of the right shape, and no more lines than the model
/// has.
pub fn check_row(packs: &Packs, raw: RawRow) -> CheckedRow {
    let row = raw.row;
    let err = |column: &str, value: &str, reason: String| RowError {
        row,
        column: column.into(),
        value: value.into(),
        reason,
    };
    let mut errors = Vec::new();
    let trimmed = |v: &Option<String>| v.as_deref().map(str::trim).unwrap_or("").to_string();
    let (name, mac_text, vendor_text, extn_text, kind) = (
        trimmed(&raw.name),
        trimmed(&raw.mac),
        trimmed(&raw.vendor),
        trimmed(&raw.extn),
        trimmed(&raw.kind),
    );

    let mac = if mac_text.is_empty() {
        errors.push(err("mac", "", "required".into()));
        None
    } else {
        mac_text
            .parse::<Mac>()
            .map_err(|e| errors.push(err("mac", &mac_text, e.to_string())))
            .ok()
    };
    let vendor = if vendor_text.is_empty() {
        errors.push(err(
            "vendor",
            "",
            format!("required; accepted: {}", packs.accepted_names()),
        ));
        None
    } else {
        packs
            .vendor(&vendor_text)
            .map_err(|e| errors.push(err("vendor", &vendor_text, e.to_string())))
            .ok()
    };
    let lines = parse_extn_field(&extn_text).unwrap_or_else(|e| {
        errors.push(err("extn", &extn_text, e));
        Vec::new()
    });
    if name.chars().count() > 128 {
        errors.push(err("name", &name, "longer than 128 characters".into()));
    }
    if let Err(reason) = check_model(&kind) {
        errors.push(err("type", &kind, reason));
    }
    if let Some(why) = vendor.and_then(|v| packs.refuses_model(v, &kind)) {
        errors.push(err(
            "type",
            &kind,
            format!("sipprov cannot write a {kind}'s files: {why}"),
        ));
    }
    if let Some(vendor) = vendor
        && let Some(limit) = packs.line_limit(vendor, &kind)
        && lines.len() > limit
    {
        errors.push(err(
            "extn",
            &extn_text,
            format!(
                "a {} takes at most {limit} {}; {} given",
                phone_named(vendor, &kind),
                if limit == 1 { "line" } else { "lines" },
                lines.len()
            ),
        ));
    }
    CheckedRow {
        row,
        name,
        vendor,
        vendor_text,
        mac,
        extn_text,
        lines,
        kind,
        errors,
    }
}

/// A model as phones name themselves (`T46G`, `SIP-T46G`, `VVX 400`,
/// `CP-8841-3PCC`): at most 64 ASCII letters, digits, spaces and `._-+/()`,
/// the first a letter or digit. What a phone's User-Agent offers as its model
/// becomes a record only through this check, so no text can start a formula
/// or carry a control character into a record.
pub fn check_model(model: &str) -> std::result::Result<(), String> {
    if model.chars().count() > 64 {
        return Err("longer than 64 characters".into());
    }
    match model.chars().next() {
        None => return Ok(()),
        Some(first) if !first.is_ascii_alphanumeric() => {
            return Err(format!("must begin with a letter or digit, not '{first}'"));
        }
        Some(_) => {}
    }
    match model
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || " ._-+/()".contains(*c)))
    {
        Some(c) => Err(format!(
            "'{}' is not allowed; a model has letters, digits, spaces and ._-+/()",
            c.escape_default()
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_warning_names_a_few_phones_and_counts_the_rest() {
        assert_eq!(named(&["a", "b", "c"]), "a, b, c");
        assert_eq!(named(&["a", "b", "c", "d", "e"]), "a, b, c and 2 more");
    }

    #[test]
    fn models_are_what_phones_name_themselves() {
        for model in [
            "",
            "T46G",
            "SIP-T46G",
            "VVX 400",
            "CP-8841-3PCC",
            "GXP2170",
            "W60B",
            "D785(N)",
            "T21P_E2",
        ] {
            assert_eq!(check_model(model), Ok(()), "{model}");
        }
        // What a hostile User-Agent could offer as its model.
        for model in [
            "=HYPERLINK(\"x\")",
            "+1",
            "-2",
            "@SUM(A1)",
            "\tT46G",
            "T46G\r\n",
            "T46G=1",
            "a;b",
        ] {
            assert!(check_model(model).is_err(), "{model:?}");
        }
        assert!(check_model(&"T".repeat(65)).is_err());
    }
    #[test]
    fn every_bad_field_of_a_row_is_reported() {
        let errors = check_row(
            &Packs::builtin(),
            RawRow {
                row: 7,
                mac: Some("00a859f6c74i".into()),
                vendor: Some("acme".into()),
                extn: Some("[oops".into()),
                ..Default::default()
            },
        )
        .errors;
        let columns: Vec<&str> = errors.iter().map(|e| e.column.as_str()).collect();
        assert_eq!(columns, vec!["mac", "vendor", "extn"]);
        assert!(errors.iter().all(|e| e.row == 7));
        assert_eq!(errors[0].value, "00a859f6c74i");
    }

    fn resolved(row: usize, mac: &str, vendor: &str, lines: &[(&str, i64)]) -> ResolvedRow {
        resolved_model(row, mac, vendor, "", lines)
    }

    fn resolved_model(row: usize, mac: &str, vendor: &str, model: &str, lines: &[(&str, i64)]) -> ResolvedRow {
        let packs = Packs::builtin();
        let numbers: Vec<&str> = lines.iter().map(|(n, _)| *n).collect();
        let raw = RawRow {
            row,
            mac: Some(mac.into()),
            vendor: Some(vendor.into()),
            extn: Some(match numbers.as_slice() {
                [one] => one.to_string(),
                many => serde_json::to_string(&many.iter().map(|n| serde_json::json!({"extn": n})).collect::<Vec<_>>())
                    .unwrap(),
            }),
            kind: Some(model.into()),
            ..Default::default()
        };
        let mut stored = Stored::default();
        for (number, id) in lines {
            stored
                .by_number
                .entry(number.to_string())
                .or_default()
                .push(ExtensionKey {
                    id: *id,
                    extn: number.to_string(),
                    domain: "xswitch.cn".into(),
                });
        }
        check_stored(check_row(&packs, raw), &stored)
    }

    #[test]
    fn a_batch_gives_a_mac_one_family_and_an_extension_once() {
        let mut rows = vec![
            resolved(2, "001565000001", "yealink", &[("1001", 1)]),
            resolved(3, "001565000001", "yealink", &[("1001", 1)]),
            resolved(4, "001565000001", "snom", &[("1002", 2)]),
            resolved(5, "001565000002", "yealink", &[("1001", 1)]),
        ];
        check_batch(&mut rows, &Packs::builtin(), &Stored::default());
        let reasons: Vec<Vec<String>> = rows
            .iter()
            .map(|r| r.errors.iter().map(|e| e.reason.clone()).collect())
            .collect();
        assert_eq!(reasons[0], Vec::<String>::new());
        assert_eq!(
            reasons[1],
            ["extension 1001 is already a line of MAC 001565000001 in row 2"]
        );
        assert_eq!(reasons[2], ["MAC 001565000001 is a yealink phone in row 2"]);
        assert_eq!(
            reasons[3],
            Vec::<String>::new(),
            "another MAC may have the same extension"
        );
    }

    #[test]
    fn a_phones_rows_and_records_agree_on_its_model_and_fit_its_lines() {
        let packs = Packs::builtin();
        let reasons = |rows: &[ResolvedRow]| -> Vec<Vec<String>> {
            rows.iter()
                .map(|r| r.errors.iter().map(|e| e.reason.clone()).collect())
                .collect()
        };
        // A GRP2612 takes 2 lines (fusionpbx grp2612 template: accounts 1-2).
        let mut rows = vec![
            resolved_model(2, "000b82000001", "grandstream", "GRP2612", &[("1001", 1)]),
            resolved_model(3, "000b82000001", "grandstream", "", &[("1002", 2)]),
            resolved_model(4, "000b82000001", "grandstream", "grp-2612", &[("1003", 3)]),
            resolved_model(5, "000b82000001", "grandstream", "GXP2170", &[]),
            resolved_model(6, "000b82000002", "grandstream", "GXP2170", &[("1001", 1)]),
        ];
        check_batch(&mut rows, &packs, &Stored::default());
        let empty = Vec::<String>::new();
        assert_eq!(
            reasons(&rows),
            [
                empty.clone(),
                empty.clone(),
                vec![
                    "MAC 000b82000001 would have 3 lines with its other rows and records; a GRP2612 takes at most 2"
                        .to_string()
                ],
                vec!["MAC 000b82000001 is a GRP2612 in row 2".to_string()],
                empty.clone(),
            ]
        );

        // Its records count: their model and their lines.
        let mut stored = Stored::default();
        stored.vendor_of_mac.insert("000b82000001".into(), "grandstream".into());
        stored.kind_of_mac.insert("000b82000001".into(), "GRP2612".into());
        stored.lines_of_mac.insert("000b82000001".into(), 2);
        let mut rows = vec![
            resolved_model(2, "000b82000001", "grandstream", "GXP2170", &[]),
            resolved_model(3, "000b82000001", "grandstream", "", &[("1003", 3)]),
        ];
        check_batch(&mut rows, &packs, &stored);
        assert_eq!(
            reasons(&rows),
            [
                vec!["MAC 000b82000001 is a GRP2612 in its record".to_string()],
                vec![
                    "MAC 000b82000001 would have 3 lines with its other rows and records; a GRP2612 takes at most 2"
                        .to_string()
                ],
            ]
        );
    }

    #[test]
    fn a_phones_lines_are_counted_whichever_row_names_its_model() {
        let packs = Packs::builtin();
        let errors = |rows: &[ResolvedRow]| -> Vec<usize> { rows.iter().map(|r| r.errors.len()).collect() };
        let line = |n: i64| (["1001", "1002", "1003"][n as usize - 1], n);
        // The model first, without lines; then three lines without a model.
        let mut rows = vec![
            resolved_model(2, "000b82000001", "grandstream", "GRP2612", &[]),
            resolved_model(3, "000b82000001", "grandstream", "", &[line(1), line(2), line(3)]),
        ];
        check_batch(&mut rows, &packs, &Stored::default());
        assert_eq!(errors(&rows), [0, 1]);
        // Three lines first; then the model, without lines.
        let mut rows = vec![
            resolved_model(2, "000b82000001", "grandstream", "", &[line(1), line(2), line(3)]),
            resolved_model(3, "000b82000001", "grandstream", "GRP2612", &[]),
        ];
        check_batch(&mut rows, &packs, &Stored::default());
        assert_eq!(errors(&rows), [0, 1]);
        // One row past the model alone is told once, by `check_row`.
        let mut rows = vec![
            resolved_model(2, "000b82000001", "grandstream", "GRP2612", &[line(1)]),
            resolved_model(
                3,
                "000b82000001",
                "grandstream",
                "GRP2612",
                &[line(2), line(3), ("1004", 4)],
            ),
        ];
        let before = rows[1].errors.len();
        check_batch(&mut rows, &packs, &Stored::default());
        assert_eq!((before, errors(&rows)), (1, vec![0, 1]));
    }

    #[test]
    fn an_update_keeps_what_its_records_had_before_the_rules_grew() {
        let packs = Packs::builtin();
        // Two records of one MAC from before: a GRP2612 (first) with two
        // lines, and the one updated, a GRP2614, with one line.
        let mut stored = Stored::default();
        stored.vendor_of_mac.insert("000b82000001".into(), "grandstream".into());
        stored.kind_of_mac.insert("000b82000001".into(), "GRP2612".into());
        stored.lines_of_mac.insert("000b82000001".into(), 2);
        stored.replaced = Some(Replaced {
            vendor_code: "grandstream".into(),
            kind: "GRP2614".into(),
            lines: 1,
        });
        let renamed = |lines: &[(&str, i64)]| {
            let mut rows = vec![resolved_model(1, "000b82000001", "grandstream", "GRP2614", lines)];
            check_batch(&mut rows, &packs, &stored);
            rows[0].errors.iter().map(|e| e.reason.clone()).collect::<Vec<_>>()
        };
        assert_eq!(
            renamed(&[("1003", 3)]),
            Vec::<String>::new(),
            "its model and its one line stay"
        );
        assert_eq!(
            renamed(&[("1003", 3), ("1004", 4)]),
            ["MAC 000b82000001 would have 4 lines with its other rows and records; a GRP2612 takes at most 2"],
            "a line more is refused"
        );
        // Another family's row is `check_stored`'s; the rows after it are
        // held to the record, not to it.
        let mut stored = Stored::default();
        stored.vendor_of_mac.insert("001565000001".into(), "yealink".into());
        let mut rows = vec![
            resolved(2, "001565000001", "snom", &[]),
            resolved(3, "001565000001", "yealink", &[]),
        ];
        rows[0].errors.push(RowError {
            row: 2,
            column: "vendor".into(),
            value: "snom".into(),
            reason: "MAC 001565000001 is already registered as a yealink phone".into(),
        });
        check_batch(&mut rows, &packs, &stored);
        assert_eq!((rows[0].errors.len(), rows[1].errors.len()), (1, 0));
    }

    #[test]
    fn stored_data_refuses_taken_lines_unknown_extensions_and_another_family() {
        let packs = Packs::builtin();
        let mut stored = Stored::default();
        for (id, domain) in [(1, "xswitch.cn"), (2, "other.example")] {
            stored.by_number.entry("1001".into()).or_default().push(ExtensionKey {
                id,
                extn: "1001".into(),
                domain: domain.into(),
            });
        }
        stored.vendor_of_mac.insert("001565000001".into(), "snom".into());
        stored.taken.insert(("001565000003".into(), 1));
        let row = |mac: &str, extn: &str| {
            let raw = RawRow {
                row: 2,
                mac: Some(mac.into()),
                vendor: Some("yealink".into()),
                extn: Some(extn.into()),
                ..Default::default()
            };
            check_stored(check_row(&packs, raw), &stored)
        };
        let reasons = |r: ResolvedRow| r.errors.into_iter().map(|e| e.reason).collect::<Vec<_>>();
        assert_eq!(
            reasons(row("001565000001", "")),
            ["MAC 001565000001 is already registered as a snom phone"]
        );
        assert_eq!(
            reasons(row("001565000002", "1001")),
            ["extension 1001 exists in several domains (xswitch.cn, other.example); write 1001@domain"]
        );
        assert_eq!(reasons(row("001565000002", "1009")), ["extension 1009 does not exist"]);
        assert_eq!(
            reasons(row("001565000003", "1001@xswitch.cn")),
            ["extension 1001@xswitch.cn is already a line of MAC 001565000003"]
        );
        let ok = row("001565000002", "1001@other.example");
        assert!(ok.errors.is_empty());
        assert_eq!(ok.lines, [2]);
    }
}
