//! Reading device rows from what an admin sends or uploads: JSON with
//! Chinese or English keys, CSV, or an XLSX workbook, each within its
//! limits. Every row is kept with the line the admin sees, so every bad one
//! can be reported; [`super::devices`] checks them.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::{Error, RowError};
use crate::domain::{cell, number_as_text};

/// One input row before validation. `row` is what the admin sees: the
/// 1-based array index for JSON, the spreadsheet line for CSV.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RawRow {
    #[serde(skip)]
    pub row: usize,
    pub name: Option<String>,
    pub extn: Option<String>,
    pub vendor: Option<String>,
    pub mac: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// A field of a device row, and the column names that mean it, English and Chinese.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Name,
    Extn,
    Vendor,
    Mac,
    Kind,
}

const COLUMN_NAMES: &[(&str, Column)] = &[
    ("name", Column::Name),
    ("名称", Column::Name),
    ("extn", Column::Extn),
    ("分机号", Column::Extn),
    ("vendor", Column::Vendor),
    ("供应商", Column::Vendor),
    ("mac", Column::Mac),
    ("type", Column::Kind),
    ("model", Column::Kind),
    ("型号", Column::Kind),
];

/// Export headers, in import order, so an export imports back unchanged.
pub const HEADERS_EN: [&str; 4] = ["name", "extn", "vendor", "mac"];
pub const HEADERS_ZH: [&str; 4] = ["名称", "分机号", "供应商", "MAC"];
/// The model's header, a column XSwitch's download leaves out.
pub const MODEL_HEADER_EN: &str = "type";
pub const MODEL_HEADER_ZH: &str = "型号";

fn column_of(header: &str) -> Option<Column> {
    named_column(COLUMN_NAMES, header)
}

/// The column a header names in `names`: trimmed, without a byte-order
/// mark, in any case.
pub fn named_column<C: Copy>(names: &[(&str, C)], header: &str) -> Option<C> {
    let header = header.trim().trim_start_matches('\u{feff}').to_lowercase();
    names.iter().find(|(n, _)| *n == header).map(|(_, c)| *c)
}

/// A record an import reads from a spreadsheet, one per row, its columns
/// named by the header row.
pub trait SheetRow: Sized {
    type Column: Copy + PartialEq + 'static;
    /// The header names of each column, English and Chinese.
    const COLUMNS: &'static [(&'static str, Self::Column)];
    /// The column every sheet must name, and how the error names it.
    const REQUIRED: Self::Column;
    const REQUIRED_TEXT: &'static str;
    fn at_row(row: usize) -> Self;
    fn set(&mut self, column: Self::Column, value: String);
    fn column_of(header: &str) -> Option<Self::Column> {
        named_column(Self::COLUMNS, header)
    }
}

impl SheetRow for RawRow {
    type Column = Column;
    const COLUMNS: &'static [(&'static str, Column)] = COLUMN_NAMES;
    const REQUIRED: Column = Column::Mac;
    const REQUIRED_TEXT: &'static str = "a MAC column (mac or MAC)";
    fn at_row(row: usize) -> Self {
        RawRow {
            row,
            ..Default::default()
        }
    }
    fn set(&mut self, column: Column, value: String) {
        let slot = match column {
            Column::Name => &mut self.name,
            Column::Extn => &mut self.extn,
            Column::Vendor => &mut self.vendor,
            Column::Mac => &mut self.mac,
            Column::Kind => &mut self.kind,
        };
        *slot = Some(value);
    }
}

/// A value past `MAX_FIELD_CHARS`: not kept, and shown cut short.
fn too_long(row: usize, column: &str) -> RowError {
    RowError {
        row,
        column: column.into(),
        value: String::new(),
        reason: format!("longer than {MAX_FIELD_CHARS} characters"),
    }
}

/// A JSON body of the device routes: rows (`{"devices": [...]}`,
/// `{"data": [...]}` or a bare array), or one record's fields.
#[derive(Debug)]
pub enum JsonBody {
    Rows(Vec<Result<RawRow, RowError>>),
    Single(Result<RawRow, RowError>),
}

