//! Who may do what: one table for every API operation and console route,
//! walked as no token, an expired token, a plain user, an agent and an
//! administrator; and the side doors (cookies, the operation log).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{ADMIN_PASSWORD, TestApp, assert_done, assert_error, on_each_backend};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    /// No token needed.
    Anyone,
    /// Any logged-in user.
    AnyUser,
    /// An administrator, or the user whose `{id}` it is.
    OwnRecord,
    Admin,
}

use Who::*;

/// The policy: every API operation and console route, and who may call it.
const POLICY: &[(&str, &str, Who)] = &[
    ("POST", "/api/sessions", Anyone),
    ("DELETE", "/api/sessions", AnyUser),
    ("PUT", "/api/users/change_password", AnyUser),
    ("GET", "/api/check/{name}", AnyUser),
    ("GET", "/api/users/{id}", OwnRecord),
    ("PUT", "/api/users/{id}", OwnRecord),
    ("GET", "/api/users/{id}/extensions", OwnRecord),
    ("GET", "/api/users/{id}/queue/name", OwnRecord),
    ("GET", "/api/users", Admin),
    ("POST", "/api/users", Admin),
    ("DELETE", "/api/users/{id}", Admin),
    ("GET", "/api/extensions", Admin),
    ("POST", "/api/extensions", Admin),
    ("POST", "/api/extensions/muti_add", Admin),
    ("POST", "/api/extensions/import", Admin),
    ("GET", "/api/extensions/{id}", Admin),
    ("PUT", "/api/extensions/{id}", Admin),
    ("DELETE", "/api/extensions/{id}", Admin),
    ("GET", "/api/contacts", Admin),
    ("POST", "/api/contacts", Admin),
    ("POST", "/api/contacts/import", Admin),
    ("GET", "/api/contacts/{id}", Admin),
    ("PUT", "/api/contacts/{id}", Admin),
    ("DELETE", "/api/contacts/{id}", Admin),
    ("GET", "/api/device_provisions", Admin),
    ("POST", "/api/device_provisions", Admin),
    ("GET", "/api/device_provisions/download", Admin),
    ("POST", "/api/device_provisions/import", Admin),
    ("GET", "/api/device_provisions/pending", Admin),
    ("GET", "/api/device_provisions/{id}", Admin),
    ("PUT", "/api/device_provisions/{id}", Admin),
    ("DELETE", "/api/device_provisions/{id}", Admin),
    ("GET", "/api/device_provisions/{id}/preview", Admin),
    ("POST", "/api/device_provisions/resync", Admin),
    ("GET", "/api/device_provisions/resync/{job}", Admin),
    ("POST", "/api/device_provisions/{id}/resync", Admin),
    ("GET", "/api/device_provisions/{id}/keys", Admin),
    ("PUT", "/api/device_provisions/{id}/keys", Admin),
    ("GET", "/api/device_provisions/{id}/timeline", Admin),
    ("GET", "/api/key_templates", Admin),
    ("POST", "/api/key_templates", Admin),
    ("GET", "/api/key_templates/{id}", Admin),
    ("PUT", "/api/key_templates/{id}", Admin),
    ("DELETE", "/api/key_templates/{id}", Admin),
    ("GET", "/api/dicts", Admin),
    ("POST", "/api/dicts", Admin),
    ("GET", "/api/dicts/realm/{realm}", Admin),
    ("GET", "/api/dicts/{id}", Admin),
    ("PUT", "/api/dicts/{id}", Admin),
    ("DELETE", "/api/dicts/{id}", Admin),
    ("GET", "/api/logs", Admin),
    ("GET", "/api/queues", Admin),
    ("POST", "/api/queues", Admin),
    ("GET", "/api/queues/{id}", Admin),
    ("PUT", "/api/queues/{id}", Admin),
    ("DELETE", "/api/queues/{id}", Admin),
    ("GET", "/api/queues/{id}/agents", Admin),
    ("POST", "/api/queues/{id}/agents", Admin),
    ("DELETE", "/api/queues/{id}/agents/{agent_id}", Admin),
    ("GET", "/api/queues/{id}/extra_params", Admin),
    ("POST", "/api/queues/{id}/extra_params", Admin),
    ("PUT", "/api/queues/{id}/extra_params/{param_id}", Admin),
    ("DELETE", "/api/queues/{id}/extra_params/{param_id}", Admin),
    ("GET", "/api/media_files", Admin),
    ("GET", "/api/media_files/uuid/{uuid}", Admin),
    ("GET", "/api/media_files/{id}", Admin),
    ("PUT", "/api/media_files/{id}", Admin),
    ("DELETE", "/api/media_files/{id}", Admin),
    ("POST", "/api/upload", Admin),
    ("GET", "/api/upload/upload_max_size", Admin),
    ("POST", "/api/{engine}/tts", Admin),
    ("GET", "/api/extn_alarms", Admin),
    ("POST", "/api/extn_alarms", Admin),
    ("GET", "/api/extn_alarms/{id}", Admin),
    ("PUT", "/api/extn_alarms/{id}", Admin),
    ("DELETE", "/api/extn_alarms/{id}", Admin),
    ("GET", "/api/extn_alarms/{id}/alarms", Admin),
    ("POST", "/api/extn_alarms/{id}/import", Admin),
    ("DELETE", "/api/extn_alarms/alarm/{id}", Admin),
    ("GET", "/api/openapi.json", Admin),
    ("GET", "/api/docs/", Admin),
    ("GET", "/ui", Anyone),
    ("GET", "/ui/", Anyone),
    ("GET", "/ui/static/{file}", Anyone),
    ("GET", "/ui/lang/{lang}", Anyone),
    ("GET", "/ui/login", Anyone),
    ("POST", "/ui/login", Anyone),
    ("POST", "/ui/logout", AnyUser),
    ("GET", "/ui/devices", Admin),
    ("GET", "/ui/devices/export.csv", Admin),
    ("GET", "/ui/devices/new", Admin),
    ("POST", "/ui/devices/new", Admin),
    ("GET", "/ui/devices/{id}", Admin),
    ("POST", "/ui/devices/{id}", Admin),
    ("POST", "/ui/devices/{id}/delete", Admin),
    ("GET", "/ui/devices/{id}/preview", Admin),
    ("POST", "/ui/devices/push", Admin),
    ("POST", "/ui/devices/{id}/push", Admin),
    ("GET", "/ui/pushes/{job}", Admin),
    ("GET", "/ui/import", Admin),
    ("POST", "/ui/import", Admin),
    ("POST", "/ui/import/confirm", Admin),
    ("GET", "/ui/pending", Admin),
    ("GET", "/ui/pending/{mac}", Admin),
    ("POST", "/ui/pending/{mac}", Admin),
    ("GET", "/ui/extensions", Admin),
    ("POST", "/ui/extensions", Admin),
    ("POST", "/ui/extensions/range", Admin),
    ("GET", "/ui/extensions/import", Admin),
    ("POST", "/ui/extensions/import", Admin),
    ("POST", "/ui/extensions/import/confirm", Admin),
    ("GET", "/ui/extensions/{id}", Admin),
    ("POST", "/ui/extensions/{id}", Admin),
    ("POST", "/ui/extensions/{id}/reset", Admin),
    ("GET", "/ui/devices/{id}/keys", Admin),
    ("POST", "/ui/devices/{id}/keys", Admin),
    ("GET", "/ui/key_templates", Admin),
    ("POST", "/ui/key_templates", Admin),
    ("GET", "/ui/key_templates/{id}", Admin),
    ("POST", "/ui/key_templates/{id}", Admin),
    ("POST", "/ui/key_templates/{id}/delete", Admin),
    ("GET", "/ui/settings", Admin),
    ("POST", "/ui/settings", Admin),
    ("GET", "/ui/activity", Admin),
];

