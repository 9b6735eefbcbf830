//! What a phone gets for a request, however it came (HTTP, TFTP, the
//! console's preview, `sipprov render`): the file resolved, the request
//! checked, and the file served from memory or rendered once.

use std::net::IpAddr;
use std::sync::Arc;

use super::Provisioner;
use super::cache::{CachedFile, FileKey};
use super::in_flight::InFlight;
use super::phone_auth::Verdict;
use super::reason;
use super::render::{self, DeviceView, LineView, RenderContext, SettingsView};
use super::settings::Resolved;
use super::tracking::{LatestFetch, UnknownFile, cut};
use super::uploads;
use crate::domain::{Mac, Vendor, keys, timestamp};
use crate::packs::Packs;
use crate::packs::agents::PhoneAgent;
use crate::packs::routes::{FileKind, FileMatch};
use crate::secrets::password_aad;
use crate::store::devices::PhoneLine;
use crate::store::fetches::{FetchEvent, PendingPhone};
use crate::workers::{Priority, Unfinished};

/// A request for a phone file, however it arrived.
pub struct PhoneRequest<'a> {
    pub peer: IpAddr,
    /// The path after the provisioning root; its last segment names the file.
    pub path: &'a str,
    pub vendor_hint: Option<Vendor>,
    pub user_agent: &'a str,
    /// The host the phone used to reach sipprov.
    pub host: &'a str,
    /// How the phone reached sipprov: `http` or `https`.
    pub scheme: &'a str,
    /// A real phone's fetch: tracked, rate limited and cached. Previews are not.
    pub from_phone: bool,
    /// Shows `********` in place of every password.
    pub mask_secrets: bool,
    pub method: &'a str,
    /// The request target as sent (path and query), which a Digest
    /// response must name.
    pub target: &'a str,
    /// The `Authorization` header, if any.
    pub authorization: Option<&'a str>,
    /// The ETags the phone already has (`If-None-Match`), if any.
    pub if_none_match: Option<&'a str>,
}

impl<'a> PhoneRequest<'a> {
    /// A phone's plain GET of a file by name, which carries nothing else:
    /// a TFTP read, or the pre-render standing in for the phone's next fetch.
    pub fn get(peer: IpAddr, path: &'a str, host: &'a str, scheme: &'a str) -> PhoneRequest<'a> {
        PhoneRequest {
            peer,
            path,
            vendor_hint: None,
            user_agent: "",
            host,
            scheme,
            from_phone: true,
            mask_secrets: false,
            method: "GET",
            target: "",
            authorization: None,
            if_none_match: None,
        }
    }

    /// An administrator's look at a file (a preview, `sipprov render`): not
    /// a phone's fetch, so neither tracked, throttled nor cached.
    pub fn look(path: &'a str, host: &'a str) -> PhoneRequest<'a> {
        PhoneRequest {
            from_phone: false,
            ..PhoneRequest::get(std::net::Ipv4Addr::LOCALHOST.into(), path, host, "http")
        }
    }
}

/// One file of a phone, as an administrator previews it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct PreviewFile {
    pub name: String,
    /// Where the phone fetches it.
    pub url: String,
    pub content_type: String,
    /// As the phone gets it, with every password shown as `********`.
    pub body: String,
}

/// What a phone gets.
#[derive(Clone)]
pub enum Answer {
    File(render::Rendered),
    NotFound,
    /// The phone says it is a model its pack refuses to write (an ATA
    /// whose accounts are profiles, say), and its record names no model
    /// of its own: to the phone, a miss like any other.
    ModelRefused,
    Forbidden,
    Throttled(std::time::Duration),
    /// The `WWW-Authenticate` challenges to send.
    Unauthorized(Vec<String>),
    Unavailable,
    /// An upload was kept.
    Stored,
}

pub const MASK: &str = "********";

/// A render and the vendor that answered it.
type Rendering = (Answer, Option<Vendor>);

/// Renders under way, by file: one render answers every fetch of the same
/// file that arrives meanwhile.
pub type Renders = InFlight<FileKey, Rendering>;

