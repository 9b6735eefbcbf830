//! The phone-facing side: phones fetch their vendor's files by name, with no
//! token, from `/prov/<file>` (the URL an admin puts in DHCP option 66) or
//! XSwitch's `/api/provision/<vendor>/<file>`.

pub mod cache;
pub mod limit;
pub mod phone_auth;
pub mod render;
pub mod settings;
pub mod tftp;
pub mod tracking;
pub mod uploads;

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::header::{
    AUTHORIZATION, CONTENT_TYPE, ETAG, HOST, IF_NONE_MATCH, RETRY_AFTER, USER_AGENT, WWW_AUTHENTICATE,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use sha2::{Digest, Sha256};
use tower_http::services::ServeDir;

use self::cache::{CachedFile, FileKey, Generation};
use self::phone_auth::Verdict;
use self::render::{DeviceView, LineView, RenderContext, SettingsView};
use crate::api::extensions::password_aad;
use crate::app::AppState;
use crate::domain::{Mac, SiteTimeZone, Vendor, timestamp};
use crate::packs::Packs;
use crate::packs::agents::PhoneAgent;
use crate::packs::routes::{FileKind, FileMatch};
use crate::store::fetches::{Fetched, PendingPhone};

pub fn router(state: AppState) -> Router {
    // Firmware images are plain files: Range, ETag and If-None-Match come
    // with ServeDir, which also refuses `..`; links out of the folder, and
    // networks the site does not allow, are refused before it.
    let firmware_root = state.settings.data_dir.join("firmware");
    let firmware = Router::new()
        .nest_service("/prov/firmware", ServeDir::new(&firmware_root))
        .layer(middleware::from_fn_with_state(firmware_root, confine_firmware))
        .layer(middleware::from_fn_with_state(state.clone(), allowed_networks_only));
    Router::new()
        .merge(firmware)
        .route("/prov/{*file}", get(prov).put(prov))
        .route(
            "/api/provision/{vendor}/{*file}",
            get(prov_for_vendor).put(prov_for_vendor),
        )
        .layer(DefaultBodyLimit::max(uploads::MAX_UPLOAD_BYTES))
        .with_state(state)
}

/// Lets a firmware request through only if the file it names, links
/// resolved, lies inside the firmware folder.
async fn confine_firmware(State(root): State<std::path::PathBuf>, req: Request, next: Next) -> Response {
    let rest = req.uri().path().strip_prefix("/prov/firmware").unwrap_or("");
    let name = percent_encoding::percent_decode_str(rest).decode_utf8_lossy();
    let requested = root.join(name.trim_start_matches('/'));
    let exists = tokio::fs::symlink_metadata(&requested).await.is_ok();
    if exists && crate::confined::within(&root, &requested).await.is_none() {
        tracing::warn!(path = %rest, "a firmware request led out of the firmware folder");
        return (
            StatusCode::NOT_FOUND,
            [(CONTENT_TYPE, "text/plain; charset=utf-8")],
            "Not Found\n",
        )
            .into_response();
    }
    next.run(req).await
}

/// Lets a request through only from the networks the site allows
/// (`allowed_networks`), as every phone file is.
async fn allowed_networks_only(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    let generation = match state.cache.refresh(&state.db, state.packs.current().print()).await {
        Ok(generation) => generation,
        Err(err) => {
            tracing::error!(error = %err, "could not read the cache generation");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    match settings_rows(&state, settings::SITE_REALM, Some(generation)).await {
        Ok(rows) if settings::allows(&rows, peer.ip()) => next.run(req).await,
        Ok(_) => (
            StatusCode::FORBIDDEN,
            [(CONTENT_TYPE, "text/plain; charset=utf-8")],
            "Forbidden\n",
        )
            .into_response(),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

/// Marks requests that came over an HTTPS listener.
#[derive(Clone, Copy, Debug)]
pub struct OverTls;

/// The URL phones reach a listener by (`public_url`, `prov_public_url`):
/// when set, files name it whatever Host a request carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicUrl {
    pub scheme: String,
    /// Host and port, as phones write them.
    pub host: String,
}

impl PublicUrl {
    pub fn parse(url: &str) -> Result<PublicUrl, String> {
        let parsed = reqwest::Url::parse(url).map_err(|e| format!("'{url}' is not a URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("'{url}' must start with http:// or https://"));
        }
        let host = parsed.host_str().ok_or_else(|| format!("'{url}' has no host"))?;
        let host = match parsed.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        };
        if !valid_host(&host) {
            return Err(format!("'{url}': the host must be a host name or an address"));
        }
        Ok(PublicUrl {
            scheme: parsed.scheme().to_string(),
            host,
        })
    }
}

/// The most a Host header may be: a DNS name's length.
const MAX_HOST_LEN: usize = 255;

/// Whether a Host header is a host name or IP address, with an optional
/// port: what a phone's files may name. Anything else would be written
/// into files, and into the render cache's keys.
pub fn valid_host(host: &str) -> bool {
    if host.is_empty() || host.len() > MAX_HOST_LEN {
        return false;
    }
    let port_ok = |port: &str| port.parse::<u16>().is_ok();
    if let Some(rest) = host.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        return v6.parse::<std::net::Ipv6Addr>().is_ok()
            && (after.is_empty() || after.strip_prefix(':').is_some_and(port_ok));
    }
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    };
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    port.is_none_or(port_ok) && (name.parse::<std::net::Ipv4Addr>().is_ok() || name.split('.').all(label_ok))
}

/// What every phone fetch carries besides the file name.
#[derive(axum::extract::FromRequestParts)]
struct Arrival {
    #[from_request(via(State))]
    state: AppState,
    #[from_request(via(ConnectInfo))]
    peer: SocketAddr,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    tls: Option<Extension<OverTls>>,
    public: Option<Extension<PublicUrl>>,
}

/// A fetch (GET, HEAD) or, for the few files phones write back, an upload (PUT).
async fn prov(arrival: Arrival, Path(file): Path<String>, body: Bytes) -> Response {
    serve(&arrival, &file, None, &body).await
}

async fn prov_for_vendor(arrival: Arrival, Path((vendor, file)): Path<(String, String)>, body: Bytes) -> Response {
    match arrival.state.packs.current().vendor(&vendor) {
        Ok(vendor) => serve(&arrival, &file, Some(vendor), &body).await,
        Err(_) => (
            StatusCode::NOT_FOUND,
            [(CONTENT_TYPE, "text/plain; charset=utf-8")],
            "Not Found\n",
        )
            .into_response(),
    }
}

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
    /// A real phone's fetch: tracked and rate limited. Previews are not.
    pub from_phone: bool,
    /// Shows `********` in place of every password.
    pub mask_secrets: bool,
    pub method: &'a str,
    /// The request target as sent (path and query), which a Digest
    /// response must name.
    pub target: &'a str,
    /// The `Authorization` header, if any.
    pub authorization: Option<&'a str>,
}

/// What a phone gets.
pub enum Answer {
    File(render::Rendered),
    NotFound,
    Forbidden,
    Throttled(std::time::Duration),
    /// The `WWW-Authenticate` challenges to send.
    Unauthorized(Vec<String>),
    Unavailable,
    /// An upload was kept.
    Stored,
}

pub const MASK: &str = "********";

async fn serve(arrival: &Arrival, path: &str, vendor_hint: Option<Vendor>, body: &[u8]) -> Response {
    let Arrival {
        state,
        peer,
        method,
        uri,
        headers,
        tls,
        public,
    } = arrival;
    let header = |name| headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
    let text = |status: StatusCode, body: &'static str| {
        (status, [(CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
    };
    // Files name the listener's public URL when it has one; else the host
    // the phone came by, which must be a host name or address.
    let (host, scheme) = match public {
        Some(Extension(url)) => (url.host.as_str(), url.scheme.as_str()),
        None => {
            // HTTP/2 carries the host in the URI, not in a Host header.
            let host = header(HOST)
                .or(uri.authority().map(|a| a.as_str()))
                .unwrap_or("localhost");
            if !valid_host(host) {
                return text(
                    StatusCode::BAD_REQUEST,
                    "Host: must be a host name or IP address with an optional port, at most 255 characters\n",
                );
            }
            (host, if tls.is_some() { "https" } else { "http" })
        }
    };
    let request = PhoneRequest {
        peer: peer.ip(),
        path,
        vendor_hint,
        user_agent: header(USER_AGENT).unwrap_or(""),
        host,
        scheme,
        from_phone: true,
        mask_secrets: false,
        method: method.as_str(),
        target: uri.path_and_query().map_or(uri.path(), |p| p.as_str()),
        authorization: header(AUTHORIZATION),
    };
    let answered = if *method == Method::PUT {
        uploads::keep(state, &request, body).await
    } else {
        answer(state, &request).await
    };
    match answered {
        Answer::File(r) => respond(r.body, &r.content_type, headers),
        // Every miss looks the same: an unknown name, an unknown MAC, a MAC
        // of another vendor. Nothing tells a scanner which MACs exist.
        Answer::NotFound => text(StatusCode::NOT_FOUND, "Not Found\n"),
        Answer::Forbidden => text(StatusCode::FORBIDDEN, "Forbidden\n"),
        Answer::Throttled(wait) => {
            let retry = HeaderValue::from_str(&wait.as_secs().max(1).to_string()).expect("digits");
            (
                StatusCode::TOO_MANY_REQUESTS,
                [(RETRY_AFTER, retry)],
                "Too Many Requests\n",
            )
                .into_response()
        }
        Answer::Unauthorized(challenges) => {
            let mut response = text(StatusCode::UNAUTHORIZED, "Unauthorized\n");
            for challenge in challenges {
                if let Ok(value) = HeaderValue::from_str(&challenge) {
                    response.headers_mut().append(WWW_AUTHENTICATE, value);
                }
            }
            response
        }
        Answer::Unavailable => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        Answer::Stored => StatusCode::NO_CONTENT.into_response(),
    }
}

/// Resolves, checks and renders one phone request.
pub async fn answer(state: &AppState, req: &PhoneRequest<'_>) -> Answer {
    let name = req.path.rsplit('/').next().unwrap_or(req.path);
    // One set of packs answers the whole request, and names its generation.
    let packs = state.packs.current();
    let Some(matched) = packs.resolve(name) else {
        return Answer::NotFound;
    };
    let agent = packs.parse_user_agent(req.user_agent);
    if let Some(refused) = matched
        .mac
        .and_then(|mac| foreign_file(state, req, agent.as_ref(), name, mac))
    {
        return refused;
    }
    // Phones are served from the cache of the current generation; previews
    // always render afresh.
    let generation = if req.from_phone {
        match state.cache.refresh(&state.db, packs.print()).await {
            Ok(generation) => Some(generation),
            Err(err) => {
                tracing::error!(error = %err, "could not read the cache generation");
                return Answer::Unavailable;
            }
        }
    } else {
        None
    };
    let rows = match admit(state, req, matched.mac, matched.kind, generation).await {
        Ok(admitted) => admitted.rows,
        Err(refused) => return refused,
    };
    let key = FileKey {
        name: name.to_string(),
        vendor_hint: req.vendor_hint,
        host: req.host.to_string(),
        scheme: req.scheme.to_string(),
        agent: agent.clone(),
    };
    // A file the phone writes back may change on disk at any time.
    let cacheable = generation.filter(|_| matched.kind != FileKind::WrittenBack);
    if let Some(generation) = cacheable
        && let Some(hit) = state.cache.file(generation, &key)
    {
        if let Some(mac) = matched.mac {
            track(state, req, name, mac, hit.vendor, agent.as_ref(), matched.kind);
        }
        return Answer::File(hit.rendered);
    }
    let (answer, vendor) = render_answer(state, &packs, req, name, &matched, agent, &rows).await;
    if let (Some(generation), Answer::File(rendered), Some(vendor)) = (cacheable, &answer, vendor) {
        let rendered = rendered.clone();
        state.cache.keep_file(generation, key, CachedFile { rendered, vendor });
    }
    answer
}

/// Renders what a request asks for, from the database; also gives the
/// vendor that answered.
async fn render_answer(
    state: &AppState,
    packs: &Packs,
    req: &PhoneRequest<'_>,
    name: &str,
    matched: &FileMatch,
    agent: Option<PhoneAgent>,
    rows: &[(String, String, String)],
) -> (Answer, Option<Vendor>) {
    let peer = req.peer;
    let mut settings = settings::apply(site_settings(req.host, req.scheme), rows, |realm, sealed| {
        state
            .secrets
            .decrypt(sealed, &settings::secret_aad(realm, "phone_admin_password"))
            .ok()
    });
    // A phone learns its fetch credential from a file that already needed
    // it, so a rotation (new and previous password) reaches every phone.
    if matched.kind.carries_secrets()
        && let Some((username, password)) = settings::fetch_credential(rows, |realm, k, sealed| {
            state.secrets.decrypt(sealed, &settings::secret_aad(realm, k)).ok()
        })
    {
        settings.provisioning_username = username;
        settings.provisioning_password = password;
    }
    if req.mask_secrets {
        for secret in [&mut settings.admin_password, &mut settings.provisioning_password] {
            if !secret.is_empty() {
                *secret = MASK.into();
            }
        }
    }
    let vendor_hint = req.vendor_hint;
    match matched.mac {
        None => {
            // A common file: the vendor the request names, else the one the phone says it is.
            let Some(vendor) = vendor_hint
                .or(agent.as_ref().map(|a| a.vendor))
                .filter(|v| matched.entry(*v, name).is_some())
                .or_else(|| matched.vendors().next())
            else {
                return (Answer::NotFound, None);
            };
            if vendor_hint.is_some_and(|h| h != vendor) {
                return (Answer::NotFound, None);
            }
            // The phone's own MAC, when its User-Agent gives it, lets a
            // common index file name the phone's own files.
            let mac = agent.as_ref().and_then(|a| a.mac);
            let device = DeviceView {
                mac: mac.map(|m| m.lower()).unwrap_or_default(),
                mac_upper: mac.map(|m| m.upper()).unwrap_or_default(),
                mac_colon: mac.map(|m| m.colon_lower()).unwrap_or_default(),
                name: String::new(),
                vendor: vendor.code().into(),
                firmware: agent.as_ref().map(|a| a.firmware.clone()).unwrap_or_default(),
                model: matched.model.clone().or(agent.map(|a| a.model)).unwrap_or_default(),
            };
            let answer = render(
                packs,
                vendor,
                name,
                matched,
                RenderContext {
                    device,
                    lines: Vec::new(),
                    settings,
                },
            );
            (answer, Some(vendor))
        }
        Some(mac) => {
            let fetch = Fetch {
                peer,
                name,
                matched,
                vendor_hint,
                agent,
                user_agent: req.user_agent.chars().take(255).collect(),
                from_phone: req.from_phone,
                mask_secrets: req.mask_secrets,
            };
            match phone_context(state, packs, &fetch, mac, settings).await {
                Ok(Some((vendor, ctx))) => {
                    track(state, req, name, mac, vendor, fetch.agent.as_ref(), matched.kind);
                    if matched.kind == FileKind::WrittenBack
                        && let Some(body) = uploads::served_back(&state.settings.data_dir, mac, name).await
                    {
                        let file = render::Rendered {
                            body,
                            content_type: "text/xml; charset=utf-8".into(),
                        };
                        return (Answer::File(file), Some(vendor));
                    }
                    (render(packs, vendor, name, matched, ctx), Some(vendor))
                }
                Ok(None) => (miss(state, req), None),
                Err(err) => {
                    tracing::error!(error = %err, mac = %mac, "could not read a phone's lines");
                    (Answer::Unavailable, None)
                }
            }
        }
    }
}

/// Records a phone's fetch (coalesced) and logs one of a file with passwords.
fn track(
    state: &AppState,
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
    if kind == FileKind::Config {
        tracing::info!(mac = %mac, file = name, vendor = vendor.code(), peer = %req.peer, "served a phone its configuration");
    }
    state.fetches.fetched(
        mac,
        Fetched {
            mac: mac.lower(),
            at: timestamp::now(),
            ip: req.peer.to_string(),
            user_agent: req.user_agent.chars().take(255).collect(),
            firmware: agent.map(|a| a.firmware.clone()).unwrap_or_default(),
            file: name.to_string(),
        },
    );
}

/// Refuses a phone whose User-Agent names another MAC than the file's.
fn foreign_file(
    state: &AppState,
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
    state.miss_limiter.unknown_mac(req.peer, mac);
    Some(Answer::Forbidden)
}

/// A request let in: the settings rows of its realm, and what its
/// credentials proved.
pub struct Admitted {
    pub rows: Vec<(String, String, String)>,
    pub verdict: Verdict,
}

/// Reads the provisioning settings for the phone (or the site) and checks
/// the request against the allow-list and, for files that name a MAC, the
/// phone credentials. Returns the settings rows, or the refusal to send.
async fn admit(
    state: &AppState,
    req: &PhoneRequest<'_>,
    mac: Option<Mac>,
    kind: FileKind,
    generation: Option<Generation>,
) -> Result<Admitted, Answer> {
    let realm = mac.map_or_else(|| settings::SITE_REALM.to_string(), settings::phone_realm);
    let rows = settings_rows(state, &realm, generation).await?;
    if !req.from_phone {
        return Ok(Admitted {
            rows,
            verdict: Verdict::Open,
        });
    }
    let (unknown_macs, wrong_credentials) = settings::throttle_thresholds(&rows);
    state.miss_limiter.set_thresholds(unknown_macs, wrong_credentials);
    if !settings::allows(&rows, req.peer) {
        return Err(Answer::Forbidden);
    }
    // With phone authentication on, every file that names a MAC asks for
    // credentials before the MAC is looked up, so no answer (status, body,
    // or a count toward the throttle) tells a known MAC from an unknown one.
    if mac.is_none() && !kind.carries_secrets() {
        return Ok(Admitted {
            rows,
            verdict: Verdict::Open,
        });
    }
    let (mode, credentials) = settings::phone_auth(&rows, |realm, k, sealed| {
        state.secrets.decrypt(sealed, &settings::secret_aad(realm, k)).ok()
    });
    // A network that guessed wrong too often gets no answer to credentials,
    // right or wrong, until its block ends.
    if let Some(wait) = state
        .miss_limiter
        .credentials_blocked_for(req.peer)
        .filter(|_| req.authorization.is_some())
    {
        return Err(Answer::Throttled(wait));
    }
    let verdict = state
        .nonces
        .verify(mode, req.authorization, (req.method, req.target), &credentials);
    match verdict {
        Verdict::Open | Verdict::Proven(_) => Ok(Admitted { rows, verdict }),
        // Only wrong credentials count: a first request without any is
        // how Digest starts, and a stale nonce had the right password.
        Verdict::Missing => Err(Answer::Unauthorized(state.nonces.challenges(mode, false))),
        Verdict::Stale => Err(Answer::Unauthorized(state.nonces.challenges(mode, true))),
        Verdict::Wrong => {
            state.miss_limiter.wrong_credentials(req.peer);
            Err(Answer::Unauthorized(state.nonces.challenges(mode, false)))
        }
    }
}

/// What a phone gets for a MAC no record serves it: 404, or 429 while its
/// network is blocked. Registered phones behind that network are served as
/// ever; only misses are refused.
fn miss(state: &AppState, req: &PhoneRequest<'_>) -> Answer {
    match state.miss_limiter.blocked_for(req.peer).filter(|_| req.from_phone) {
        Some(wait) => Answer::Throttled(wait),
        None => Answer::NotFound,
    }
}

/// The settings rows of a realm (the site's, or a phone's with the site's),
/// from the cache of `generation` when there is one.
async fn settings_rows(
    state: &AppState,
    realm: &str,
    generation: Option<Generation>,
) -> Result<Vec<(String, String, String)>, Answer> {
    if let Some(rows) = generation.and_then(|g| state.cache.settings(g, realm)) {
        return Ok(rows);
    }
    let rows = state.db.provision_settings(realm).await.map_err(|err| {
        tracing::error!(error = %err, "could not read the provisioning settings");
        Answer::Unavailable
    })?;
    if let Some(g) = generation {
        state.cache.keep_settings(g, realm, rows.clone());
    }
    Ok(rows)
}

/// Renders once: a vendor without this template does not serve the file,
/// nor does a template that renders nothing for this phone.
fn render(packs: &Packs, vendor: Vendor, name: &str, matched: &FileMatch, ctx: RenderContext) -> Answer {
    let Some(entry) = matched.entry(vendor, name) else {
        return Answer::NotFound;
    };
    match packs.render(vendor, &entry.template, &ctx) {
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

/// One phone request, as far as it was understood.
struct Fetch<'a> {
    peer: IpAddr,
    name: &'a str,
    matched: &'a FileMatch,
    vendor_hint: Option<Vendor>,
    agent: Option<PhoneAgent>,
    user_agent: String,
    from_phone: bool,
    mask_secrets: bool,
}

/// The phone behind a MAC, if a record names it and its vendor asks for
/// this file: its device view and every line with its password.
async fn phone_context(
    state: &AppState,
    packs: &Packs,
    fetch: &Fetch<'_>,
    mac: Mac,
    settings: SettingsView,
) -> anyhow::Result<Option<(Vendor, RenderContext)>> {
    let Fetch {
        peer,
        name,
        matched,
        vendor_hint,
        ref agent,
        ref user_agent,
        from_phone,
        mask_secrets,
    } = *fetch;
    let rows = state.db.phone_lines(&mac.lower()).await?;
    let Some(first) = rows.first() else {
        if !from_phone {
            return Ok(None);
        }
        state.miss_limiter.unknown_mac(peer, mac);
        let now = timestamp::now();
        state.fetches.unknown(
            mac,
            PendingPhone {
                mac: mac.lower(),
                vendor: agent
                    .as_ref()
                    .map(|a| a.vendor)
                    .or(packs.vendor_of_oui(&mac))
                    .map_or("", |v| v.code())
                    .to_string(),
                model: agent.as_ref().map(|a| a.model.clone()).unwrap_or_default(),
                ip: peer.to_string(),
                user_agent: user_agent.clone(),
                first_seen: now,
                last_seen: now,
                count: 1,
            },
        );
        return Ok(None);
    };
    let Ok(vendor) = packs.vendor(&first.vendor_code) else {
        return Ok(None);
    };
    if matched.entry(vendor, name).is_none() || vendor_hint.is_some_and(|h| h != vendor) {
        return Ok(None);
    }
    let mut lines = Vec::new();
    for row in rows.iter().filter(|r| r.extn.is_some()) {
        let extn = row.extn.clone().unwrap_or_default();
        let domain = row.domain.clone().unwrap_or_default();
        let password = if mask_secrets {
            MASK.to_string()
        } else {
            state.secrets.decrypt(
                row.password_enc.as_deref().unwrap_or_default(),
                &password_aad(&extn, &domain),
            )?
        };
        let cid_name = row.cid_name.clone().unwrap_or_default();
        lines.push(LineView {
            index: lines.len() + 1,
            auth_name: extn.clone(),
            display_name: if cid_name.is_empty() {
                row.extn_name.clone().unwrap_or_default()
            } else {
                cid_name.clone()
            },
            cid_name,
            cid_number: row.cid_number.clone().unwrap_or_default(),
            password,
            server_host: settings.sip_server_host.clone(),
            server_port: settings.sip_server_port,
            transport: settings.transport.clone(),
            enabled: row.disabled == Some(0),
            extn,
            domain,
        });
    }
    let model = if first.model.is_empty() {
        agent.as_ref().map(|a| a.model.clone()).unwrap_or_default()
    } else {
        first.model.clone()
    };
    let device = DeviceView {
        mac: mac.lower(),
        mac_upper: mac.upper(),
        mac_colon: mac.colon_lower(),
        name: first.device_name.clone(),
        vendor: vendor.code().into(),
        model,
        firmware: agent.as_ref().map(|a| a.firmware.clone()).unwrap_or_default(),
    };
    Ok(Some((
        vendor,
        RenderContext {
            device,
            lines,
            settings,
        },
    )))
}

/// Where a site has set none: XSwitch's own, China Standard Time.
const DEFAULT_TIME_ZONE: &str = "+8";

/// Provisioning settings. The SIP server defaults to the host the phone used
/// to reach sipprov, and phones keep polling the URL they came from.
fn site_settings(host: &str, scheme: &str) -> SettingsView {
    let server = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    SettingsView {
        sip_server_host: server.trim_start_matches('[').trim_end_matches(']').to_string(),
        sip_server_port: 5060,
        transport: "udp".into(),
        ntp_server: "pool.ntp.org".into(),
        tz: SiteTimeZone::parse(DEFAULT_TIME_ZONE).expect("the default is an offset"),
        language: "en".into(),
        admin_password: String::new(),
        provisioning_url: format!("{scheme}://{host}/prov/"),
        provisioning_username: String::new(),
        provisioning_password: String::new(),
        resync_interval_minutes: 1440,
    }
}

/// The body with a strong ETag; a matching If-None-Match gets 304.
fn respond(body: String, content_type: &str, headers: &HeaderMap) -> Response {
    let etag = format!("\"{}\"", hex::encode(&Sha256::digest(body.as_bytes())[..16]));
    let matches = headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let etag = HeaderValue::from_str(&etag).expect("hex is a valid header value");
    if matches {
        return (StatusCode::NOT_MODIFIED, [(ETAG, etag)]).into_response();
    }
    (
        // Manifests' content types are checked when packs load.
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("text/plain")),
            ),
            (ETAG, etag),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_names_or_addresses_with_an_optional_port() {
        for good in [
            "pbx.example.com",
            "pbx.example.com:8081",
            "10.0.0.5",
            "10.0.0.5:80",
            "[2001:db8::1]",
            "[2001:db8::1]:8081",
            "localhost",
        ] {
            assert!(valid_host(good), "{good}");
        }
        let long = format!("{}.com", "a.".repeat(130));
        for bad in [
            "",
            "pbx.example.com:99999",
            "evil.com/x",
            "user@pbx.example.com",
            "a b",
            "pbx..example.com",
            "-pbx.example.com",
            "[2001:db8::1",
            "[nothex]:80",
            "pbx.example.com:80:80",
            long.as_str(),
        ] {
            assert!(!valid_host(bad), "{bad}");
        }
    }

    #[test]
    fn a_public_url_gives_scheme_and_host() {
        let url = PublicUrl::parse("https://prov.example.com:8443/").unwrap();
        assert_eq!(
            (url.scheme.as_str(), url.host.as_str()),
            ("https", "prov.example.com:8443")
        );
        assert_eq!(PublicUrl::parse("http://10.0.0.5").unwrap().host, "10.0.0.5");
        assert!(PublicUrl::parse("ftp://x.example.com").is_err());
        assert!(PublicUrl::parse("prov.example.com").is_err());
    }
}