fn who_may(method: &str, path: &str) -> Who {
    POLICY
        .iter()
        .find(|(m, p, _)| *m == method && *p == path)
        .map(|(_, _, who)| *who)
        .unwrap_or_else(|| panic!("{method} {path} has no entry in the policy table (tests/e2e/authorization.rs)"))
}

/// The README's "Who may do what" table, made from the policy.
fn policy_markdown() -> String {
    let mut out = String::from("| Route | Who may call it |\n|---|---|\n");
    for (method, path, who) in POLICY {
        let who = match who {
            Anyone => "anyone",
            AnyUser => "any logged-in user",
            OwnRecord => "an administrator, or the user whose `{id}` it is",
            Admin => "an administrator",
        };
        out.push_str(&format!("| `{method} {path}` | {who} |\n"));
    }
    out
}

const TABLE_START: &str = "<!-- policy table: made by tests/e2e/authorization.rs -->\n";
const TABLE_END: &str = "<!-- end of policy table -->";

#[test]
fn the_readme_shows_the_policy_table() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    let readme = std::fs::read_to_string(path).unwrap();
    let start = readme
        .find(TABLE_START)
        .expect("the README has the policy table's start marker")
        + TABLE_START.len();
    let end = readme[start..].find(TABLE_END).expect("and its end marker") + start;
    let expected = policy_markdown();
    if std::env::var_os("SIPPROV_UPDATE_README").is_some() {
        std::fs::write(path, format!("{}{expected}{}", &readme[..start], &readme[end..])).unwrap();
        return;
    }
    assert_eq!(
        readme[start..end],
        expected,
        "README's policy table is out of date: run SIPPROV_UPDATE_README=1 cargo test --test e2e the_readme"
    );
}

