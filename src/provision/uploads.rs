//! Files phones write back with PUT: the written-back files of their
//! pack (Polycom's override file, with settings changed on the phone, and
//! its contacts) and the uploads it declares (logs). They are kept under
//! `<data-dir>/uploads/<mac>/`. Written-back files are served back in
//! place of the template, so what a user changed on the phone survives its
//! next reboot; they are as secret as its configuration.
//!
//! Writing needs phone authentication (`auth_mode`): with it off, anyone
//! could replace a phone's settings. A phone writes only its own files: the
//! credential it proved is that phone's own, or the site's with the file's
//! MAC in its User-Agent. The names a pack declares are a fixed set, so one
//! phone's uploads are bounded too.

use std::path::{Path, PathBuf};

use super::phone_auth::{Holder, Verdict};
use super::{Answer, PhoneRequest, Provisioner};
use crate::domain::Mac;
use crate::packs::routes::FileKind;

/// The largest file a phone may upload; Polycom logs stay well below.
pub const MAX_UPLOAD_BYTES: usize = 1024 * 1024;

fn stored_path(data_dir: &Path, mac: Mac, name: &str) -> PathBuf {
    data_dir.join("uploads").join(mac.lower()).join(name)
}

/// What the phone uploaded under `name`, one of its written-back files.
pub async fn served_back(data_dir: &Path, mac: Mac, name: &str) -> Option<String> {
    let path = crate::confined::within(&data_dir.join("uploads"), &stored_path(data_dir, mac, name)).await?;
    let bytes = tokio::fs::read(path).await.ok()?;
    String::from_utf8(bytes).ok()
}

impl Provisioner {
    /// Keeps one upload, after the same checks as a fetch of a file with
    /// passwords (throttling, the allow-list, phone credentials), proof that
    /// the writer is the file's phone, and a phone record for the MAC.
    pub async fn keep_upload(&self, req: &PhoneRequest<'_>, body: &[u8]) -> Answer {
        let name = req.path.rsplit('/').next().unwrap_or(req.path);
        let packs = self.packs.current();
        let Some((mac, writers)) = packs.uploadable(name) else {
            return Answer::NotFound;
        };
        let agent = packs.parse_user_agent(req.user_agent);
        if let Some(refused) = self.foreign_file(req, agent.as_deref(), name, mac) {
            return refused;
        }
        let verdict = match self.admit(req, &self.settings_for(Some(mac)), Some(mac), FileKind::WrittenBack) {
            Ok(verdict) => verdict,
            Err(refused) => return refused,
        };
        let its_own_phone = match verdict {
            Verdict::Proven(Holder::Phone) => true,
            Verdict::Proven(Holder::Site) => agent.and_then(|a| a.mac) == Some(mac),
            _ => false,
        };
        if !its_own_phone {
            tracing::warn!(peer = %req.peer, file = name, "refused an upload not proven to come from its phone");
            return Answer::Forbidden;
        }
        let vendor = match self.db.phone_lines(&mac.lower()).await {
            Ok(rows) => rows.first().and_then(|r| packs.vendor(&r.vendor_code).ok()),
            Err(err) => {
                tracing::error!(error = %err, "could not read a phone record");
                return Answer::Unavailable;
            }
        };
        let writes_it = vendor.is_some_and(|v| writers.contains(&v) && req.vendor_hint.is_none_or(|h| h == v));
        if !writes_it {
            self.miss_limiter.unknown_mac(req.peer, mac);
            return self.miss(req);
        }
        let path = stored_path(&self.data_dir, mac, name);
        match write_atomically(&self.data_dir.join("uploads"), &path, body).await {
            Ok(()) => {
                tracing::info!(mac = %mac, file = name, bytes = body.len(), peer = %req.peer, "kept a phone's upload");
                Answer::Stored
            }
            Err(err) => {
                tracing::error!(error = %err, file = %path.display(), "could not keep a phone's upload");
                Answer::Unavailable
            }
        }
    }
}

/// Writes a temporary file and renames it, so a reader never sees half a
/// file. The phone's folder must resolve inside `root`, links and all.
async fn write_atomically(root: &Path, path: &Path, body: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().expect("an upload path has a folder");
    tokio::fs::create_dir_all(dir).await?;
    let Some(dir) = crate::confined::within(root, dir).await else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "the phone's upload folder leads out of the uploads folder",
        ));
    };
    let path = dir.join(path.file_name().expect("an upload path has a name"));
    // A link left where the file goes is replaced, not followed.
    let partial = path.with_extension("partial");
    let _ = tokio::fs::remove_file(&partial).await;
    tokio::fs::write(&partial, body).await?;
    tokio::fs::rename(&partial, &path).await
}
