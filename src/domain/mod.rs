//! Domain types shared by the API, the store and the phone-facing side.

pub mod extn_ref;
pub mod mac;
pub mod network;
pub mod timestamp;
pub mod vendor;

pub use extn_ref::{ExtnRef, parse_extn_field};
pub use mac::{InvalidMac, Mac};
pub use network::source_network;
pub use vendor::{UnknownVendor, Vendor};