/// Parses a body straight into rows, without an intermediate JSON tree:
/// an import of 100,000 rows stays small in memory.
pub fn parse_json(bytes: &[u8]) -> Result<JsonBody, Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let body = BodyWire::deserialize(&mut de)
        .and_then(|body| de.end().map(|()| body))
        .map_err(|e| {
            let reason = e.to_string();
            let reason = reason.split(" at line ").next().unwrap_or(&reason).to_string();
            match e.classify() {
                serde_json::error::Category::Data if reason.contains("array of rows") => {
                    Error::field("devices", reason)
                }
                serde_json::error::Category::Data => Error::field("request body", reason),
                _ => Error::field("request body", format!("not valid JSON ({reason})")),
            }
        })?;
    Ok(body.0)
}

/// The rows of an import body; a body that is one record is refused.
pub fn rows_from_json(bytes: &[u8]) -> Result<Vec<Result<RawRow, RowError>>, Error> {
    match parse_json(bytes)? {
        JsonBody::Rows(rows) => Ok(rows),
        JsonBody::Single(_) => Err(Error::field("devices", "required: an array of rows (or \"data\")")),
    }
}

struct BodyWire(JsonBody);

impl<'de> Deserialize<'de> for BodyWire {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct BodyVisitor;
        impl<'de> Visitor<'de> for BodyVisitor {
            type Value = BodyWire;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                Ok(BodyWire(JsonBody::Rows(RowsWire::visit(seq)?)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut rows = None;
                let mut single = RawRow {
                    row: 1,
                    ..Default::default()
                };
                let mut single_error = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key == "devices" || key == "data" {
                        rows = Some(map.next_value::<RowsWire>()?.0);
                    } else if let Some(column) = column_of(&key) {
                        let value = map.next_value::<FieldWire>()?;
                        if let Err(e) = single.take(column, &key, value) {
                            single_error.get_or_insert(e);
                        }
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(BodyWire(match rows {
                    Some(rows) => JsonBody::Rows(rows),
                    None => JsonBody::Single(single_error.map_or(Ok(single), Err)),
                }))
            }
        }
        d.deserialize_any(BodyVisitor)
    }
}

/// An array of rows, each numbered from 1.
struct RowsWire(Vec<Result<RawRow, RowError>>);

impl RowsWire {
    fn visit<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Vec<Result<RawRow, RowError>>, A::Error> {
        let mut rows = Vec::new();
        while let Some(RowWire(row)) = seq.next_element::<RowWire>()? {
            let number = rows.len() + 1;
            if number > MAX_IMPORT_ROWS {
                return Err(de::Error::custom(too_many_rows()));
            }
            rows.push(
                row.map(|r| RawRow { row: number, ..r })
                    .map_err(|e| RowError { row: number, ..e }),
            );
        }
        Ok(rows)
    }
}

impl<'de> Deserialize<'de> for RowsWire {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct RowsVisitor;
        impl<'de> Visitor<'de> for RowsVisitor {
            type Value = RowsWire;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of rows")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                Ok(RowsWire(RowsWire::visit(seq)?))
            }
        }
        d.deserialize_seq(RowsVisitor)
    }
}

/// One row: an object with any of the known keys, others ignored.
struct RowWire(Result<RawRow, RowError>);

impl<'de> Deserialize<'de> for RowWire {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RowVisitor)
    }
}

struct RowVisitor;

impl RowVisitor {
    fn not_an_object<E>(shown: String) -> Result<RowWire, E> {
        Ok(RowWire(Err(RowError {
            row: 0,
            column: "".into(),
            value: shown,
            reason: "each row must be a JSON object".into(),
        })))
    }
}

