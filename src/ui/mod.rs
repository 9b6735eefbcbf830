//! The admin console at `/ui/`: server-rendered pages for the people who
//! roll out phones.
//!
//! Every read and change goes through the admin core, as the API's do, with
//! the admin as its actor: the console has the core's checks, its
//! all-or-nothing imports and its operation log, and no rules of its own. A
//! refusal names its field as data, so it lands beside that field.

mod activity;
mod devices;
mod extensions;
mod i18n;
mod import;
mod keys;
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
use axum::http::{Request, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{MethodRouter, get};
use axum_extra::extract::CookieJar;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tera::{Context, Tera};
use tower_http::csrf::CsrfLayer;

pub use self::i18n::Lang;
use crate::api::auth::SESSION_COOKIE;
use crate::secrets::token_hash;
use crate::state::AppState;
use crate::store::Page;
use crate::store::users::SessionUser;

/// The console's state: the app, the admin core it calls, and its pages.
#[derive(Clone, FromRef)]
pub struct Console {
    app: AppState,
    core: crate::admin::Admin,
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
    ("push.html", include_str!("pages/push.html")),
    ("url_row.html", include_str!("pages/url_row.html")),
    ("import.html", include_str!("pages/import.html")),
    ("pending.html", include_str!("pages/pending.html")),
    ("claim.html", include_str!("pages/claim.html")),
    ("extensions.html", include_str!("pages/extensions.html")),
    ("extension_form.html", include_str!("pages/extension_form.html")),
    ("keys.html", include_str!("pages/keys.html")),
    ("key_templates.html", include_str!("pages/key_templates.html")),
    ("settings.html", include_str!("pages/settings.html")),
    ("activity.html", include_str!("pages/activity.html")),
    ("problem.html", include_str!("pages/problem.html")),
];

const STYLE: &str = include_str!("static/console.css");
const SCRIPT: &str = include_str!("static/console.js");

/// Rows per console page.
const PAGE_SIZE: i64 = 20;

/// The most extensions a form offers to choose from.
const EXTENSIONS_OFFERED: i64 = 500;

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
        .merge(keys::routes())
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
        core: crate::admin::Admin::from_ref(&app),
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
            .core
            .session_user(&token_hash(token))
            .await
            .map_err(|e| problem(console, lang, status_of(&e), &e.to_string()))?,
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

    /// The field's first value, trimmed, when it is not empty.
    fn given(&self, name: &str) -> Option<String> {
        Some(self.get(name)).filter(|v| !v.is_empty()).map(str::to_string)
    }

    /// Every non-empty value of a repeated field (checkboxes), in order.
    fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim())
            .collect()
    }

    /// Every value of a repeated field, empty ones too, in order: one
    /// column of a table of inputs.
    fn column(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
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

    /// The fields among `names` read as one of the core's inputs, the way
    /// the API reads a body; `blank` fields are sent as "" (to clear them),
    /// else left out. A field the input cannot take is named in the error.
    fn input<T: serde::de::DeserializeOwned>(&self, names: &[&str], blank: Blank) -> Result<T, crate::admin::Error> {
        let given = match blank {
            Blank::Omitted => self.json(names),
            Blank::Cleared => self.refill(names),
        };
        serde_path_to_error::deserialize(given)
            .map_err(|e| crate::admin::Error::field(&e.path().to_string(), e.inner()))
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

/// What an empty form field means to the core: left out, or cleared.
#[derive(Clone, Copy)]
enum Blank {
    Omitted,
    Cleared,
}

/// Where a refusal goes on a form: `{field: reason}`, or `{form: message}`
/// when it names no field.
fn by_field(err: &crate::admin::Error) -> Value {
    match err.field_name() {
        Some(field) => json!({ field: err.reason() }),
        None => json!({ "form": err.to_string() }),
    }
}

/// The status a refusal is shown with.
fn status_of(err: &crate::admin::Error) -> StatusCode {
    use crate::admin::Error;
    match err {
        Error::Field { .. } | Error::Invalid(_) | Error::Rows { .. } => StatusCode::BAD_REQUEST,
        Error::Conflict { .. } | Error::Refused(_) => StatusCode::CONFLICT,
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::Forbidden(_) | Error::Denied { .. } => StatusCode::FORBIDDEN,
        Error::Busy(_) => StatusCode::TOO_MANY_REQUESTS,
        Error::Store(_) | Error::Other(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

impl Admin {
    /// The admin as the core records a change: through the console, from
    /// the browser's address.
    fn actor(&self) -> crate::admin::Actor {
        let source = self.peer.map(|ConnectInfo(peer)| peer.ip());
        crate::admin::Actor::signed_in(&self.user, crate::admin::Door::Console, source)
    }
}

impl Console {
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

    /// What to show when the core refused a page's read or change.
    fn refused(&self, admin: &Admin, err: crate::admin::Error) -> Response {
        if matches!(err, crate::admin::Error::Store(_) | crate::admin::Error::Other(_)) {
            tracing::error!(error = %err, "a console page failed");
        }
        problem(self, admin.lang, status_of(&err), &err.to_string())
    }
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
    let page = page.to_string();
    let mut with_page = filters.to_vec();
    with_page.push(("page", &page));
    view_query(&with_page)
}

/// A list's filters as a query string, blank ones left out.
fn view_query(filters: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in filters.iter().filter(|(_, v)| !v.is_empty()) {
        query.append_pair(k, v);
    }
    query.finish()
}

/// Previous/next links for a page of a list.
fn pager<T>(listed: &Page<T>, filters: &[(&str, &str)]) -> Value {
    let page = listed.page;
    let pages = listed.page_count().max(1);
    json!({
        "page": page,
        "pages": pages,
        "rows": listed.total,
        "prev": (page > 1).then(|| page_query(filters, page - 1)),
        "next": (page < pages).then(|| page_query(filters, page + 1)),
    })
}

/// The extensions a form offers (lines, a claim), by number; none when
/// they cannot be read, which leaves the form usable by typing.
async fn offered_extensions(console: &Console, filters: &[(&str, &str)]) -> Vec<crate::store::extensions::Extension> {
    let mut asked = HashMap::from([
        ("perPage".to_string(), EXTENSIONS_OFFERED.to_string()),
        ("sort_field".to_string(), "extn".to_string()),
    ]);
    asked.extend(
        filters
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| ((*k).to_string(), (*v).to_string())),
    );
    let listed = match crate::store::ListParams::from_map(asked) {
        Ok(params) => console.core.list_extensions(params).await,
        Err(err) => Err(err.into()),
    };
    listed.map(|page| page.rows).unwrap_or_default()
}

/// The message a redirect asked for (`?done=created`); only known ones are shown.
/// A list page's parameters: the `page` its query asks for, the console's
/// page size, and each filter that is not blank.
fn list_params(
    query: &HashMap<String, String>,
    filters: &[(&str, &str)],
) -> Result<crate::store::ListParams, crate::admin::Error> {
    let page: i64 = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1).max(1);
    let mut asked = HashMap::from([
        ("page".to_string(), page.to_string()),
        ("perPage".to_string(), PAGE_SIZE.to_string()),
    ]);
    asked.extend(
        filters
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| ((*k).to_string(), (*v).to_string())),
    );
    Ok(crate::store::ListParams::from_map(asked)?)
}

/// `extra`'s fields laid over a page's data.
fn merge(data: &mut Value, extra: Value) {
    if let (Some(data), Value::Object(extra)) = (data.as_object_mut(), extra) {
        data.extend(extra);
    }
}

fn flash(lang: Lang, query: &HashMap<String, String>) -> Value {
    query
        .get("done")
        .and_then(|done| i18n::lookup(lang, &format!("done_{done}")))
        .map_or(Value::Null, |text| Value::String(text.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_lands_beside_the_field_it_names() {
        use crate::admin::Error;
        let by = by_field(&Error::field("mac", "'00:15' is not a MAC address"));
        assert_eq!(by["mac"], "'00:15' is not a MAC address");
        assert_eq!(
            by_field(&Error::Refused("extension 1009 is a line of device 3".into()))["form"],
            "extension 1009 is a line of device 3"
        );
    }

    #[test]
    fn every_page_template_parses() {
        let mut tera = Tera::new();
        tera.add_raw_templates(PAGES.iter().copied()).unwrap();
        assert_eq!(tera.get_template_names().count(), PAGES.len());
    }
}