/// A request's file, as far as it is understood before any check.
pub(super) struct Wanted<'r> {
    pub name: &'r str,
    pub matched: FileMatch,
    pub agent: Option<Arc<PhoneAgent>>,
    pub settings: Arc<Resolved>,
    /// A phone waiting goes before pre-rendering.
    pub priority: Priority,
}

/// What a request was for, as far as it got: its metric's labels, and the
/// phone whose timeline it goes in.
#[derive(Default)]
struct Seen {
    vendor: Option<Vendor>,
    kind: Option<FileKind>,
    /// The MAC the file names, when a record has it.
    phone: Option<Mac>,
    /// What the phone's User-Agent says, for its timeline.
    agent: Option<Arc<PhoneAgent>>,
}

/// What a known phone's timeline says of an answer: "" for a file, why for
/// a refusal; `None` for the challenge every Digest fetch starts with.
fn timeline_reason(req: &PhoneRequest<'_>, answer: &Answer) -> Option<&'static str> {
    Some(match answer {
        Answer::File(_) | Answer::Stored => "",
        Answer::NotFound => reason::NO_SUCH_FILE,
        Answer::ModelRefused => reason::MODEL_REFUSED,
        Answer::Forbidden => reason::OUTSIDE_NETWORKS,
        Answer::Unauthorized(_) if req.authorization.is_none() => return None,
        Answer::Unauthorized(_) => reason::WRONG_CREDENTIALS,
        Answer::Throttled(_) => reason::CREDENTIALS_THROTTLED,
        Answer::Unavailable => reason::NOT_RENDERED,
    })
}

/// Why an unknown phone got no file, as the pending list shows it.
fn pending_reason(answer: &Answer) -> &'static str {
    match answer {
        Answer::Throttled(_) => reason::NO_RECORD_THROTTLED,
        _ => reason::NO_RECORD,
    }
}

impl Provisioner {
    /// The files a phone of this vendor and MAC would get from `host`,
    /// rendered, every password masked.
    pub async fn preview(&self, vendor: Vendor, mac: Mac, host: &str) -> Vec<PreviewFile> {
        let mut files = Vec::new();
        for (name, _) in self.packs.current().phone_files(vendor, mac) {
            let request = PhoneRequest {
                vendor_hint: Some(vendor),
                mask_secrets: true,
                ..PhoneRequest::look(&name, host)
            };
            if let Answer::File(rendered) = self.answer(&request).await {
                files.push(PreviewFile {
                    url: format!("http://{host}/prov/{name}"),
                    content_type: rendered.content_type.to_string(),
                    body: rendered.body.to_string(),
                    name,
                });
            }
        }
        files
    }
}

impl Provisioner {
    /// Resolves, checks and serves one phone request, and counts a phone's.
    pub async fn answer(&self, req: &PhoneRequest<'_>) -> Answer {
        let mut seen = Seen::default();
        let answer = self.answer_seen(req, &mut seen).await;
        if req.from_phone {
            let outcome = match &answer {
                Answer::File(file) if req.if_none_match.is_some_and(|tags| file.matches(tags)) => "304",
                Answer::File(_) => "served",
                Answer::Stored => "stored",
                Answer::NotFound | Answer::ModelRefused => "404",
                Answer::Forbidden => "403",
                Answer::Unauthorized(_) => "401",
                Answer::Throttled(_) => "429",
                Answer::Unavailable => "503",
            };
            let kind = seen.kind.map_or("unknown", FileKind::label);
            self.metrics.fetch(seen.vendor.map(Vendor::code), kind, outcome);
            if let (Some(mac), Some(reason)) = (seen.phone, timeline_reason(req, &answer)) {
                let served = match &answer {
                    Answer::File(file) => Some(file),
                    _ => None,
                };
                let firmware = seen.agent.as_ref().map_or("", |a| a.firmware.as_str());
                self.on_timeline(req, mac, firmware, (outcome, reason, served));
            }
        }
        answer
    }

