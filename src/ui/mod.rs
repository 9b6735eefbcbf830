//! The admin console at `/ui/`: server-rendered pages for the people who
//! roll out phones.
//!
//! Every change goes through the management API, called in-process with the
//! admin's own session token. The console so has the API's checks, its
//! all-or-nothing imports and its operation log, and no rules of its own.

mod activity;
mod devices;
mod extensions;
mod i18n;
mod import;
mod login;
mod pending;
mod settings;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Form, FromRef, FromRequest, FromRequestParts, Path};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, HOST, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::request::Parts;
use axum::http::{Method, Request, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{MethodRouter, get};
use axum_extra::extract::CookieJar;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tera::{Context, Tera};
use tower::ServiceExt;
use tower_http::csrf::CsrfLayer;

pub use self::i18n::Lang;
use crate::api::auth::{SESSION_COOKIE, TOKEN_HEADER};
use crate::secrets::token_hash;
use crate::state::AppState;
use crate::store::users::SessionUser;

/// The console's state: the app, the API it calls, and its pages.
#[derive(Clone, FromRef)]
pub struct Console {
    app: AppState,
    api: Router,
    pages: Arc<Tera>,
}

/// The page templates, built into the binary.
const PAGES: &[(&str, &str)] = &[
    ("base.html", include_str!("pages/base.html")),
    ("pager.html", include_str!("pages/pager.html")),
    ("login.html", include_str!("pages/login.html")),
    ("devices.html", include_str!("pages/devices.html")),
    ("device_form.html", include_str!("pages/device_form.html")),
    ("preview.html", include_str!("pages/preview.html")),
    ("url_row.html", include_str!("pages/url_row.html")),
    ("import.html", include_str!("pages/import.html")),
    ("pending.html", include_str!("pages/pending.html")),
    ("claim.html", include_str!("pages/claim.html")),
    ("extensions.html", include_str!("pages/extensions.html")),
    ("extension_form.html", include_str!("pages/extension_form.html")),
    ("settings.html", include_str!("pages/settings.html")),
    ("activity.html", include_str!("pages/activity.html")),
    ("problem.html", include_str!("pages/problem.html")),
];

const STYLE: &str = include_str!("static/console.css");
const SCRIPT: &str = include_str!("static/console.js");

/// Rows per console page.
const PAGE_SIZE: i64 = 20;

/// The console's routes, each path listed so the authorization test can
/// walk them all.
#[derive(Default)]
pub struct Routes {
    router: Router<Console>,
    paths: Vec<&'static str>,
}

impl Routes {
    fn route(mut self, path: &'static str, methods: MethodRouter<Console>) -> Routes {
        self.router = self.router.route(path, methods);
        self.paths.push(path);
        self
    }

    fn merge(mut self, other: Routes) -> Routes {
        self.router = self.router.merge(other.router);
        self.paths.extend(other.paths);
        self
    }
}

fn routes() -> Routes {
    Routes::default()
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(|| async { Redirect::to("/ui/devices") }))
        .route("/ui/static/{file}", get(asset))
        .route("/ui/lang/{lang}", get(i18n::switch))
        .merge(login::routes())
        .merge(devices::routes())
        .merge(import::routes())
        .merge(pending::routes())
        .merge(extensions::routes())
        .merge(settings::routes())
        .merge(activity::routes())
}

/// Every console path, as routed.
pub fn paths() -> Vec<&'static str> {
    routes().paths
}

