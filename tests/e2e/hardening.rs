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
                    let (status, body) = app.send(method.clone(), &uri, Some(serde_json::json!({})), token).await;
                    assert_eq!(status, 403, "{method} {uri} with {token:?}: {body}");
                    let message = body["message"].as_str().unwrap_or("");
                    assert!(message.starts_with("Not Authorized"), "{method} {uri}: {message}");
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
                let mut request = app
                    .client
                    .request(method.parse().unwrap(), app.url(path))
                    .form(&[("csrf", "x")]);
                if let Some(cookie) = &cookie {
                    request = request.header("cookie", cookie);
                }
                let response = request.send().await.unwrap();
                assert_eq!(response.status(), 303, "{method} {path}");
                assert_eq!(response.headers()["location"], "/ui/login", "{method} {path}");
            }
        }
        let fresh = app.login("admin", ADMIN_PASSWORD).await;
        let (_, devices) = app
            .send(Method::GET, "/api/device_provisions", None, Some(&fresh))
            .await;
        assert_eq!(devices["rowCount"], Value::from(0), "nothing was written");
    })
    .await;
}

/// Sends a request's head and the first part of its body, then stalls;
/// returns what the server answered, if it answered within `wait`.
async fn stalled_request(
    app: &crate::harness::TestApp,
    head: &str,
    partial_body: &[u8],
    wait: Duration,
) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(partial_body).await.unwrap();
    let mut answer = vec![0u8; 4096];
    match tokio::time::timeout(wait, stream.read(&mut answer)).await {
        Ok(Ok(n)) if n > 0 => Some(String::from_utf8_lossy(&answer[..n]).into_owned()),
        _ => None,
    }
}

#[tokio::test]
async fn bodies_are_bounded_slow_clients_are_cut_off_and_uploads_are_capped() {
    crate::harness::on_each_backend(|mut app| async move {
        // A JSON body over the limit is refused before it is parsed, by name.
        let huge = format!(r#"{{"extn":"1001","name":"{}"}}"#, "x".repeat(3 * 1024 * 1024));
        let r = app
            .client
            .post(app.url("/api/extensions"))
            .header("X-XTRA-AUTH-ID", &app.token)
            .header("content-type", "application/json")
            .body(huge.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 413);
        let body: Value = r.json().await.unwrap();
        assert!(body["message"].as_str().unwrap().starts_with("request body"), "{body}");

        // Management answers carry the protective headers.
        let r = app
            .client
            .get(app.url("/api/extensions"))
            .header("X-XTRA-AUTH-ID", &app.token)
            .send()
            .await
            .unwrap();
        let headers = r.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["x-frame-options"], "DENY");
        assert_eq!(headers["cache-control"], "no-store");
        assert_eq!(headers["content-security-policy"], "default-src 'none'; frame-ancestors 'none'");

        let mut settings = app.settings.clone();
        settings.request_deadline = Duration::from_secs(1);
        settings.max_concurrent_uploads = 1;
        app.settings = settings;
        let app = app.restart().await;
        let token = app.token.clone();

        // A client that sends half its body and stops gets 408 at the deadline.
        let head = format!(
            "POST /api/extensions HTTP/1.1\r\nhost: x\r\nx-xtra-auth-id: {token}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n"
        );
        let started = std::time::Instant::now();
        let answer = stalled_request(&app, &head, b"{\"extn\":", Duration::from_secs(5)).await;
        let answer = answer.expect("an answer, not a held connection");
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(started.elapsed() < Duration::from_secs(4));
        // The same on the phone side and the console.
        let head = "GET /prov/001565aabbcc.cfg HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\n";
        let answer = stalled_request(&app, head, b"", Duration::from_secs(5)).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");

        // One upload at a time: while one stalls, the next is told to come back.
        let boundary = "sipprovboundary";
        let head = format!(
            "POST /api/upload HTTP/1.1\r\nhost: x\r\nx-xtra-auth-id: {token}\r\ncontent-type: multipart/form-data; boundary={boundary}\r\ncontent-length: 100000\r\n\r\n"
        );
        let part = format!("--{boundary}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\ncontent-type: audio/wav\r\n\r\nRIFF");
        let stalled = {
            let app_addr = app.addr;
            let head = head.clone();
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut stream = tokio::net::TcpStream::connect(app_addr).await.unwrap();
                stream.write_all(head.as_bytes()).await.unwrap();
                stream.write_all(part.as_bytes()).await.unwrap();
                let mut answer = vec![0u8; 4096];
                let n = stream.read(&mut answer).await.unwrap();
                String::from_utf8_lossy(&answer[..n]).into_owned()
            })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        let second = reqwest::multipart::Form::new()
            .part("file", reqwest::multipart::Part::bytes(b"RIFF".to_vec()).file_name("b.wav"));
        let r = app
            .client
            .post(app.url("/api/upload"))
            .header("X-XTRA-AUTH-ID", &token)
            .multipart(second)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 503);
        let body: Value = r.json().await.unwrap();
        assert!(body["message"].as_str().unwrap().contains("too many uploads"), "{body}");
        // The stalled upload is cut off once its body stops for the deadline,
        // leaves nothing behind, and frees its place.
        let answer = tokio::time::timeout(Duration::from_secs(5), stalled).await.unwrap().unwrap();
        assert!(!answer.starts_with("HTTP/1.1 200"), "{answer}");
        let (_, media) = app.get("/api/media_files").await;
        assert_eq!(media["rowCount"], 0, "{media}");
        let leftovers = std::fs::read_dir(app.settings.data_dir.join("media"))
            .map(|d| d.flatten().flat_map(|t| std::fs::read_dir(t.path()).into_iter().flatten().flatten()).count())
            .unwrap_or(0);
        assert_eq!(leftovers, 0, "no file stays behind");
        let r = app
            .client
            .post(app.url("/api/upload"))
            .header("X-XTRA-AUTH-ID", &token)
            .multipart(reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(b"RIFF".to_vec()).file_name("c.wav")))
            .send()
            .await
            .unwrap();
        assert_ne!(r.status(), 503, "the place was freed");
    })
    .await;
}