    /// A file with passwords asked for over TFTP, which does not serve
    /// them: on the phone's timeline when it has a record.
    pub fn refused_over_tftp(&self, req: &PhoneRequest<'_>) {
        let name = req.path.rsplit('/').next().unwrap_or(req.path);
        let Some(mac) = self.packs.current().resolve(name).and_then(|m| m.mac) else {
            return;
        };
        if self.fleet.read().expect("fleet lock").phones.contains_key(&mac) {
            self.on_timeline(req, mac, "", ("404", reason::SECRETS_OVER_TFTP, None));
        }
    }

    /// Puts a fetch of a known phone on its timeline: its outcome, why it
    /// was refused, and the version served. Built only if the timeline
    /// keeps it: a phone fetched over and over fills its share of a flush.
    fn on_timeline(
        &self,
        req: &PhoneRequest<'_>,
        mac: Mac,
        firmware: &str,
        (outcome, reason, served): (&str, &str, Option<&render::Rendered>),
    ) {
        let name = req.path.rsplit('/').next().unwrap_or(req.path);
        let same = (name, req.peer, outcome, served.map(|file| file.etag.as_str()));
        self.fetches.event(mac, reason, same, || FetchEvent {
            mac: mac.lower(),
            at: timestamp::now(),
            file: cut(name, 255).to_string(),
            ip: req.peer.to_string(),
            user_agent: cut(req.user_agent, 255).to_string(),
            firmware: firmware.to_string(),
            outcome: outcome.to_string(),
            reason: reason.to_string(),
            version: served
                .map(|file| self.secrets.file_version(&file.etag))
                .unwrap_or_default(),
        });
    }

    async fn answer_seen(&self, req: &PhoneRequest<'_>, seen: &mut Seen) -> Answer {
        let name = req.path.rsplit('/').next().unwrap_or(req.path);
        // One set of packs answers the whole request.
        let packs = self.packs.current();
        let Some(matched) = packs.resolve(name) else {
            if req.from_phone {
                self.fetches.unknown_file(UnknownFile {
                    at: timestamp::now(),
                    file: cut(name, 128).to_string(),
                    ip: req.peer.to_string(),
                    user_agent: cut(req.user_agent, 255).to_string(),
                });
            }
            return Answer::NotFound;
        };
        seen.kind = Some(matched.kind);
        let agent = packs.parse_user_agent(req.user_agent);
        seen.vendor = req.vendor_hint.or(agent.as_ref().map(|a| a.vendor));
        if let Some(refused) = matched
            .mac
            .and_then(|mac| self.foreign_file(req, agent.as_deref(), name, mac))
        {
            return refused;
        }
        let (settings, known) = {
            let fleet = self.fleet.read().expect("fleet lock");
            let known = matched.mac.map(|m| fleet.phones.contains_key(&m));
            (fleet.settings_for(matched.mac), known)
        };
        if known == Some(true) {
            seen.phone = matched.mac;
            seen.agent = agent.clone();
        }
        if let Err(refused) = self.admit(req, &settings, matched.mac, matched.kind) {
            return refused;
        }
        if let (Some(mac), Some(false)) = (matched.mac, known) {
            return self.unknown_phone(req, &packs, mac, agent.as_deref());
        }
        if req.from_phone {
            self.prerender.learn(req.host, req.scheme);
        }
        let wanted = Wanted {
            name,
            matched,
            agent,
            settings,
            priority: Priority::First,
        };
        // A file the phone writes back may change on disk at any time.
        let cacheable = req.from_phone && wanted.matched.kind != FileKind::WrittenBack;
        let (answer, vendor) = if cacheable {
            self.cached_or_rendered(&packs, req, &wanted).await
        } else {
            self.render(&packs, req, &wanted).await
        };
        if let (Answer::File(_), Some(mac), Some(vendor)) = (&answer, wanted.matched.mac, vendor) {
            self.track(req, name, mac, vendor, wanted.agent.as_deref(), wanted.matched.kind);
        }
        seen.vendor = vendor.or(seen.vendor);
        answer
    }