pub fn router(app: AppState) -> Router {
    let mut tera = Tera::new();
    tera.add_raw_templates(PAGES.iter().copied())
        .expect("the console's templates parse");
    let console = Console {
        api: crate::api::router(app.clone()),
        app,
        pages: Arc::new(tera),
    };
    let header = crate::listener::header_if_absent;
    routes()
        .router
        // Browsers say where a form came from; a post from another site is refused
        // before it reaches a handler, and every form also carries its token.
        .layer(CsrfLayer::new())
        .layer(header(
            CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'",
        ))
        .layer(header(X_FRAME_OPTIONS, "DENY"))
        .layer(header(X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header(REFERRER_POLICY, "same-origin"))
        .layer(header(CACHE_CONTROL, "no-store"))
        .with_state(console)
}

async fn asset(Path(file): Path<String>) -> Response {
    let (body, content_type) = match file.as_str() {
        "console.css" => (STYLE, "text/css; charset=utf-8"),
        "console.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        _ => return (StatusCode::NOT_FOUND, "Not Found\n").into_response(),
    };
    ([(CONTENT_TYPE, content_type), (CACHE_CONTROL, "max-age=3600")], body).into_response()
}

/// A logged-in administrator, from the session cookie. A browser without a
/// live session is sent to the login page; another user gets a page that
/// says the console is for administrators, and no data.
pub struct Admin {
    token: String,
    user: SessionUser,
    lang: Lang,
    peer: Option<ConnectInfo<SocketAddr>>,
    host: String,
    /// This page's path and query, for the language switch to return to.
    here: String,
}

impl FromRequestParts<Console> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, console: &Console) -> Result<Self, Self::Rejection> {
        let session = signed_in(parts, console).await?;
        if !session.user.is_admin() {
            let page = console.render(
                session.lang,
                &session.here,
                "problem.html",
                json!({
                    "status": StatusCode::FORBIDDEN.as_u16(),
                    "message": i18n::text(session.lang, "console_for_admins"),
                    "user": {"name": session.user.name, "login": session.user.login},
                    "csrf": session.csrf(),
                    "nav": "none",
                }),
            );
            return Err(with_status(page, StatusCode::FORBIDDEN));
        }
        Ok(session)
    }
}

/// Anyone with a live session, administrator or not; the rest are sent to
/// the login page.
async fn signed_in(parts: &mut Parts, console: &Console) -> Result<Admin, Response> {
    let lang = Lang::from_request_parts(parts, console).await.unwrap_or_default();
    let token = CookieJar::from_headers(&parts.headers)
        .get(SESSION_COOKIE)
        .map(|c| c.value().to_string())
        .filter(|t| !t.is_empty());
    let user = match &token {
        Some(token) => console
            .app
            .db
            .session_user(&token_hash(token), crate::domain::timestamp::now())
            .await
            .map_err(|e| problem(console, lang, StatusCode::SERVICE_UNAVAILABLE, &e.to_string()))?,
        None => None,
    };
    let (Some(token), Some(user)) = (token, user) else {
        return Err(Redirect::to("/ui/login").into_response());
    };
    Ok(Admin {
        token,
        user,
        lang,
        peer: parts.extensions.get::<ConnectInfo<SocketAddr>>().cloned(),
        host: parts
            .headers
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost")
            .to_string(),
        here: parts.uri.path_and_query().map_or("/ui/", |p| p.as_str()).to_string(),
    })
}

impl Admin {
    /// The token every form of this session carries. It is derived from
    /// the session token, so another site can neither read nor guess it.
    fn csrf(&self) -> String {
        hex::encode(Sha256::digest(format!("sipprov console form:{}", self.token)))
    }

    /// The refusal for a form without this session's token; `None` when it has it.
    fn forged(&self, form: &Fields, console: &Console) -> Option<Response> {
        let given = form.get("csrf");
        if bool::from(given.as_bytes().ct_eq(self.csrf().as_bytes())) {
            return None;
        }
        Some(problem(
            console,
            self.lang,
            StatusCode::FORBIDDEN,
            i18n::text(self.lang, "csrf_refused"),
        ))
    }
}

/// A form posted by a logged-in admin, its token checked: another site's
/// forged post never reaches a handler.
pub struct Submission {
    admin: Admin,
    fields: Fields,
}

impl FromRequest<Console> for Submission {
    type Rejection = Response;

    async fn from_request(req: Request<Body>, console: &Console) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let admin = Admin::from_request_parts(&mut parts, console).await?;
        Submission::checked(admin, Request::from_parts(parts, body), console).await
    }
}

/// The logout form, which any signed-in user may send, with its token.
pub struct Logout(Submission);

impl FromRequest<Console> for Logout {
    type Rejection = Response;

    async fn from_request(req: Request<Body>, console: &Console) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let session = signed_in(&mut parts, console).await?;
        Submission::checked(session, Request::from_parts(parts, body), console)
            .await
            .map(Logout)
    }
}

