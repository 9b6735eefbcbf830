//! Limits every route keeps: bodies, slow clients, paths out of the data dir.

use std::time::Duration;

use serde_json::Value;

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

/// An exact request line, not normalised by any client library.
async fn raw_get(app: &crate::harness::TestApp, target: &str, extra: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    // A Host given in `extra` is the only one.
    let host = if extra.starts_with("host:") { "" } else { "host: x\r\n" };
    let request = format!("GET {target} HTTP/1.1\r\n{host}{extra}connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}

/// A valid one-second PCM WAV of silence.
fn wav() -> Vec<u8> {
    let samples = 8000u32;
    let mut out = Vec::new();
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + samples * 2).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&8000u32.to_le_bytes());
    out.extend_from_slice(&16000u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(samples * 2).to_le_bytes());
    out.resize(out.len() + samples as usize * 2, 0);
    out
}

const OUTSIDE: &str = "OUTSIDE-THE-DATA-DIR";

#[tokio::test]
async fn no_path_leads_out_of_the_data_dir() {
    crate::harness::on_each_backend(|app| async move {
        let outside = tempfile::tempdir().unwrap();
        let secret = outside.path().join("secret.txt");
        std::fs::write(&secret, OUTSIDE).unwrap();
        let data = app.settings.data_dir.clone();
        let leaked = |text: &str| text.contains(OUTSIDE) || text.contains("root:x:0") || text.contains("BEGIN");

        // Firmware: `..` in every spelling, absolute paths, links out.
        let firmware = data.join("firmware");
        std::fs::create_dir_all(&firmware).unwrap();
        std::fs::write(firmware.join("ok.bin"), "FIRMWARE").unwrap();
        std::os::unix::fs::symlink(&secret, firmware.join("evil.bin")).unwrap();
        std::os::unix::fs::symlink(outside.path(), firmware.join("elsewhere")).unwrap();
        let (status, body) = raw_get(&app, "/prov/firmware/ok.bin", "").await;
        assert_eq!(status, 200, "{body}");
        for target in [
            "/prov/firmware/evil.bin",
            "/prov/firmware/elsewhere/secret.txt",
            "/prov/firmware/../secret.key",
            "/prov/firmware/%2e%2e/secret.key",
            "/prov/firmware/%2E%2E%2Fsecret.key",
            "/prov/firmware/..%2f..%2fetc%2fpasswd",
            "/prov/firmware//etc/passwd",
            "/prov/firmware/%2fetc%2fpasswd",
            "/prov/..%2f..%2fetc%2fpasswd",
            "/prov/%2e%2e/%2e%2e/etc/passwd",
            "/api/provision/yealink/..%2f..%2fsecret.key",
        ] {
            let (status, body) = raw_get(&app, target, "").await;
            assert!(status >= 400 && !leaked(&body), "{target}: {status} {body}");
        }

        // Media download: a stored file replaced by a link out.
        let form =
            reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(wav()).file_name("a.wav"));
        let r = app
            .client
            .post(app.url("/api/upload"))
            .header("X-XTRA-AUTH-ID", &app.token)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let rows: Value = r.json().await.unwrap();
        let id = rows[0]["id"].as_i64().unwrap();
        let stored = rows[0]["abs_path"].as_str().unwrap().to_string();
        let auth = format!("x-xtra-auth-id: {}\r\n", app.token);
        assert_eq!(raw_get(&app, &format!("/api/media_files/{id}.wav"), &auth).await.0, 200);
        std::fs::remove_file(&stored).unwrap();
        std::os::unix::fs::symlink(&secret, &stored).unwrap();
        let (status, body) = raw_get(&app, &format!("/api/media_files/{id}.wav"), &auth).await;
        assert!(status == 404 && !leaked(&body), "{status} {body}");
        for target in [
            "/api/media_files/..%2f..%2fsecret.key",
            "/api/media_files/%2e%2e%2f%2e%2e%2fsecret.key.wav",
            "/api/media_files/1.wav%2f..%2f..%2fsecret.key",
        ] {
            let (status, body) = raw_get(&app, target, &auth).await;
            assert!(status >= 400 && !leaked(&body), "{target}: {status} {body}");
        }

        // A template override that links out is not read.
        app.extension("1001", "xswitch.cn", "line-password").await;
        let (status, _) = app
            .post(
                "/api/device_provisions",
                serde_json::json!({"mac": "001565aabbcc", "vendor": "yealink", "extn": "1001"}),
            )
            .await;
        assert_eq!(status, 200);
        let overrides = data.join("templates").join("yealink");
        std::fs::create_dir_all(&overrides).unwrap();
        std::os::unix::fs::symlink(&secret, overrides.join("mac.cfg")).unwrap();
        let (status, body) = raw_get(&app, "/prov/001565aabbcc.cfg", "").await;
        assert!(
            status == 200 && !leaked(&body) && body.contains("line-password"),
            "{status} {body}"
        );

        // TFTP: the same names, and absolute ones.
        let tftp = app.start_tftp(true).await;
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        for name in [
            "../../../etc/passwd",
            "/etc/passwd",
            "firmware/../secret.key",
            "..\\..\\secret.key",
            "../secret.key",
        ] {
            let mut rrq = vec![0, 1];
            rrq.extend_from_slice(name.as_bytes());
            rrq.extend_from_slice(b"\0octet\0");
            socket.send_to(&rrq, tftp).await.unwrap();
            let mut answer = [0u8; 600];
            let (n, _) = tokio::time::timeout(Duration::from_secs(3), socket.recv_from(&mut answer))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(&answer[..2], &[0, 5], "{name}: an ERROR packet");
            assert!(!leaked(&String::from_utf8_lossy(&answer[..n])), "{name}");
        }

        // Polycom uploads: the phone's folder linked out is not written through.
        app.extension("1002", "xswitch.cn", "line-password").await;
        let (status, _) = app
            .post(
                "/api/device_provisions",
                serde_json::json!({"mac": "0004f2aabbcc", "vendor": "polycom", "extn": "1002"}),
            )
            .await;
        assert_eq!(status, 200);
        std::fs::create_dir_all(data.join("uploads")).unwrap();
        std::os::unix::fs::symlink(outside.path(), data.join("uploads").join("0004f2aabbcc")).unwrap();
        for target in [
            "/prov/0004f2aabbcc-app.log",
            "/prov/..%2f..%2f0004f2aabbcc-app.log",
            "/prov/%2e%2e/0004f2aabbcc-phone.cfg",
        ] {
            let r = app
                .client
                .put(app.url(target))
                .header("User-Agent", "FileTransport PolycomVVX-VVX_411-UA/6.4.3.5018")
                .body("log line")
                .send()
                .await
                .unwrap();
            assert_ne!(r.status(), 204, "{target}");
        }
        let written: Vec<_> = std::fs::read_dir(outside.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(written.len(), 1, "only the secret is outside: {written:?}");
    })
    .await;
}