    /// The file from memory, or rendered once for every fetch that wants
    /// it meanwhile and kept.
    async fn cached_or_rendered(&self, packs: &Arc<Packs>, req: &PhoneRequest<'_>, wanted: &Wanted<'_>) -> Rendering {
        let key = FileKey {
            name: wanted.name.to_string(),
            vendor_hint: req.vendor_hint,
            host: req.host.to_string(),
            scheme: req.scheme.to_string(),
            agent: wanted.agent.clone(),
        };
        if let Some(hit) = self.cache.file(packs.print(), &key) {
            return (Answer::File(hit.rendered), Some(hit.vendor));
        }
        self.in_flight
            .share(&key, || self.render_kept(packs, req, wanted, &key, None))
            .await
    }

    /// Renders a file and keeps it, unless a change came meanwhile; `lines`
    /// are the phone's, when the caller has them at hand.
    pub(super) async fn render_kept(
        &self,
        packs: &Arc<Packs>,
        req: &PhoneRequest<'_>,
        wanted: &Wanted<'_>,
        key: &FileKey,
        lines: Option<&[PhoneLine]>,
    ) -> Rendering {
        let stamp = self.cache.stamp(packs.print());
        let (answer, vendor) = match (wanted.matched.mac, lines) {
            (Some(mac), Some(lines)) => self.render_phone(packs, req, wanted, mac, lines).await,
            _ => self.render(packs, req, wanted).await,
        };
        if let (Answer::File(rendered), Some(vendor)) = (&answer, vendor) {
            let file = CachedFile {
                rendered: rendered.clone(),
                vendor,
            };
            self.cache.keep(stamp, key.clone(), wanted.matched.mac, file);
        }
        (answer, vendor)
    }

    /// Renders what a request asks for, from the phone's lines in memory.
    pub(super) async fn render(&self, packs: &Arc<Packs>, req: &PhoneRequest<'_>, wanted: &Wanted<'_>) -> Rendering {
        let Wanted {
            name,
            ref matched,
            ref agent,
            ref settings,
            ..
        } = *wanted;
        let Some(mac) = matched.mac else {
            let view = masked(
                settings.view(req.host, req.scheme, matched.kind.carries_secrets()),
                req.mask_secrets,
            );
            // A common file: the vendor the request names, else the one the phone says it is.
            let Some(vendor) = req
                .vendor_hint
                .or(agent.as_ref().map(|a| a.vendor))
                .filter(|v| matched.entry(*v, name).is_some())
                .or_else(|| matched.vendors().next())
            else {
                return (Answer::NotFound, None);
            };
            if req.vendor_hint.is_some_and(|h| h != vendor) {
                return (Answer::NotFound, None);
            }
            // The phone's own MAC, when its User-Agent gives it, lets a
            // common index file name the phone's own files; its model and
            // firmware count only when the User-Agent is of this family.
            let mac = agent.as_ref().and_then(|a| a.mac);
            let own = agent.as_ref().filter(|a| a.vendor == vendor);
            let device = DeviceView {
                mac: mac.map(|m| m.lower()).unwrap_or_default(),
                mac_upper: mac.map(|m| m.upper()).unwrap_or_default(),
                mac_colon: mac.map(|m| m.colon_lower()).unwrap_or_default(),
                name: String::new(),
                vendor: vendor.code().into(),
                // The model the phone says it is, as for its own files,
                // before the name's (a hardware ID such as F0V00X600000).
                model: own
                    .filter(|a| !a.model.is_empty())
                    .map(|a| a.model.clone())
                    .or(matched.model.clone())
                    .unwrap_or_default(),
                firmware: own.map(|a| a.firmware.clone()).unwrap_or_default(),
            };
            let ctx = RenderContext {
                device,
                lines: Vec::new(),
                settings: view,
                keys: Vec::new(),
                directory: None,
            };
            return (
                self.render_file(packs, vendor, name, matched, ctx, wanted.priority)
                    .await,
                Some(vendor),
            );
        };
        let lines = self
            .fleet
            .read()
            .expect("fleet lock")
            .phones
            .get(&mac)
            .map(|p| p.lines.clone());
        match lines {
            Some(lines) => self.render_phone(packs, req, wanted, mac, &lines).await,
            None => (Answer::NotFound, None),
        }
    }