/// Who is calling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    NoToken,
    Expired,
    Plain,
    Agent,
    Administrator,
}

struct Callers {
    expired: String,
    plain: (i64, String),
    agent: (i64, String),
}

impl Callers {
    /// The caller's token and user id.
    fn credentials(&self, app: &TestApp, caller: Caller) -> Option<(i64, String)> {
        match caller {
            Caller::NoToken => None,
            Caller::Expired => Some((1, self.expired.clone())),
            Caller::Plain => Some(self.plain.clone()),
            Caller::Agent => Some(self.agent.clone()),
            Caller::Administrator => Some((1, app.token.clone())),
        }
    }
}

const SEEDED_MAC: &str = "001565ab12cd";
const SEEDED_EXTN: &str = "7301";
const CONSOLE_REFUSAL: &str = "The console is for administrators";

/// A concrete path for a route: `{id}` is `id`, other parameters a sample.
fn concrete(path: &str, id: i64) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').unwrap() + start;
        let value = match &rest[start + 1..end] {
            "id" => id.to_string(),
            "engine" => "baidu".into(),
            "realm" => "PROVISION".into(),
            "name" => "extn".into(),
            "uuid" => "0b4cd3c6-3f33-4c4e-9a55-2f1d0c9c8e2a".into(),
            "mac" => "0004f2000009".into(),
            "file" => "console.css".into(),
            "lang" => "en".into(),
            _ => "1".into(),
        };
        out.push_str(&value);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Makes a user of `kind` with an extension of its own; returns its id and token.
async fn user_with_extension(app: &TestApp, login: &str, kind: &str, extn: &str) -> (i64, String) {
    let password = format!("{login}-Passw0rd");
    let created = assert_done(
        &app.post(
            "/api/users",
            json!({"login": login, "password": password, "type": kind, "extn": extn}),
        )
        .await,
    );
    let id = created["id"].as_str().unwrap().parse().unwrap();
    (id, app.login(login, &password).await)
}

/// Makes `token`'s session expire now, as time would.
async fn expire(app: &TestApp, token: &str) {
    let hash = sipprov::secrets::token_hash(token);
    let past = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    let sql = "UPDATE sessions SET expires_at = $1 WHERE token_hash = $2";
    let changed = match &app.db {
        sipprov::store::Db::Sqlite(p) => sqlx::query(sql)
            .bind(past)
            .bind(&hash)
            .execute(p)
            .await
            .map(|r| r.rows_affected()),
        sipprov::store::Db::Postgres(p) => sqlx::query(sql)
            .bind(past)
            .bind(&hash)
            .execute(p)
            .await
            .map(|r| r.rows_affected()),
    };
    assert_eq!(changed.unwrap(), 1);
}

/// What one call answered, as far as the policy goes.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// Refused for want of a (live) session.
    NoSession,
    /// Refused: it needs an administrator.
    NeedsAdmin,
    /// Let through to the handler, whatever it then answered.
    Through,
}

