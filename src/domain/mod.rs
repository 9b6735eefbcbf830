//! Domain types shared by the API, the store and the phone-facing side.

pub mod cell;
pub mod extn_ref;
pub mod keys;
pub mod language;
pub mod mac;
pub mod network;
pub mod number;
pub mod time_zone;
pub mod timestamp;
pub mod vendor;

pub use extn_ref::{ExtnRef, parse_extn_field};
pub use mac::{InvalidMac, Mac};
pub use network::source_network;
pub use number::{MAX_SAFE_INTEGER, number_as_text};
pub use time_zone::SiteTimeZone;
pub use vendor::{UnknownVendor, Vendor};