    /// Renders a phone's file from its lines.
    pub(super) async fn render_phone(
        &self,
        packs: &Arc<Packs>,
        req: &PhoneRequest<'_>,
        wanted: &Wanted<'_>,
        mac: Mac,
        rows: &[PhoneLine],
    ) -> Rendering {
        let (name, matched) = (wanted.name, &wanted.matched);
        let phone = match self.phone_view(packs, req, wanted, (mac, rows)) {
            Ok(Some(phone)) => phone,
            Ok(None) => return (Answer::NotFound, None),
            Err(err) => {
                tracing::error!(error = %err, mac = %mac, "could not open a phone's line password");
                return (Answer::Unavailable, None);
            }
        };
        let (vendor, ctx) = phone;
        if packs.refuses_model(vendor, &ctx.device.model).is_some() {
            return (Answer::ModelRefused, Some(vendor));
        }
        if matched.kind == FileKind::WrittenBack
            && let Some(body) = uploads::served_back(&self.data_dir, mac, name).await
        {
            let file = render::Rendered::new(body, "text/xml; charset=utf-8".into());
            return (Answer::File(file), Some(vendor));
        }
        (
            self.render_file(packs, vendor, name, matched, ctx, wanted.priority)
                .await,
            Some(vendor),
        )
    }

    /// The phone behind a MAC, if its record's vendor asks for this file:
    /// its device view and every line with its password.
    fn phone_view(
        &self,
        packs: &Packs,
        req: &PhoneRequest<'_>,
        wanted: &Wanted<'_>,
        (mac, rows): (Mac, &[PhoneLine]),
    ) -> anyhow::Result<Option<(Vendor, RenderContext)>> {
        let settings = masked(
            wanted
                .settings
                .view(req.host, req.scheme, wanted.matched.kind.carries_secrets()),
            req.mask_secrets,
        );
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let Ok(vendor) = packs.vendor(&first.vendor_code) else {
            return Ok(None);
        };
        if wanted.matched.entry(vendor, wanted.name).is_none() || req.vendor_hint.is_some_and(|h| h != vendor) {
            return Ok(None);
        }
        let mut lines = Vec::new();
        for line in rows.iter().filter_map(|r| r.extension.as_deref()) {
            let password = if req.mask_secrets {
                MASK.to_string()
            } else {
                self.secrets
                    .decrypt(&line.password_enc, &password_aad(&line.extn, &line.domain))?
            };
            let label = match line.name.trim() {
                "" => line.extn.clone(),
                name => name.to_string(),
            };
            lines.push(LineView {
                index: lines.len() + 1,
                auth_name: line.extn.clone(),
                display_name: if line.cid_name.trim().is_empty() {
                    label.clone()
                } else {
                    line.cid_name.clone()
                },
                label,
                cid_name: line.cid_name.clone(),
                cid_number: line.cid_number.clone(),
                password,
                server_host: settings.sip_server_host.clone(),
                server_port: settings.sip_server_port,
                transport: settings.transport.clone(),
                enabled: line.disabled == 0,
                extn: line.extn.clone(),
                domain: line.domain.clone(),
            });
        }
        // A User-Agent of another family says nothing of this phone.
        let agent = wanted.agent.as_ref().filter(|a| a.vendor == vendor);
        let model = if first.model.is_empty() {
            agent.map(|a| a.model.clone()).unwrap_or_default()
        } else {
            first.model.clone()
        };
        let own_keys = keys::keys_from_json(&first.keys);
        let template_keys = first
            .template_keys
            .as_deref()
            .map(keys::keys_from_json)
            .unwrap_or_default();
        let effective = keys::overlay(&template_keys, &own_keys);
        let cleared = keys::cleared_slots(&first.shown_key_slots, &effective);
        let keys = packs.key_views(vendor, &model, &effective, &cleared, lines.len());
        let device = DeviceView {
            mac: mac.lower(),
            mac_upper: mac.upper(),
            mac_colon: mac.colon_lower(),
            name: first.device_name.clone(),
            vendor: vendor.code().into(),
            model,
            firmware: agent.map(|a| a.firmware.clone()).unwrap_or_default(),
        };
        Ok(Some((
            vendor,
            RenderContext {
                device,
                lines,
                settings,
                keys,
                directory: None,
            },
        )))
    }

