//! Device records as the import reads them back: a header row, then one
//! row per record, for the API's download and `sipprov export`.

use super::devices::DeviceStatus;
use super::rows::{HEADERS_EN, HEADERS_ZH, MODEL_HEADER_EN, MODEL_HEADER_ZH};
use super::{Admin, Error, Result};
use crate::domain::{cell, timestamp};
use crate::store::ListParams;
use crate::store::devices::{Device, LIST};

/// The language of the header row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Headers {
    English,
    Chinese,
}

impl Headers {
    /// Chinese for a `zh…` language tag, else English.
    pub fn for_language(tag: Option<&str>) -> Headers {
        match tag {
            Some(tag) if tag.to_lowercase().starts_with("zh") => Headers::Chinese,
            _ => Headers::English,
        }
    }
}

/// Whether the model goes in a column of its own. XSwitch's download has
/// four columns; a backup that is imported back keeps the model too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    Left,
    Kept,
}

impl Admin {
    /// Every live record the list filters let through, in id order; a
    /// `vendor` filter may be any name of a family.
    pub async fn export_devices(&self, params: &ListParams) -> Result<Vec<Device>> {
        let mut params = params.clone();
        self.vendor_filter(&mut params)?;
        Ok(self.db.fetch_all_matching(&LIST.query(&params)?).await?)
    }

    /// [`Admin::export_devices`], each with its phone's status.
    pub async fn export_devices_with_status(&self, params: &ListParams) -> Result<Vec<DeviceStatus>> {
        let devices = self.export_devices(params).await?;
        self.device_statuses(devices).await
    }

    /// Turns a list's `vendor` filter, any name of a family, into the
    /// family's code; a blank one is no filter.
    pub fn vendor_filter(&self, params: &mut ListParams) -> Result<()> {
        if let Some(name) = params.filters.get_mut("vendor").filter(|name| !name.trim().is_empty()) {
            *name = self
                .packs
                .current()
                .vendor(name)
                .map_err(|e| Error::field("vendor", e))?
                .code()
                .to_string();
        }
        Ok(())
    }
}

/// The header row, then one row per record, in the import's column order;
/// no cell can start a formula in a spreadsheet ([`cell::neutralise`]).
pub fn table(devices: Vec<Device>, headers: Headers, model: Model) -> Vec<Vec<String>> {
    let (names, model_name) = match headers {
        Headers::English => (HEADERS_EN, MODEL_HEADER_EN),
        Headers::Chinese => (HEADERS_ZH, MODEL_HEADER_ZH),
    };
    let mut header: Vec<String> = names.map(str::to_string).into();
    if model == Model::Kept {
        header.push(model_name.to_string());
    }
    let rows = devices.into_iter().map(|d| {
        let mut row = vec![d.name, d.extn, d.vendor, d.mac];
        if model == Model::Kept {
            row.push(d.kind);
        }
        row.into_iter()
            .map(|value| cell::neutralise(&value).into_owned())
            .collect()
    });
    std::iter::once(header).chain(rows).collect()
}

/// The columns [`table_with_status`] adds, English and Chinese.
const STATUS_HEADERS: [(&str, &str); 4] = [
    ("status", "状态"),
    ("last_fetch", "最后获取"),
    ("last_ip", "最后地址"),
    ("firmware", "固件"),
];

/// [`table`] with the model, then each phone's config state (`current`,
/// `older`, `never`), last fetch, address and firmware: what the list shows.
/// The import reads such a file back, leaving the added columns.
pub fn table_with_status(statuses: Vec<DeviceStatus>, headers: Headers) -> Vec<Vec<String>> {
    let added: Vec<[String; 4]> = statuses
        .iter()
        .map(|s| {
            let d = &s.device;
            [
                s.state.clone().unwrap_or_default(),
                d.last_provisioned_at
                    .as_ref()
                    .map(timestamp::format)
                    .unwrap_or_default(),
                d.last_ip.clone(),
                d.firmware.clone(),
            ]
        })
        .collect();
    let mut table = table(statuses.into_iter().map(|s| s.device).collect(), headers, Model::Kept);
    table[0].extend(STATUS_HEADERS.map(|(en, zh)| if headers == Headers::Chinese { zh } else { en }.to_string()));
    for (row, added) in table.iter_mut().skip(1).zip(added) {
        row.extend(added.map(|value| cell::neutralise(&value).into_owned()));
    }
    table
}

/// The table as CSV.
pub fn csv_bytes(table: &[Vec<String>]) -> anyhow::Result<Vec<u8>> {
    let mut out = csv::Writer::from_writer(Vec::new());
    for row in table {
        out.write_record(row)?;
    }
    out.into_inner().map_err(|e| anyhow::anyhow!("{e}"))
}

/// The table as the first sheet of an XLSX workbook. Every cell is text,
/// so MACs and extension numbers keep their leading zeros.
pub fn xlsx_bytes(table: &[Vec<String>]) -> anyhow::Result<Vec<u8>> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (row, cells) in table.iter().enumerate() {
        for (column, cell) in cells.iter().enumerate() {
            sheet.write_string(u32::try_from(row)?, u16::try_from(column)?, cell)?;
        }
    }
    Ok(book.save_to_buffer()?)
}