impl Submission {
    /// Reads the form and checks that it carries the session's token.
    async fn checked(admin: Admin, req: Request<Body>, console: &Console) -> Result<Submission, Response> {
        let Form(fields) = Form::<Fields>::from_request(req, console)
            .await
            .map_err(|e| problem(console, admin.lang, e.status(), &e.body_text()))?;
        if let Some(forged) = admin.forged(&fields, console) {
            return Err(forged);
        }
        Ok(Submission { admin, fields })
    }
}

/// A submitted form's fields, in order; a name may repeat.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(transparent)]
pub struct Fields(Vec<(String, String)>);

impl Fields {
    /// The field's first value, trimmed; "" when absent.
    fn get(&self, name: &str) -> &str {
        self.0.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.trim())
    }

    /// Every non-empty value of a repeated field (checkboxes), in order.
    fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim())
            .collect()
    }

    /// The given, non-empty fields among `names`, as a JSON object.
    fn json(&self, names: &[&str]) -> Value {
        let map: serde_json::Map<String, Value> = names
            .iter()
            .filter(|n| !self.get(n).is_empty())
            .map(|n| ((*n).to_string(), Value::String(self.get(n).to_string())))
            .collect();
        Value::Object(map)
    }

    /// The fields among `names` as sent, "" when absent, for refilling a form.
    fn refill(&self, names: &[&str]) -> Value {
        Value::Object(
            names
                .iter()
                .map(|n| ((*n).to_string(), Value::String(self.get(n).to_string())))
                .collect(),
        )
    }
}

/// What the API answered when it refused.
#[derive(Debug)]
pub struct Refusal {
    status: StatusCode,
    message: String,
    /// Row errors of an import.
    errors: Value,
}

impl Refusal {
    /// The field the message names (`mac: '…' is not a MAC address`), if any.
    fn field(&self) -> Option<&str> {
        let (field, _) = self.message.split_once(": ")?;
        field
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
            .then_some(field)
    }

    /// `{field: message}` for the form, or `{"": message}` when no field is named.
    fn by_field(&self) -> Value {
        json!({ self.field().unwrap_or("form"): self.message })
    }
}

impl Console {
    /// Calls the management API as the admin.
    async fn call(
        &self,
        admin: &Admin,
        method: Method,
        uri: &str,
        content_type: &str,
        body: impl Into<Body>,
    ) -> Result<Response, Refusal> {
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header(TOKEN_HEADER, &admin.token)
            .header(HOST, &admin.host)
            .header(CONTENT_TYPE, content_type)
            .body(body.into())
            .map_err(|e| Refusal {
                status: StatusCode::BAD_REQUEST,
                message: e.to_string(),
                errors: Value::Null,
            })?;
        if let Some(peer) = admin.peer {
            request.extensions_mut().insert(peer);
        }
        let response = self.api.clone().oneshot(request).await.expect("routers are infallible");
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let body: Value = read_json(response).await.unwrap_or(Value::Null);
        Err(Refusal {
            status,
            message: body["message"]
                .as_str()
                .unwrap_or("the request was refused")
                .to_string(),
            errors: body["errors"].clone(),
        })
    }

    /// A JSON answer of the API.
    async fn json(&self, admin: &Admin, method: Method, uri: &str, body: Option<Value>) -> Result<Value, Refusal> {
        let bytes = body.map(|b| b.to_string()).unwrap_or_default();
        let response = self.call(admin, method, uri, "application/json", bytes).await?;
        read_json(response).await.ok_or_else(|| Refusal {
            status: StatusCode::BAD_GATEWAY,
            message: "the API answered with something other than JSON".into(),
            errors: Value::Null,
        })
    }

    /// Renders a page for the admin, with the labels of their language.
    fn page(&self, admin: &Admin, template: &str, mut data: Value) -> Response {
        data["user"] = json!({"name": admin.user.name, "login": admin.user.login});
        data["csrf"] = Value::String(admin.csrf());
        self.render(admin.lang, &admin.here, template, data)
    }

    /// A page answering with another status than 200, such as a form sent
    /// back with its errors.
    fn page_with_status(&self, admin: &Admin, status: StatusCode, template: &str, data: Value) -> Response {
        with_status(self.page(admin, template, data), status)
    }