    /// Records a phone's fetch (coalesced).
    fn track(
        &self,
        req: &PhoneRequest<'_>,
        name: &str,
        mac: Mac,
        vendor: Vendor,
        agent: Option<&PhoneAgent>,
        kind: FileKind,
    ) {
        if !req.from_phone {
            return;
        }
        // At debug: at info, a boot storm's log would cost more than its files.
        if kind == FileKind::Config {
            tracing::debug!(mac = %mac, file = name, vendor = vendor.code(), peer = %req.peer, "served a phone its configuration");
        }
        self.fetches.fetched(
            mac,
            &LatestFetch {
                at: timestamp::now(),
                ip: req.peer,
                user_agent: req.user_agent,
                firmware: agent.map_or("", |a| a.firmware.as_str()),
                file: name,
            },
        );
    }

    /// A MAC no record serves: counted toward its network's throttle and
    /// shown as pending, then answered as every miss is.
    fn unknown_phone(&self, req: &PhoneRequest<'_>, packs: &Packs, mac: Mac, agent: Option<&PhoneAgent>) -> Answer {
        if !req.from_phone {
            return self.miss(req);
        }
        self.miss_limiter.unknown_mac(req.peer, mac);
        let answer = self.miss(req);
        let now = timestamp::now();
        self.fetches.unknown(
            mac,
            PendingPhone {
                mac: mac.lower(),
                vendor: agent
                    .map(|a| a.vendor)
                    .or(packs.vendor_of_oui(&mac))
                    .map_or("", |v| v.code())
                    .to_string(),
                model: agent.map(|a| a.model.clone()).unwrap_or_default(),
                ip: req.peer.to_string(),
                user_agent: cut(req.user_agent, 255).to_string(),
                first_seen: now,
                last_seen: now,
                count: 1,
                reason: pending_reason(&answer).into(),
            },
        );
        answer
    }

    /// Refuses a phone whose User-Agent names another MAC than the file's.
    pub(super) fn foreign_file(
        &self,
        req: &PhoneRequest<'_>,
        agent: Option<&PhoneAgent>,
        name: &str,
        mac: Mac,
    ) -> Option<Answer> {
        let says = agent?.mac?;
        if says == mac {
            return None;
        }
        tracing::warn!(peer = %req.peer, file = name, "a phone asked for another phone's file");
        self.miss_limiter.unknown_mac(req.peer, mac);
        Some(Answer::Forbidden)
    }

    /// Checks a request against the allow-list and, for files that name a
    /// MAC, the phone credentials. Returns what the credentials proved, or
    /// the refusal to send.
    pub(super) fn admit(
        &self,
        req: &PhoneRequest<'_>,
        settings: &Resolved,
        mac: Option<Mac>,
        kind: FileKind,
    ) -> Result<Verdict, Answer> {
        if !req.from_phone {
            return Ok(Verdict::Open);
        }
        self.miss_limiter
            .set_thresholds(settings.unknown_mac_threshold, settings.wrong_credential_threshold);
        if !settings.allows(req.peer) {
            return Err(Answer::Forbidden);
        }
        // With phone authentication on, every file that names a MAC asks for
        // credentials before the MAC is looked up, so no answer (status, body,
        // or a count toward the throttle) tells a known MAC from an unknown one.
        if mac.is_none() && !kind.needs_credentials() {
            return Ok(Verdict::Open);
        }
        let mode = settings.mode;
        // A network that guessed wrong too often gets no answer to credentials,
        // right or wrong, until its block ends.
        if let Some(wait) = self
            .miss_limiter
            .credentials_blocked_for(req.peer)
            .filter(|_| req.authorization.is_some())
        {
            return Err(Answer::Throttled(wait));
        }
        let verdict = self
            .nonces
            .verify(mode, req.authorization, (req.method, req.target), &settings.credentials);
        match verdict {
            Verdict::Open | Verdict::Proven(_) => Ok(verdict),
            // Only wrong credentials count: a first request without any is
            // how Digest starts, and a stale nonce had the right password.
            Verdict::Missing => Err(Answer::Unauthorized(self.nonces.challenges(mode, false))),
            Verdict::Stale => Err(Answer::Unauthorized(self.nonces.challenges(mode, true))),
            Verdict::Wrong => {
                self.miss_limiter.wrong_credentials(req.peer);
                Err(Answer::Unauthorized(self.nonces.challenges(mode, false)))
            }
        }
    }