async fn call_api(app: &TestApp, method: &str, uri: &str, token: Option<&str>) -> (Outcome, String) {
    // The one change a user may make to its own record: its agent status.
    let body = if method == "PUT" && uri.starts_with("/api/users/") && uri != "/api/users/change_password" {
        json!({"status": "Available"})
    } else {
        json!({})
    };
    let method: Method = method.parse().unwrap();
    let with_body = method != Method::GET;
    let (status, answer) = app.send(method, uri, with_body.then_some(body), token).await;
    let message = answer["message"].as_str().unwrap_or_default().to_string();
    let outcome = match status {
        StatusCode::FORBIDDEN if message.starts_with("Not Authorized") => Outcome::NoSession,
        StatusCode::FORBIDDEN if message.contains("needs an administrator") => Outcome::NeedsAdmin,
        _ => Outcome::Through,
    };
    // Short, so the caller and route that failed stay in sight.
    let answer: String = answer.to_string().chars().take(300).collect();
    (outcome, format!("{status} {answer}"))
}

async fn call_console(app: &TestApp, method: &str, uri: &str, token: Option<&str>) -> Option<(Outcome, String)> {
    let mut request = app
        .client
        .request(method.parse().unwrap(), app.url(uri))
        .header("accept-language", "en")
        .form(&[("csrf", "not-this-sessions")]);
    if let Some(token) = token {
        request = request.header("cookie", format!("freeswitch_xtra_session_id={token}"));
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    if status == StatusCode::METHOD_NOT_ALLOWED {
        return None;
    }
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string());
    let body = response.text().await.unwrap();
    let outcome = if status == StatusCode::SEE_OTHER && location.as_deref() == Some("/ui/login") {
        Outcome::NoSession
    } else if status == StatusCode::FORBIDDEN && body.contains(CONSOLE_REFUSAL) {
        // The refusal shows no data. Its forms' tokens are random hex, which
        // may hold the digits of a number by chance: they are left out.
        let shown = without_form_tokens(&body);
        assert!(
            !shown.contains(SEEDED_MAC) && !shown.contains(SEEDED_EXTN),
            "{method} {uri}: {body}"
        );
        Outcome::NeedsAdmin
    } else {
        Outcome::Through
    };
    Some((outcome, format!("{status} {location:?}")))
}

/// A page with the values of its forms' `csrf` fields blanked.
fn without_form_tokens(page: &str) -> String {
    const FIELD: &str = r#"name="csrf" value=""#;
    let mut shown = String::new();
    let mut rest = page;
    while let Some(at) = rest.find(FIELD) {
        shown.push_str(&rest[..at + FIELD.len()]);
        rest = &rest[at + FIELD.len()..];
        rest = &rest[rest.find('"').unwrap_or(rest.len())..];
    }
    shown.push_str(rest);
    shown
}

#[test]
fn only_form_tokens_are_blanked() {
    let page = r#"<input type="hidden" name="csrf" value="ab7301cd"> 7301 <input name="csrf" value="7301">"#;
    assert_eq!(
        without_form_tokens(page),
        r#"<input type="hidden" name="csrf" value=""> 7301 <input name="csrf" value="">"#
    );
}

fn expected(who: Who, caller: Caller, own: bool) -> Outcome {
    let user = matches!(caller, Caller::Plain | Caller::Agent);
    match (who, caller) {
        (Anyone, _) => Outcome::Through,
        (_, Caller::NoToken | Caller::Expired) => Outcome::NoSession,
        (_, Caller::Administrator) => Outcome::Through,
        (AnyUser, _) => Outcome::Through,
        (OwnRecord, _) if user && own => Outcome::Through,
        _ => Outcome::NeedsAdmin,
    }
}

