//! What every route must refuse: no token, an expired one.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use crate::harness::{ADMIN_PASSWORD, on_each_backend_with};

/// A concrete path for a documented one: each `{param}` gets a value.
fn concrete(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').unwrap() + start;
        out.push_str(match &rest[start + 1..end] {
            "engine" => "baidu",
            "realm" => "PROVISION",
            "name" => "extn",
            "uuid" => "0b4cd3c6-3f33-4c4e-9a55-2f1d0c9c8e2a",
            _ => "1",
        });
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Console pages, as a browser asks for them: without a session each one
/// sends the browser to the login page and does nothing.
const CONSOLE: &[(&str, &str)] = &[
    ("GET", "/ui/devices"),
    ("GET", "/ui/devices/export.csv"),
    ("GET", "/ui/devices/new"),
    ("POST", "/ui/devices/new"),
    ("GET", "/ui/devices/1"),
    ("POST", "/ui/devices/1"),
    ("POST", "/ui/devices/1/delete"),
    ("GET", "/ui/devices/1/preview"),
    ("GET", "/ui/import"),
    ("POST", "/ui/import"),
    ("POST", "/ui/import/confirm"),
    ("GET", "/ui/pending"),
    ("GET", "/ui/pending/001565aabbcc"),
    ("POST", "/ui/pending/001565aabbcc"),
    ("GET", "/ui/extensions"),
    ("POST", "/ui/extensions"),
    ("POST", "/ui/extensions/range"),
    ("GET", "/ui/extensions/1"),
    ("POST", "/ui/extensions/1"),
    ("POST", "/ui/extensions/1/reset"),
    ("GET", "/ui/settings"),
    ("POST", "/ui/settings"),
    ("POST", "/ui/logout"),
];

#[tokio::test]
async fn every_route_but_login_refuses_a_missing_or_expired_token() {
    on_each_backend_with(Duration::from_secs(2), |app| async move {
        let expired = app.login("admin", ADMIN_PASSWORD).await;
        tokio::time::sleep(Duration::from_millis(3100)).await;

        // The document is made from the router's own route table, so
        // walking it walks every API route.
        let doc = serde_json::to_value(sipprov::api::openapi()).unwrap();
        let mut walked = Vec::new();
        for (path, operations) in doc["paths"].as_object().unwrap() {
            for method in operations.as_object().unwrap().keys() {
                if (path.as_str(), method.as_str()) == ("/api/sessions", "post") {
                    continue;
                }
                let method: Method = method.to_uppercase().parse().unwrap();
                let uri = concrete(path);
                for token in [None, Some(expired.as_str())] {
                    let (status, body) = app
                        .send(method.clone(), &uri, Some(serde_json::json!({})), token)
                        .await;
                    assert_eq!(status, 403, "{method} {uri} with {token:?}: {body}");
                    let message = body["message"].as_str().unwrap_or("");
                    assert!(
                        message.starts_with("Not Authorized"),
                        "{method} {uri}: {message}"
                    );
                }
                walked.push(format!("{method} {path}"));
            }
        }
        for uri in ["/api/openapi.json", "/api/docs/"] {
            for token in [None, Some(expired.as_str())] {
                assert_eq!(app.send(Method::GET, uri, None, token).await.0, 403, "{uri}");
            }
        }
        assert!(walked.len() >= 60, "{walked:?}");

        // Login and the health check need none.
        assert_eq!(app.client.get(app.url("/healthz")).send().await.unwrap().status(), 200);
        let fresh = app.login("admin", ADMIN_PASSWORD).await;
        assert!(!fresh.is_empty());

        // The console sends a browser without a live session to log in.
        for (method, path) in CONSOLE {
            for cookie in [None, Some(format!("freeswitch_xtra_session_id={expired}"))] {
                let mut request = app.client.request(method.parse().unwrap(), app.url(path)).form(&[("csrf", "x")]);
                if let Some(cookie) = &cookie {
                    request = request.header("cookie", cookie);
                }
                let response = request.send().await.unwrap();
                assert_eq!(response.status(), 303, "{method} {path}");
                assert_eq!(response.headers()["location"], "/ui/login", "{method} {path}");
            }
        }
        let fresh = app.login("admin", ADMIN_PASSWORD).await;
        let (_, devices) = app.send(Method::GET, "/api/device_provisions", None, Some(&fresh)).await;
        assert_eq!(devices["rowCount"], Value::from(0), "nothing was written");
    })
    .await;
}
