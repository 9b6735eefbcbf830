//! The HTTP adapter of the phone side: `/prov/<file>` (the URL an admin
//! puts in DHCP option 66), XSwitch's `/api/provision/<vendor>/<file>`, and
//! firmware images. Only what a phone fetch needs runs here; the answer
//! comes from [`Provisioner`].

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{Body, Bytes};
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
use tower_http::services::ServeDir;

use super::render::Rendered;
use super::{Answer, PhoneRequest, Provisioner, uploads};
use crate::domain::Vendor;

pub fn router(state: Arc<Provisioner>) -> Router {
    // Firmware images are plain files: Range, ETag and If-None-Match come
    // with ServeDir, If-Range with our layer around it, which also refuses `..`; links out of the folder, and
    // networks the site does not allow, are refused before it.
    let firmware_root = state.data_dir.join("firmware");
    let firmware = Router::new()
        .nest_service(
            "/prov/firmware",
            tower::ServiceBuilder::new()
                .layer(crate::if_range::IfRangeLayer)
                .service(ServeDir::new(&firmware_root)),
        )
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
    State(state): State<Arc<Provisioner>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    if state.settings_for(None).allows(peer.ip()) {
        next.run(req).await
    } else {
        (
            StatusCode::FORBIDDEN,
            [(CONTENT_TYPE, "text/plain; charset=utf-8")],
            "Forbidden\n",
        )
            .into_response()
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
    state: Arc<Provisioner>,
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
        if_none_match: header(IF_NONE_MATCH),
    };
    let answered = if *method == Method::PUT {
        state.keep_upload(&request, body).await
    } else {
        state.answer(&request).await
    };
    match answered {
        Answer::File(r) => respond(r, headers),
        // Every miss looks the same: an unknown name, an unknown MAC, a MAC
        // of another vendor. Nothing tells a scanner which MACs exist.
        Answer::NotFound | Answer::ModelRefused => text(StatusCode::NOT_FOUND, "Not Found\n"),
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

/// A file's body as the response's, without a copy.
struct SharedBody(Arc<str>);

impl AsRef<[u8]> for SharedBody {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// The body with its strong ETag; a matching If-None-Match gets 304.
fn respond(file: Rendered, headers: &HeaderMap) -> Response {
    let matches = headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| file.matches(v));
    let etag = HeaderValue::from_str(&file.etag).expect("hex is a valid header value");
    if matches {
        return (StatusCode::NOT_MODIFIED, [(ETAG, etag)]).into_response();
    }
    (
        // Manifests' content types are checked when packs load.
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_str(&file.content_type).unwrap_or(HeaderValue::from_static("text/plain")),
            ),
            (ETAG, etag),
        ],
        Body::from(Bytes::from_owner(SharedBody(file.body))),
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