    fn render(&self, lang: Lang, here: &str, template: &str, mut data: Value) -> Response {
        data["t"] = i18n::labels(lang);
        data["lang"] = Value::String(lang.code().into());
        data["lang_links"] = i18n::switch_links(here);
        // The layout asks for these on every page.
        for key in ["user", "csrf", "nav", "done"] {
            if data.get(key).is_none() {
                data[key] = Value::Null;
            }
        }
        let rendered = Context::from_serialize(&data).and_then(|ctx| self.pages.render(template, &ctx));
        match rendered {
            Ok(html) => Html(html).into_response(),
            Err(err) => {
                tracing::error!(error = %err, template, "a console page failed to render");
                (StatusCode::INTERNAL_SERVER_ERROR, "the page could not be shown").into_response()
            }
        }
    }

    /// What to show when the API refused a page's read: the login page if
    /// the session ended, else the reason.
    fn refused(&self, admin: &Admin, refusal: Refusal) -> Response {
        if refusal.status == StatusCode::FORBIDDEN && !admin_is_valid(&refusal) {
            return Redirect::to("/ui/login").into_response();
        }
        problem(self, admin.lang, refusal.status, &refusal.message)
    }
}

/// A 403 that is not about the session (an admin-only action) is shown;
/// one about the token means logging in again.
fn admin_is_valid(refusal: &Refusal) -> bool {
    !refusal.message.starts_with("Not Authorized")
}

async fn read_json(response: Response) -> Option<Value> {
    let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024 * 1024)
        .await
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// A page that says what went wrong.
fn problem(console: &Console, lang: Lang, status: StatusCode, message: &str) -> Response {
    let page = console.render(
        lang,
        "/ui/",
        "problem.html",
        json!({"status": status.as_u16(), "message": message}),
    );
    with_status(page, status)
}

/// 400 for a form sent back with errors beside its fields, else 200.
fn form_status(errors: &Value) -> StatusCode {
    if errors.as_object().is_some_and(|e| !e.is_empty()) {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    }
}

/// Sets the status of a page that rendered; a failed one keeps its 500.
fn with_status(mut page: Response, status: StatusCode) -> Response {
    if page.status().is_success() {
        *page.status_mut() = status;
    }
    page
}

/// The query string for a list page: the filters kept, the page replaced.
fn page_query(filters: &[(&str, &str)], page: impl std::fmt::Display) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in filters.iter().filter(|(_, v)| !v.is_empty()) {
        query.append_pair(k, v);
    }
    query.append_pair("page", &page.to_string());
    query.finish()
}

/// Previous/next links for a list envelope (`page`, `pageCount`).
fn pager(envelope: &Value, filters: &[(&str, &str)]) -> Value {
    let page = envelope["page"].as_i64().unwrap_or(1);
    let pages = envelope["pageCount"].as_i64().unwrap_or(1).max(1);
    json!({
        "page": page,
        "pages": pages,
        "rows": envelope["rowCount"],
        "prev": (page > 1).then(|| page_query(filters, page - 1)),
        "next": (page < pages).then(|| page_query(filters, page + 1)),
    })
}

/// The message a redirect asked for (`?done=created`); only known ones are shown.
fn flash(lang: Lang, query: &HashMap<String, String>) -> Value {
    query
        .get("done")
        .and_then(|done| i18n::lookup(lang, &format!("done_{done}")))
        .map_or(Value::Null, |text| Value::String(text.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(message: &str) -> Refusal {
        Refusal {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            errors: Value::Null,
        }
    }

    #[test]
    fn a_refusal_lands_beside_the_field_it_names() {
        let by_field = refusal("mac: '00:15' is not a MAC address").by_field();
        assert_eq!(by_field["mac"], "mac: '00:15' is not a MAC address");
        assert_eq!(
            refusal("extension 1009 does not exist").by_field()["form"],
            "extension 1009 does not exist"
        );
        // A colon inside a sentence is not a field name.
        assert!(refusal("bad input: see the manual").by_field().get("form").is_some());
    }

    #[test]
    fn every_page_template_parses() {
        let mut tera = Tera::new();
        tera.add_raw_templates(PAGES.iter().copied()).unwrap();
        assert_eq!(tera.get_template_names().count(), PAGES.len());
    }
}