    /// What a phone gets for a MAC no record serves: 404, or 429 while its
    /// network is blocked. Registered phones behind that network are served
    /// as ever; only misses are refused.
    pub(super) fn miss(&self, req: &PhoneRequest<'_>) -> Answer {
        match self.miss_limiter.blocked_for(req.peer).filter(|_| req.from_phone) {
            Some(wait) => Answer::Throttled(wait),
            None => Answer::NotFound,
        }
    }

    /// The settings a request for `mac` is checked under.
    pub(super) fn settings_for(&self, mac: Option<Mac>) -> Arc<Resolved> {
        self.fleet.read().expect("fleet lock").settings_for(mac)
    }
}

/// The settings with `********` for every secret, when asked. A phone
/// learns its fetch credential only from a file that already needed it, so
/// a rotation (new and previous password) reaches every phone.
fn masked(mut view: SettingsView, mask: bool) -> SettingsView {
    if mask {
        for secret in [&mut view.admin_password, &mut view.provisioning_password] {
            if !secret.is_empty() {
                *secret = MASK.into();
            }
        }
    }
    view
}

impl Provisioner {
    /// Renders once, on the render pool: a vendor without this template
    /// does not serve the file, nor does a template that renders nothing for
    /// this phone. A render over its budget fails, logged with its file; one
    /// that runs past the pool's patience is refused from then on, until
    /// the packs change, so it cannot take one thread after another.
    async fn render_file(
        &self,
        packs: &Arc<Packs>,
        vendor: Vendor,
        name: &str,
        matched: &FileMatch,
        mut ctx: RenderContext,
        priority: Priority,
    ) -> Answer {
        let Some(entry) = matched.entry(vendor, name) else {
            return Answer::NotFound;
        };
        ctx.directory = Some(self.fleet.read().expect("fleet lock").directory.clone());
        let template = entry.template.clone();
        let held = (packs.print(), vendor, template.clone());
        if self
            .refused_renders
            .lock()
            .expect("refused renders lock")
            .contains(&held)
        {
            tracing::debug!(vendor = vendor.code(), template = %template, "a template that ran away is refused");
            return Answer::Unavailable;
        }
        let job = packs.clone();
        let rendered = self
            .renders
            .run_within(priority, Some(RENDER_PATIENCE), move || {
                let started = std::time::Instant::now();
                (job.render(vendor, &template, &ctx), started.elapsed())
            })
            .await;
        match rendered {
            Ok((rendered, took)) => {
                self.metrics.rendered_in(took);
                match rendered {
                    Ok(rendered) if rendered.body.trim().is_empty() => Answer::NotFound,
                    Ok(mut rendered) => {
                        if let Some(content_type) = &entry.content_type {
                            rendered.content_type.clone_from(content_type);
                        }
                        Answer::File(rendered)
                    }
                    Err(render::RenderError::Missing(_)) => Answer::NotFound,
                    Err(err) => {
                        tracing::error!(error = %err, vendor = vendor.code(), "template failed");
                        Answer::Unavailable
                    }
                }
            }
            Err(Unfinished::TimedOut) => {
                tracing::error!(
                    vendor = vendor.code(),
                    template = %held.2,
                    "a render ran longer than {}; the template is refused until the packs change",
                    humantime::format_duration(RENDER_PATIENCE)
                );
                let mut refused = self.refused_renders.lock().expect("refused renders lock");
                refused.retain(|(print, _, _)| *print == held.0);
                refused.insert(held);
                Answer::Unavailable
            }
            Err(Unfinished::Queued | Unfinished::Full | Unfinished::Stopped) => Answer::Unavailable,
        }
    }
}

/// How long a fetch waits for its render, queue included: the render's own
/// time budget and room for the renders ahead of it.
const RENDER_PATIENCE: std::time::Duration = std::time::Duration::from_secs(5);