#[tokio::test]
async fn every_route_answers_each_caller_as_the_policy_table_says() {
    on_each_backend(|app| async move {
        // A phone and an extension no other user may see.
        let extension = app.extension(SEEDED_EXTN, "xswitch.cn", "seeded-Secret9").await;
        assert_done(
            &app.post(
                "/api/device_provisions",
                json!({"mac": SEEDED_MAC, "vendor": "yealink", "extn": SEEDED_EXTN, "name": "front desk"}),
            )
            .await,
        );
        let expired = app.login("admin", ADMIN_PASSWORD).await;
        expire(&app, &expired).await;
        let callers = Callers {
            expired,
            plain: user_with_extension(&app, "plainuser", "NORMAL", "7302").await,
            agent: user_with_extension(&app, "agentuser", "AGENT", "7303").await,
        };

        // Every documented operation, plus the document and its page.
        let doc = serde_json::to_value(sipprov::api::openapi()).unwrap();
        let mut api: Vec<(String, String)> = vec![
            ("GET".into(), "/api/openapi.json".into()),
            ("GET".into(), "/api/docs/".into()),
        ];
        for (path, operations) in doc["paths"].as_object().unwrap() {
            for method in operations.as_object().unwrap().keys() {
                api.push((method.to_uppercase(), path.clone()));
            }
        }
        // Logging out ends the caller's token: last.
        api.sort_by_key(|(m, p)| (m == "DELETE" && p == "/api/sessions", p.clone(), m.clone()));
        let console: Vec<&str> = sipprov::ui::paths();
        let mut walked = std::collections::BTreeSet::new();

        let counts = || async {
            let mut counts = Vec::new();
            for list in ["/api/device_provisions", "/api/extensions", "/api/users", "/api/dicts"] {
                let (_, page) = app.get(list).await;
                counts.push(page["rowCount"].as_i64().or(page.as_array().map(|a| a.len() as i64)));
            }
            counts
        };
        let before = counts().await;
        for caller in [
            Caller::NoToken,
            Caller::Expired,
            Caller::Plain,
            Caller::Agent,
            Caller::Administrator,
        ] {
            if caller == Caller::Administrator {
                assert_eq!(counts().await, before, "no refused call wrote anything");
            }
            let credentials = callers.credentials(&app, caller);
            let token = credentials.as_ref().map(|(_, t)| t.as_str());
            let own_id = credentials.as_ref().map_or(1, |(id, _)| *id);
            let other_id = if own_id == 1 { callers.plain.0 } else { 1 };
            // The console first: the API walk ends with logging out.
            for path in &console {
                for method in ["GET", "POST"] {
                    let uri = concrete(path, extension);
                    let Some((outcome, answer)) = call_console(&app, method, &uri, token).await else {
                        continue;
                    };
                    let who = who_may(method, path);
                    walked.insert((method.to_string(), path.to_string()));
                    assert_eq!(
                        outcome,
                        expected(who, caller, true),
                        "{caller:?} {method} {uri} ({who:?}): {answer}"
                    );
                }
            }
            for (method, path) in &api {
                let who = who_may(method, path);
                walked.insert((method.clone(), path.clone()));
                let ids: &[(i64, bool)] = if path.contains("{id}") {
                    &[(own_id, true), (other_id, false)]
                } else {
                    &[(own_id, true)]
                };
                for &(id, own) in ids {
                    let uri = concrete(path, id);
                    let (outcome, answer) = call_api(&app, method, &uri, token).await;
                    assert_eq!(
                        outcome,
                        expected(who, caller, own),
                        "{caller:?} {method} {uri} ({who:?}): {answer}"
                    );
                }
            }
        }
        // And the table names nothing the server does not have.
        for (method, path, _) in POLICY {
            assert!(
                walked.contains(&(method.to_string(), path.to_string())),
                "{method} {path} is in the policy table but the server has no such route"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn a_user_sets_only_its_own_status_and_reads_only_its_own_extensions() {
    on_each_backend(|app| async move {
        let (agent_id, agent) = user_with_extension(&app, "agent7", "AGENT", "7401").await;
        let (plain_id, _) = user_with_extension(&app, "plain7", "NORMAL", "7402").await;
        let own = app
            .send(
                Method::GET,
                &format!("/api/users/{agent_id}/extensions"),
                None,
                Some(&agent),
            )
            .await;
        assert_eq!(own.0, 200, "{}", own.1);
        assert_eq!(own.1[0]["extn"], "7401");
        assert_eq!(
            own.1[0]["password"], "agent7-Passw0rd",
            "an agent gets its SIP password to register"
        );
        assert_error(
            &app.send(
                Method::GET,
                &format!("/api/users/{plain_id}/extensions"),
                None,
                Some(&agent),
            )
            .await,
            403,
            "needs an administrator",
        );
        let ext_id = app.get("/api/extensions?extn=7402").await.1["data"][0]["id"].clone();
        assert_error(
            &app.send(Method::GET, &format!("/api/extensions/{ext_id}"), None, Some(&agent))
                .await,
            403,
            "needs an administrator",
        );
        let status = app
            .send(
                Method::PUT,
                &format!("/api/users/{agent_id}"),
                Some(json!({"status": "Available (On Demand)"})),
                Some(&agent),
            )
            .await;
        assert_done(&status);
        assert_eq!(
            app.get(&format!("/api/users/{agent_id}")).await.1["status"],
            "Available (On Demand)"
        );
        for more in [
            json!({"status": "Available", "is_super": 1}),
            json!({"name": "me"}),
            json!({"agent_info": {"status": "Available", "simo": 9}}),
        ] {
            assert_error(
                &app.send(
                    Method::PUT,
                    &format!("/api/users/{agent_id}"),
                    Some(more.clone()),
                    Some(&agent),
                )
                .await,
                403,
                "needs an administrator",
            );
        }
        assert_eq!(app.get(&format!("/api/users/{agent_id}")).await.1["is_super"], 0);
    })
    .await;
}

#[tokio::test]
async fn passwords_users_change_and_administrators_reset() {
    on_each_backend(|app| async move {
        let (plain_id, plain) = user_with_extension(&app, "plain8", "NORMAL", "7501").await;
        let change = |body: Value, token: String| {
            let app = &app;
            async move {
                app.send(Method::PUT, "/api/users/change_password", Some(body), Some(&token))
                    .await
            }
        };
        // A user needs its old password, and changes only its own.
        assert_error(
            &change(json!({"password": "Another-Passw0rd"}), plain.clone()).await,
            403,
            "old_password",
        );
        assert_error(
            &change(json!({"id": 1, "password": "Another-Passw0rd"}), plain.clone()).await,
            403,
            "needs an administrator",
        );
        assert_done(
            &change(
                json!({"old_password": "plain8-Passw0rd", "password": "Another-Passw0rd"}),
                plain,
            )
            .await,
        );
        // An administrator resets another user's without the old one; a
        // wrong one given is refused.
        assert_error(
            &change(
                json!({"id": plain_id, "old_password": "not-it-at-all", "password": "Third-Passw0rd"}),
                app.token.clone(),
            )
            .await,
            403,
            "old_password",
        );
        app.login("plain8", "Another-Passw0rd").await;
        assert_done(&change(json!({"id": plain_id, "password": "Third-Passw0rd"}), app.token.clone()).await);
        app.login("plain8", "Third-Passw0rd").await;
    })
    .await;
}

#[tokio::test]
async fn a_cookie_alone_changes_nothing_from_another_site() {
    on_each_backend(|app| async move {
        let cookie = format!("freeswitch_xtra_session_id={}", app.token);
        let host = app.addr.to_string();
        let post =
            |origin: Option<String>, fetch_site: Option<&'static str>, content_type: &'static str, extn: &str| {
                let mut request = app
                    .client
                    .post(app.url("/api/extensions"))
                    .header("cookie", &cookie)
                    .header("content-type", content_type)
                    .body(json!({"extn": extn, "password": "cookie-Passw0rd"}).to_string());
                if let Some(origin) = origin {
                    request = request.header("origin", origin);
                }
                if let Some(site) = fetch_site {
                    request = request.header("sec-fetch-site", site);
                }
                request.send()
            };
        // What another site's form or script can make a browser send.
        for (origin, site, content_type) in [
            (None, None, "application/json"),
            (Some("http://evil.example".to_string()), None, "text/plain"),
            (Some("null".to_string()), None, "application/x-www-form-urlencoded"),
            (Some(format!("http://{host}")), Some("cross-site"), "text/plain"),
            (None, Some("same-site"), "application/json"),
        ] {
            let response = post(origin.clone(), site, content_type, "7601").await.unwrap();
            assert_eq!(response.status(), 403, "{origin:?} {site:?} {content_type}");
            let body: Value = response.json().await.unwrap();
            assert!(
                body["message"].as_str().unwrap().contains("this server's own pages"),
                "{body}"
            );
        }
        assert_eq!(
            app.get("/api/extensions?extn=7601").await.1["rowCount"],
            0,
            "nothing was written"
        );
        // The same origin may; so may any caller with the token header.
        let same = post(Some(format!("http://{host}")), None, "application/json", "7602")
            .await
            .unwrap();
        assert_eq!(same.status(), 200);
        let fetched = post(None, Some("same-origin"), "application/json", "7603")
            .await
            .unwrap();
        assert_eq!(fetched.status(), 200);
        assert_done(
            &app.post(
                "/api/extensions",
                json!({"extn": "7604", "password": "header-Passw0rd"}),
            )
            .await,
        );
        // Reads with the cookie alone still work, and the cookie is HttpOnly and SameSite.
        let read = app
            .client
            .get(app.url("/api/extensions"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(read.status(), 200);
        let login = app
            .client
            .post(app.url("/api/sessions"))
            .json(&json!({"login": "admin", "password": ADMIN_PASSWORD}))
            .send()
            .await
            .unwrap();
        let set_cookie = login.headers()["set-cookie"].to_str().unwrap().to_string();
        assert!(
            set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"),
            "{set_cookie}"
        );
        assert!(!set_cookie.contains("Secure"), "not over plain HTTP: {set_cookie}");
    })
    .await;
}

#[tokio::test]
async fn the_operation_log_keeps_no_secret_the_api_accepts() {
    on_each_backend(|app| async move {
        let secrets = [
            "user-Passw0rd-1",
            "extn-Passw0rd-2",
            "vm-4711",
            "sip-Passw0rd-3",
            "sip-Passw0rd-4",
            "fetch-Passw0rd-5",
            "fetch-Passw0rd-6",
            "phone-admin-7",
            "own-fetch-8",
            "new-Passw0rd-9",
        ];
        let created = assert_done(
            &app.post(
                "/api/users",
                json!({"login": "logged", "password": secrets[0], "extn": "7701", "extn_password": secrets[1], "vm_password": secrets[2]}),
            )
            .await,
        );
        let user_id = created["id"].as_str().unwrap();
        let extension = app.extension("7702", "xswitch.cn", secrets[3]).await;
        assert_done(&app.put(&format!("/api/extensions/{extension}"), json!({"password": secrets[4]})).await);
        let setting = assert_done(
            &app.post("/api/dicts", json!({"realm": "PROVISION", "k": "auth_password", "v": secrets[5]}))
                .await,
        );
        // A change that names only the value: the handler knows it is secret.
        assert_done(&app.put(&format!("/api/dicts/{}", setting.as_str().unwrap()), json!({"v": secrets[6]})).await);
        assert_done(
            &app.post(
                "/api/dicts",
                json!({"realm": "PROVISION", "k": "phone_admin_password", "v": secrets[7]}),
            )
            .await,
        );
        assert_done(
            &app.post(
                "/api/dicts",
                json!({"realm": "PROVISION:001565aabbcc", "k": "auth_password", "v": secrets[8]}),
            )
            .await,
        );
        // A form body, as the console sends, and the change of a password.
        let form = app
            .client
            .post(app.url("/api/sessions"))
            .form(&[("login", "logged"), ("password", secrets[0])])
            .send()
            .await
            .unwrap();
        assert_eq!(form.status(), 200);
        assert_done(
            &app.put(
                "/api/users/change_password",
                json!({"id": user_id.parse::<i64>().unwrap(), "password": secrets[9]}),
            )
            .await,
        );
        let (status, page) = app.get("/api/logs?perPage=1000").await;
        assert_eq!(status, 200);
        let stored = app.stored_text("SELECT message FROM logs WHERE id >= $1", 0).await;
        let everything = format!("{page} {stored:?}");
        assert!(page["rowCount"].as_i64().unwrap() >= 9, "{page}");
        for secret in secrets {
            assert!(!everything.contains(secret), "{secret} reached the operation log: {everything}");
        }
        assert!(everything.contains("auth_password"), "the row still says which setting changed");
    })
    .await;
}