impl<'de> Visitor<'de> for RowVisitor {
    type Value = RowWire;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a row")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut raw = RawRow::default();
        let mut error = None;
        while let Some(key) = map.next_key::<String>()? {
            match column_of(&key) {
                Some(column) => {
                    let value = map.next_value::<FieldWire>()?;
                    if let Err(e) = raw.take(column, &key, value) {
                        error.get_or_insert(e);
                    }
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(RowWire(error.map_or(Ok(raw), Err)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Self::not_an_object(format!("\"{v}\""))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Self::not_an_object(v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Self::not_an_object(v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Self::not_an_object(v.to_string())
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Self::not_an_object(v.to_string())
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Self::not_an_object("null".into())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Self::not_an_object("[…]".into())
    }
}

/// A field's value: text, a number (kept as written), null, or for `extn` a
/// real JSON array (kept as its JSON text).
enum FieldWire {
    Text(String),
    Null,
    Array(String),
    Other(String),
}

impl RawRow {
    fn take(&mut self, column: Column, key: &str, value: FieldWire) -> Result<(), RowError> {
        let text = match value {
            FieldWire::Null => return Ok(()),
            FieldWire::Text(t) | FieldWire::Array(t) if t.chars().count() > MAX_FIELD_CHARS => {
                return Err(too_long(self.row, key));
            }
            FieldWire::Text(t) => t,
            FieldWire::Array(json) if column == Column::Extn => json,
            FieldWire::Array(shown) | FieldWire::Other(shown) => {
                return Err(RowError {
                    row: self.row,
                    column: key.into(),
                    value: shown,
                    reason: "must be text".into(),
                });
            }
        };
        self.set(column, text);
        Ok(())
    }
}

/// A number stands for its digits when it is whole and exact in JSON;
/// any other is refused, as the API's other text fields do.
fn number(n: serde_json::Number) -> FieldWire {
    match number_as_text(&n) {
        Some(text) => FieldWire::Text(text),
        None => FieldWire::Other(n.to_string()),
    }
}

impl<'de> Deserialize<'de> for FieldWire {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct FieldVisitor;
        impl<'de> Visitor<'de> for FieldVisitor {
            type Value = FieldWire;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(FieldWire::Text(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(FieldWire::Text(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(number(v.into()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(number(v.into()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(serde_json::Number::from_f64(v).map_or(FieldWire::Other(v.to_string()), number))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(FieldWire::Other(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(FieldWire::Null)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Value>()? {
                    items.push(item);
                }
                Ok(FieldWire::Array(Value::Array(items).to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(FieldWire::Other("{…}".into()))
            }
        }
        d.deserialize_any(FieldVisitor)
    }
}

/// The most rows one import takes: more than any MAC list.
pub const MAX_IMPORT_ROWS: usize = 200_000;
/// Imports carry whole MAC lists: 100,000 rows are about 10 MiB of JSON.
pub const IMPORT_BODY_LIMIT: usize = 64 * 1024 * 1024;
/// The longest value a cell or a field may hold.
pub const MAX_FIELD_CHARS: usize = 4096;

fn too_many_rows() -> String {
    format!("more than {MAX_IMPORT_ROWS} rows; import at most {MAX_IMPORT_ROWS} at once")
}

/// Reads a CSV spreadsheet with a header row naming the columns.
pub fn rows_from_csv<R: SheetRow>(bytes: &[u8]) -> Result<Vec<Result<R, RowError>>, Error> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let headers = reader
        .headers()
        .map_err(|e| Error::field("file", format!("cannot read the CSV header row: {e}")))?
        .clone();
    let columns: Vec<Option<R::Column>> = headers.iter().map(R::column_of).collect();
    if !columns.contains(&Some(R::REQUIRED)) {
        return Err(Error::field(
            "file",
            format!(
                "the header row must name {}; found: {}",
                R::REQUIRED_TEXT,
                headers.iter().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    // Line numbers come from byte offsets: the reader skips blank lines
    // without counting them, and admins need the line their editor shows.
    let mut line_of = LineCounter {
        bytes,
        offset: 0,
        line: 1,
    };
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let row = e.position().map_or(0, |p| line_of.at(p.byte() as usize));
                rows.push(Err(RowError {
                    row,
                    column: "".into(),
                    value: "".into(),
                    reason: format!("unreadable CSV line: {e}"),
                }));
                continue;
            }
        };
        let row = record.position().map_or(0, |p| line_of.at(p.byte() as usize));
        if record.iter().all(str::is_empty) {
            continue;
        }
        if rows.len() == MAX_IMPORT_ROWS {
            return Err(Error::field("file", too_many_rows()));
        }
        let mut raw = R::at_row(row);
        let long = record
            .iter()
            .zip(&headers)
            .find(|(value, _)| value.chars().count() > MAX_FIELD_CHARS);
        if let Some((_, header)) = long {
            rows.push(Err(too_long(row, header)));
            continue;
        }
        for (value, column) in record.iter().zip(&columns) {
            if let Some(column) = column {
                // An export's `'` before a formula character comes off.
                raw.set(*column, cell::restore(value).to_string());
            }
        }
        rows.push(Ok(raw));
    }
    Ok(rows)
}

/// The most columns a sheet may use; sipprov reads five.
const MAX_SHEET_COLUMNS: u32 = 64;
/// The most cells a sheet may hold.
const MAX_SHEET_CELLS: usize = 2_000_000;
/// The most shared strings a workbook may declare or hold.
const MAX_SHARED_STRINGS: u64 = 1_000_000;
/// The most any part of a workbook may take once decompressed, and the
/// most it may grow over its compressed size.
const MAX_PART_BYTES: u64 = 128 * 1024 * 1024;
const MAX_PART_RATIO: u64 = 200;

/// Whether the bytes are an XLSX workbook (a ZIP archive).
pub fn is_xlsx(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04")
}

/// Reads the first sheet of an XLSX workbook like a CSV file: a header row
/// naming the columns, then one record per row; row numbers are the sheet's.
pub fn rows_from_xlsx<R: SheetRow>(bytes: &[u8]) -> Result<Vec<Result<R, RowError>>, Error> {
    use calamine::Reader;
    let unreadable = |e: &dyn std::fmt::Display| Error::field("file", format!("cannot read the XLSX workbook: {e}"));
    xlsx_within_limits(bytes)?;
    let mut workbook = calamine::open_workbook_auto_from_rs(std::io::Cursor::new(bytes)).map_err(|e| unreadable(&e))?;
    let sheet = workbook
        .worksheet_range_at(0)
        .ok_or_else(|| Error::field("file", "the XLSX workbook has no sheet"))?
        .map_err(|e| unreadable(&e))?;
    // Rows above the used range are blank lines to the CSV reader, so
    // row numbers stay the ones the spreadsheet shows.
    let first_row = sheet.start().map_or(0, |(row, _)| row as usize);
    let mut csv_text = csv::Writer::from_writer(vec![b'\n'; first_row]);
    for row in sheet.rows() {
        csv_text
            .write_record(row.iter().map(|cell| cell.to_string()))
            .map_err(|e| unreadable(&e))?;
    }
    let csv_bytes = csv_text.into_inner().map_err(|e| unreadable(&e))?;
    rows_from_csv(&csv_bytes)
}

/// Checks what a workbook declares and holds before calamine reads it:
/// every part's decompressed size (and its ratio to its compressed size,
/// against zip bombs), each sheet's dimension, cell references and cell
/// count, and the shared strings' declared and actual count. calamine
/// allocates by those, so a 2 KB file could otherwise ask for terabytes.
fn xlsx_within_limits(bytes: &[u8]) -> Result<(), Error> {
    use std::io::Read;
    let refuse = |reason: String| Error::field("file", reason);
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| refuse(format!("cannot read the XLSX workbook: {e}")))?;
    for index in 0..archive.len() {
        let part = archive
            .by_index(index)
            .map_err(|e| refuse(format!("cannot read the XLSX workbook: {e}")))?;
        let name = part.name().map(|n| n.into_owned()).unwrap_or_default();
        let (size, packed) = (part.size(), part.compressed_size().max(1));
        if size > MAX_PART_BYTES || size / packed > MAX_PART_RATIO {
            return Err(refuse(format!(
                "the XLSX part {name} unpacks to {size} bytes from {packed}; at most {MAX_PART_BYTES} bytes and {MAX_PART_RATIO} times its packed size are read"
            )));
        }
        let is_sheet = name.starts_with("xl/worksheets/") && name.ends_with(".xml");
        if !is_sheet && name != "xl/sharedStrings.xml" {
            continue;
        }
        // The declared size may lie: what is read stops past the limit.
        let mut reader = quick_xml::Reader::from_reader(std::io::BufReader::new(part.take(MAX_PART_BYTES + 1)));
        let mut buffer = Vec::new();
        let mut count = 0usize;
        loop {
            let event = reader
                .read_event_into(&mut buffer)
                .map_err(|e| refuse(format!("the XLSX part {name} is not readable XML: {e}")))?;
            let element = match &event {
                quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e) => e,
                quick_xml::events::Event::Eof => break,
                _ => {
                    buffer.clear();
                    continue;
                }
            };
            let attribute = |key: &str| {
                element
                    .try_get_attribute(key)
                    .ok()
                    .flatten()
                    .map(|a| a.value.into_owned())
            };
            match (is_sheet, element.local_name().as_ref()) {
                (true, "dimension") => {
                    for cell in attribute("ref").unwrap_or_default().split(':') {
                        cell_within_limits(&name, cell)?;
                    }
                }
                (true, "c") => {
                    count += 1;
                    if count > MAX_SHEET_CELLS {
                        return Err(refuse(format!(
                            "the sheet {name} has more than {MAX_SHEET_CELLS} cells"
                        )));
                    }
                    if let Some(cell) = attribute("r") {
                        cell_within_limits(&name, &cell)?;
                    }
                }
                (false, "sst") => {
                    for key in ["count", "uniqueCount"] {
                        let declared = attribute(key).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
                        if declared > MAX_SHARED_STRINGS {
                            return Err(refuse(format!(
                                "the workbook declares {declared} shared strings; at most {MAX_SHARED_STRINGS} are read"
                            )));
                        }
                    }
                }
                (false, "si") => {
                    count += 1;
                    if count as u64 > MAX_SHARED_STRINGS {
                        return Err(refuse(format!(
                            "the workbook has more than {MAX_SHARED_STRINGS} shared strings"
                        )));
                    }
                }
                _ => {}
            }
            buffer.clear();
        }
        if reader.buffer_position() > MAX_PART_BYTES {
            return Err(refuse(format!(
                "the XLSX part {name} unpacks to more than {MAX_PART_BYTES} bytes"
            )));
        }
    }
    Ok(())
}

/// A cell reference (`B12`) within `MAX_SHEET_COLUMNS` and `MAX_IMPORT_ROWS`.
fn cell_within_limits(part: &str, cell: &str) -> Result<(), Error> {
    let letters: String = cell.chars().take_while(char::is_ascii_alphabetic).collect();
    let column = letters.chars().try_fold(0u32, |n, c| {
        n.checked_mul(26)?
            .checked_add(c.to_ascii_uppercase() as u32 - 'A' as u32 + 1)
    });
    let row = cell[letters.len()..].parse::<u64>().ok();
    match (column, row) {
        (Some(column), _) if column > MAX_SHEET_COLUMNS => Err(Error::field(
            "file",
            format!("the sheet {part} uses cell {cell}; at most {MAX_SHEET_COLUMNS} columns are read"),
        )),
        (_, Some(row)) if row > MAX_IMPORT_ROWS as u64 + 1 => Err(Error::field(
            "file",
            format!("the sheet {part} uses cell {cell}; at most {MAX_IMPORT_ROWS} rows are read"),
        )),
        _ => Ok(()),
    }
}

/// Counts newlines up to increasing byte offsets.
struct LineCounter<'a> {
    bytes: &'a [u8],
    offset: usize,
    line: usize,
}

impl LineCounter<'_> {
    fn at(&mut self, offset: usize) -> usize {
        let mut offset = offset.min(self.bytes.len());
        // A record's position may point at the blank lines before it.
        while offset < self.bytes.len() && matches!(self.bytes[offset], b'\n' | b'\r') {
            offset += 1;
        }
        if offset > self.offset {
            self.line += self.bytes[self.offset..offset].iter().filter(|b| **b == b'\n').count();
            self.offset = offset;
        }
        self.line
    }
}

/// Reads a spreadsheet: an XLSX workbook by its signature, else CSV.
pub fn rows_from_sheet<R: SheetRow>(bytes: &[u8]) -> Result<Vec<Result<R, RowError>>, Error> {
    if is_xlsx(bytes) {
        rows_from_xlsx(bytes)
    } else {
        rows_from_csv(bytes)
    }
}

/// Reads an uploaded file or body of device rows: an XLSX workbook by its
/// signature; CSV when declared or when it does not look like JSON.
pub fn rows_from_bytes(bytes: &[u8], is_csv: bool) -> Result<Vec<Result<RawRow, RowError>>, Error> {
    if is_xlsx(bytes) {
        return rows_from_xlsx(bytes);
    }
    let text = String::from_utf8_lossy(bytes);
    if !is_csv && text.trim_start().starts_with(['{', '[']) {
        rows_from_json(bytes)
    } else {
        rows_from_csv(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn json_rows(body: serde_json::Value) -> Result<Vec<Result<RawRow, RowError>>, Error> {
        rows_from_json(body.to_string().as_bytes())
    }

    #[test]
    fn json_rows_with_chinese_or_english_keys() {
        let rows = json_rows(json!({"devices": [
            {"名称": "前台", "分机号": "1002", "供应商": "潮流", "MAC": "000B7461582D"},
            {"name": "n", "extn": 1001, "vendor": "gs", "mac": "000b82d74615", "other": {"x": [1]}},
            "not an object",
            {"extn": [{"extn": "1001"}], "vendor": true}
        ]}))
        .unwrap();
        let first = rows[0].clone().unwrap();
        assert_eq!(
            (
                first.row,
                first.name.as_deref(),
                first.extn.as_deref(),
                first.vendor.as_deref(),
                first.mac.as_deref()
            ),
            (1, Some("前台"), Some("1002"), Some("潮流"), Some("000B7461582D"))
        );
        assert_eq!(rows[1].clone().unwrap().extn.as_deref(), Some("1001"));
        let not_object = rows[2].clone().unwrap_err();
        assert_eq!((not_object.row, not_object.value.as_str()), (3, "\"not an object\""));
        let bad_field = rows[3].clone().unwrap_err();
        assert_eq!(
            (bad_field.row, bad_field.column.as_str(), bad_field.reason.as_str()),
            (4, "vendor", "must be text")
        );
        assert_eq!(json_rows(json!([{"mac": "x"}])).unwrap().len(), 1);
        assert_eq!(json_rows(json!({"data": []})).unwrap().len(), 0);
        assert!(
            json_rows(json!({"rows": []}))
                .unwrap_err()
                .to_string()
                .starts_with("devices: required")
        );
        assert!(
            json_rows(json!({"devices": "x"}))
                .unwrap_err()
                .to_string()
                .starts_with("devices: ")
        );
        assert!(
            rows_from_json(b"{\"devices\": [")
                .unwrap_err()
                .to_string()
                .contains("not valid JSON")
        );
        assert!(
            rows_from_json(b"42")
                .unwrap_err()
                .to_string()
                .starts_with("request body")
        );
    }

    #[test]
    fn one_record_or_many() {
        let one = parse_json(
            json!({"mac": "000b82d74615", "extn": [{"extn": "1001"}], "id": 3})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        let JsonBody::Single(Ok(row)) = one else {
            panic!("{one:?}")
        };
        assert_eq!((row.row, row.extn.as_deref()), (1, Some("[{\"extn\":\"1001\"}]")));
        assert!(matches!(parse_json(b"[]").unwrap(), JsonBody::Rows(r) if r.is_empty()));
    }

    #[test]
    fn csv_rows_carry_spreadsheet_line_numbers() {
        let csv = "\u{feff}名称,分机号,供应商,MAC,备注\n前台,1001,yealink,00:15:65:aa:bb:cc,x\n\n后台,\"[{\"\"extn\"\":\"\"1002\"\"}]\",gs,000b82d74615\n";
        let rows = rows_from_csv::<RawRow>(csv.as_bytes()).unwrap();
        assert_eq!(rows.len(), 2);
        let a = rows[0].clone().unwrap();
        assert_eq!(
            (a.row, a.name.as_deref(), a.mac.as_deref()),
            (2, Some("前台"), Some("00:15:65:aa:bb:cc"))
        );
        let b = rows[1].clone().unwrap();
        assert_eq!((b.row, b.extn.as_deref()), (4, Some("[{\"extn\":\"1002\"}]")));
        assert!(
            rows_from_csv::<RawRow>(b"name,extn\nx,1\n")
                .unwrap_err()
                .to_string()
                .contains("MAC column")
        );
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        /// A row as a spreadsheet holds it: any text without surrounding
        /// blanks or line breaks, which the reader trims and counts.
        fn cell() -> impl Strategy<Value = String> {
            "[^\\s\\p{C}]([^\\n\\r\\p{C}]{0,20}[^\\s\\p{C}])?"
        }

        proptest! {
            #[test]
            fn csv_rows_round_trip(rows in prop::collection::vec((cell(), "[0-9]{3,6}", cell(), "[0-9a-f]{12}"), 1..20)) {
                let mut out = csv::Writer::from_writer(Vec::new());
                out.write_record(HEADERS_EN).unwrap();
                for (name, extn, vendor, mac) in &rows {
                    // As the export writes them: no cell starts a formula.
                    out.write_record([name, extn, vendor, mac].map(|v| cell::neutralise(v).into_owned())).unwrap();
                }
                let parsed = rows_from_csv::<RawRow>(&out.into_inner().unwrap()).unwrap();
                prop_assert_eq!(parsed.len(), rows.len());
                for (i, (got, (name, extn, vendor, mac))) in parsed.into_iter().zip(&rows).enumerate() {
                    let got = got.unwrap();
                    prop_assert_eq!(got.row, i + 2, "the spreadsheet line");
                    prop_assert_eq!(got.name.as_deref(), Some(name.as_str()));
                    prop_assert_eq!(got.extn.as_deref(), Some(extn.as_str()));
                    prop_assert_eq!(got.vendor.as_deref(), Some(vendor.as_str()));
                    prop_assert_eq!(got.mac.as_deref(), Some(mac.as_str()));
                }
            }

            #[test]
            fn json_rows_round_trip(rows in prop::collection::vec((".{0,20}", "[0-9]{3,6}", ".{0,12}", "[0-9a-f]{12}"), 1..20)) {
                let devices: Vec<serde_json::Value> = rows
                    .iter()
                    .map(|(name, extn, vendor, mac)| serde_json::json!({"name": name, "extn": extn, "vendor": vendor, "mac": mac}))
                    .collect();
                let body = serde_json::json!({"devices": devices}).to_string();
                let parsed = rows_from_json(body.as_bytes()).unwrap();
                for (got, (name, extn, vendor, mac)) in parsed.into_iter().zip(&rows) {
                    let got = got.unwrap();
                    prop_assert_eq!(got.name.as_deref(), Some(name.as_str()));
                    prop_assert_eq!(got.extn.as_deref(), Some(extn.as_str()));
                    prop_assert_eq!(got.vendor.as_deref(), Some(vendor.as_str()));
                    prop_assert_eq!(got.mac.as_deref(), Some(mac.as_str()));
                }
            }

            /// Any bytes give rows or an error value that names the input, never a panic.
            #[test]
            fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400), text in "\\PC{0,200}") {
                for input in [bytes.as_slice(), text.as_bytes()] {
                    if let Err(err) = rows_from_csv::<RawRow>(input) {
                        prop_assert!(err.to_string().starts_with("file:"), "{}", err);
                    }
                    let _ = rows_from_json(input);
                    let _ = rows_from_xlsx::<RawRow>(input);
                }
                let mut zip = b"PK\x03\x04".to_vec();
                zip.extend_from_slice(&bytes);
                prop_assert!(rows_from_xlsx::<RawRow>(&zip).is_err());
            }
        }
    }
}