/// Reads until the server closes the connection or `wait` passes; true if
/// it closed (or reset) it.
async fn closed_within(stream: &mut tokio::net::TcpStream, wait: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buffer = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

#[tokio::test]
async fn oversized_headers_trickling_and_idle_clients_and_a_flood_of_connections() {
    use tokio::io::AsyncWriteExt;
    let mut app = crate::harness::TestApp::start(crate::harness::Backend::Sqlite, Duration::from_secs(3600)).await;
    // Headers past max_header_bytes (16 KiB by default): 431, before any handler.
    let (status, _) = raw_get(
        &app,
        "/prov/000000000000.cfg",
        &format!("x-padding: {}\r\n", "a".repeat(20 * 1024)),
    )
    .await;
    assert_eq!(status, 431);
    let (status, _) = raw_get(&app, "/prov/000000000000.cfg", "").await;
    assert_eq!(status, 200, "a normal request still passes");

    let mut settings = app.settings.clone();
    settings.header_read_timeout = Duration::from_secs(2);
    settings.idle_timeout = Duration::from_secs(2);
    settings.max_connections = 50;
    app.settings = settings;
    let app = app.restart().await;

    // A client that trickles a header line every half second is let go at
    // the header deadline, not when it chooses to stop.
    let mut trickler = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    trickler
        .write_all(b"GET /prov/000000000000.cfg HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let trickle = tokio::spawn(async move {
        for n in 0..40 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if trickler.write_all(format!("x-{n}: y\r\n").as_bytes()).await.is_err() {
                break;
            }
        }
        trickler
    });
    let mut trickler = trickle.await.unwrap();
    assert!(
        closed_within(&mut trickler, Duration::from_secs(1)).await,
        "still connected"
    );
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());

    // A connection that sends nothing is let go too.
    let mut idle = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    assert!(
        closed_within(&mut idle, Duration::from_secs(5)).await,
        "an idle connection is held"
    );

    // Past max_connections a new connection is closed at once; the ones
    // before it go on, and so do phones once the flood is gone.
    let mut flood = Vec::new();
    for _ in 0..50 {
        flood.push(tokio::net::TcpStream::connect(app.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut extra = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    assert!(
        closed_within(&mut extra, Duration::from_millis(500)).await,
        "admitted past max_connections"
    );
    drop(flood);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, _) = raw_get(&app, "/prov/000000000000.cfg", "").await;
    assert_eq!(status, 200);
}

/// 2,000 idle connections (more than a default open-file limit of 1,024
/// would allow beside them) do not stop a phone's fetch.
#[tokio::test]
async fn thousands_of_idle_connections_leave_room_for_a_phone() {
    let app = crate::harness::TestApp::start(crate::harness::Backend::Sqlite, Duration::from_secs(3600)).await;
    let mut idle = Vec::new();
    for _ in 0..2000 {
        idle.push(tokio::net::TcpStream::connect(app.addr).await.unwrap());
    }
    let started = std::time::Instant::now();
    let (status, _) = raw_get(&app, "/prov/000000000000.cfg", "").await;
    assert_eq!(status, 200);
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    drop(idle);
}

/// The render cache keeps only what changes a file's bytes, within its
/// byte budget: hosts are checked, User-Agents reduced to what templates
/// read, and a public URL, when set, replaces the Host altogether.
#[tokio::test]
async fn the_render_cache_holds_only_what_changes_the_bytes_within_its_budget() {
    let mut app = crate::harness::TestApp::start(crate::harness::Backend::Sqlite, Duration::from_secs(3600)).await;
    for bad in ["evil.example.com/x", "user@pbx.example.com", &"a".repeat(300)] {
        let (status, body) = raw_get(&app, "/prov/cfg.xml", &format!("host: {bad}\r\n")).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body.contains("Host: must be a host name or IP address"), "{body}");
    }
    let mut settings = app.settings.clone();
    settings.render_cache_bytes = 256 * 1024;
    app.settings = settings;
    let app = app.restart().await;
    let provisioner = app.state.provisioner.clone();
    let cache = &provisioner.cache;
    let fetch = |host: String, agent: String| {
        let client = app.client.clone();
        let url = app.url("/prov/cfg.xml");
        async move {
            let r = client
                .get(url)
                .header("host", host)
                .header("user-agent", agent)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.text().await.unwrap()
        }
    };
    // The same phone with a User-Agent that differs only where templates
    // do not look: one entry.
    let phone = "Grandstream Model HW GXP2135 SW 1.0.7.97 DevId 000b828aa872";
    fetch("pbx.example.com".into(), phone.into()).await;
    let one = cache.bytes();
    for n in 0..300 {
        fetch(
            "pbx.example.com".into(),
            format!("{phone} junk-{n}-{}", "x".repeat(2000)),
        )
        .await;
    }
    assert_eq!(cache.bytes(), one, "User-Agent noise grew the cache");
    // Thousands of valid hosts: the cache stays within its budget.
    for n in 0..2000 {
        fetch(
            format!("h{n}.{}.{}.example.com", "y".repeat(60), "z".repeat(60)),
            phone.into(),
        )
        .await;
        assert!(cache.bytes() <= 256 * 1024, "{} bytes after {n}", cache.bytes());
    }
    drop(app);

    // With a public URL, files name it, whatever the Host.
    let mut app = crate::harness::TestApp::start(crate::harness::Backend::Sqlite, Duration::from_secs(3600)).await;
    let mut settings = app.settings.clone();
    settings.public_url = Some("https://prov.example.com:8443".into());
    app.settings = settings;
    let app = app.restart().await;
    let r = app
        .client
        .get(app.url("/prov/cfg.xml"))
        .header("host", "other.example.com")
        .send()
        .await
        .unwrap();
    let body = r.text().await.unwrap();
    assert!(body.contains("prov.example.com:8443"), "{body}");
    assert!(!body.contains("other.example.com"), "{body}");
}

/// A firmware download resumed after the image changed gets the whole new
/// image (RFC 9110 If-Range): curl resuming with the old ETag, or the old
/// date, never gets the old image's start spliced to the new one's end.
#[tokio::test]
async fn a_resumed_firmware_download_is_never_spliced() {
    crate::harness::on_each_backend(|app| async move {
        let firmware = app.settings.data_dir.join("firmware");
        std::fs::create_dir_all(&firmware).unwrap();
        let image = firmware.join("t46u.rom");
        std::fs::write(&image, "OLD-IMAGE-0123456789").unwrap();
        let url = app.url("/prov/firmware/t46u.rom");
        let fetch = |headers: &[String]| {
            let mut args: Vec<String> = ["-s", "-D", "-", "-o", "-"].map(String::from).into();
            for header in headers {
                args.extend(["-H".to_string(), header.clone()]);
            }
            args.push(url.clone());
            async move { String::from_utf8(crate::clients::curl(args).await.stdout).unwrap() }
        };
        let header = |response: &str, name: &str| {
            response
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                .unwrap()
                .trim()
                .to_string()
        };
        let first = fetch(&[]).await;
        let (etag, date) = (header(&first, "etag"), header(&first, "last-modified"));
        let same = fetch(&["Range: bytes=4-".into(), format!("If-Range: {etag}")]).await;
        assert!(
            same.starts_with("HTTP/1.1 206") && same.ends_with("IMAGE-0123456789"),
            "{same}"
        );
        std::thread::sleep(std::time::Duration::from_millis(1100));
        std::fs::write(&image, "NEW-IMAGE-abcdefghijk").unwrap();
        for stale in [etag, date] {
            let resumed = fetch(&["Range: bytes=4-".into(), format!("If-Range: {stale}")]).await;
            assert!(resumed.starts_with("HTTP/1.1 200"), "{stale}: {resumed}");
            assert!(resumed.ends_with("\r\n\r\nNEW-IMAGE-abcdefghijk"), "{stale}: {resumed}");
        }
        // Without If-Range a Range is served as ever.
        let part = fetch(&["Range: bytes=4-".into()]).await;
        assert!(
            part.starts_with("HTTP/1.1 206") && part.ends_with("IMAGE-abcdefghijk"),
            "{part}"
        );
    })
    .await;
}
