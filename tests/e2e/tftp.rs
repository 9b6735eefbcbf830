//! Phones fetching over TFTP, with Debian's own clients: atftp (with
//! options) and tftp-hpa (plain RFC 1350).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Command, Output};
use std::time::Duration;

use tokio::net::UdpSocket;

use crate::clients::RunClient;
use crate::harness::{TestApp, on_each_backend};
use crate::provisioning::{fetch, phone};

/// Runs a client off the runtime that serves sipprov.
async fn run(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.run()).await.unwrap()
}

/// `atftp` fetching `file` with the options a modern phone sends.
async fn atftp(server: SocketAddr, file: &str, local: &std::path::Path) -> Output {
    let mut command = Command::new("atftp");
    command
        .args([
            "--option",
            "blksize 1428",
            "--option",
            "tsize 0",
            "--option",
            "timeout 1",
        ])
        .args(["-g", "-r", file, "-l"])
        .arg(local)
        .arg(server.ip().to_string())
        .arg(server.port().to_string());
    run(command).await
}

/// `atftp` fetching `file` into a scratch file, for its exit status.
pub async fn atftp_get(server: SocketAddr, file: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    atftp(server, file, &dir.path().join("got")).await
}

/// tftp-hpa, which sends plain RFC 1350 requests.
async fn tftp_hpa(server: SocketAddr, command_line: String) -> Output {
    let mut command = Command::new("tftp");
    command
        .arg(server.ip().to_string())
        .arg(server.port().to_string())
        .args(["-m", "binary", "-c"])
        .args(command_line.split(' '));
    run(command).await
}

/// Overrides Yealink's common file with one of about 210 blocks, and waits
/// the second in which sipprov notices a changed override.
async fn large_override(app: &TestApp) {
    let mut big: String = (0..4000).map(|i| format!("# line {i} of a large file\n")).collect();
    big.push_str("static.auto_provision.server.url = {{ settings.provisioning_url }}\n");
    let dir = app.data_dir.path().join("templates/yealink");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("y0000000000xx.cfg"), big).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test]
async fn common_files_over_tftp_match_http_and_send_phones_to_http() {
    on_each_backend(|app| async move {
        let server = app.start_tftp(false).await;
        let dir = tempfile::tempdir().unwrap();
        let ua = "Yealink SIP-T46G 28.83.0.50";
        for file in ["y000000000000.cfg", "y000000000028.cfg"] {
            let local = dir.path().join(file);
            let out = atftp(server, file, &local).await;
            assert!(out.status.success(), "atftp {file}: {}", text(&out));
            let over_tftp = std::fs::read_to_string(&local).unwrap();
            let over_http = fetch(&app, &format!("/prov/{file}"), ua).await;
            assert_eq!(over_tftp, over_http.body, "{file}: the same resolution and bytes");
        }
        let common = std::fs::read_to_string(dir.path().join("y000000000028.cfg")).unwrap();
        assert!(
            common.contains(&format!("static.auto_provision.server.url = http://{}/prov/", app.addr)),
            "phones move on to HTTP: {common}"
        );

        // A file of many 512-byte blocks, by plain RFC 1350.
        large_override(&app).await;
        let local = dir.path().join("large.cfg");
        let out = tftp_hpa(server, format!("get y000000000028.cfg {}", local.display())).await;
        assert!(out.status.success() && !text(&out).contains("Error"), "{}", text(&out));
        let large = std::fs::read_to_string(&local).unwrap();
        assert!(large.len() > 200 * 512, "{} bytes", large.len());
        assert_eq!(large, fetch(&app, "/prov/y000000000028.cfg", ua).await.body);
    })
    .await;
}

#[tokio::test]
async fn files_with_passwords_stay_off_tftp_unless_allowed() {
    on_each_backend(|app| async move {
        phone(&app, "yealink", "001565aabbcc", "T46G").await;
        phone(&app, "polycom", "0004f2aabbcc", "").await;
        // A Polycom phone's written-back settings, which may hold its passwords.
        let uploads = app.data_dir.path().join("uploads/0004f2aabbcc");
        std::fs::create_dir_all(&uploads).unwrap();
        let overrides = r#"<PHONE_CONFIG><OVERRIDES reg.1.auth.password="pw-one-1001"/></PHONE_CONFIG>"#;
        std::fs::write(uploads.join("0004f2aabbcc-phone.cfg"), overrides).unwrap();
        let refused = app.start_tftp(false).await;
        let dir = tempfile::tempdir().unwrap();
        let local = dir.path().join("cfg");
        let known = atftp(refused, "001565aabbcc.cfg", &local).await;
        let unknown = atftp(refused, "001565ddeeff.cfg", &local).await;
        assert!(!known.status.success());
        assert!(text(&known).contains("file not found"), "{}", text(&known));
        assert_eq!(text(&known), text(&unknown), "a known and an unknown MAC look the same");
        for secret in ["0004f2aabbcc-phone.cfg", "0004f2aabbcc-sipprov.cfg"] {
            let out = atftp(refused, secret, &local).await;
            assert!(text(&out).contains("file not found"), "{secret}: {}", text(&out));
        }
        let hpa = tftp_hpa(refused, format!("get 001565aabbcc.cfg {}", local.display())).await;
        assert!(text(&hpa).contains("Error code 1"), "{}", text(&hpa));
        // The phone's timeline says why.
        let (_, page) = app.get("/api/device_provisions?mac=001565aabbcc").await;
        let id = page["data"][0]["id"].as_i64().unwrap();
        let start = std::time::Instant::now();
        loop {
            let (_, timeline) = app.get(&format!("/api/device_provisions/{id}/timeline")).await;
            let events = timeline["events"].as_array().unwrap();
            if let Some(refused) = events.iter().find(|e| e["kind"] == "fetch") {
                assert_eq!(refused["outcome"], "404");
                assert_eq!(refused["file"], "001565aabbcc.cfg");
                assert_eq!(
                    refused["reason"],
                    "a file with passwords is not served over TFTP (tftp_serve_secrets is off)"
                );
                break;
            }
            assert!(start.elapsed().as_secs() < 10, "not on the timeline: {timeline}");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }

        let allowed = app.start_tftp(true).await;
        let out = atftp(allowed, "001565aabbcc.cfg", &local).await;
        assert!(out.status.success(), "{}", text(&out));
        let cfg = std::fs::read_to_string(&local).unwrap();
        assert!(cfg.contains("account.1.password = pw-one-1001"), "{cfg}");
        let out = atftp(allowed, "0004f2aabbcc-phone.cfg", &local).await;
        assert!(out.status.success(), "{}", text(&out));
        assert_eq!(std::fs::read_to_string(&local).unwrap(), overrides);
        // The fetch is tracked as over HTTP.
        app.state.provisioner.fetches.flush(&app.db).await;
        let (_, devices) = app.get("/api/device_provisions?mac=001565aabbcc").await;
        assert_eq!(devices["data"][0]["last_file"], "001565aabbcc.cfg", "{devices}");
    })
    .await;
}

#[tokio::test]
async fn tftp_is_read_only() {
    on_each_backend(|app| async move {
        let server = app.start_tftp(false).await;
        let dir = tempfile::tempdir().unwrap();
        let local = dir.path().join("upload.cfg");
        std::fs::write(&local, "account.1.password = mine\n").unwrap();
        let out = tftp_hpa(server, format!("put {} 001565aabbcc.cfg", local.display())).await;
        assert!(text(&out).contains("Error code 2"), "{}", text(&out));
    })
    .await;
}

/// What many phones do: ask for the size with `tsize`, then abort with an
/// ERROR instead of acknowledging the options. The server must stop at
/// once, not retransmit until it times out.
#[tokio::test]
async fn a_client_that_aborts_after_option_negotiation_is_let_go() {
    on_each_backend(|app| async move {
        let server = app.start_tftp(false).await;
        let phone = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut rrq = vec![0, 1];
        for field in ["y000000000000.cfg", "octet", "tsize", "0", "timeout", "1"] {
            rrq.extend_from_slice(field.as_bytes());
            rrq.push(0);
        }
        phone.send_to(&rrq, server).await.unwrap();
        let mut buf = [0u8; 1024];
        let (n, transfer) = tokio::time::timeout(Duration::from_secs(5), phone.recv_from(&mut buf))
            .await
            .expect("an OACK")
            .unwrap();
        assert_ne!(transfer, server, "a transfer runs from a port of its own");
        assert_eq!(&buf[..2], &[0, 6], "an OACK");
        let fields: Vec<&str> = std::str::from_utf8(&buf[2..n - 1]).unwrap().split('\0').collect();
        let options: HashMap<&str, &str> = fields.chunks(2).map(|kv| (kv[0], kv[1])).collect();
        let http = fetch(&app, "/prov/y000000000000.cfg", "").await.body;
        assert_eq!(
            options,
            HashMap::from([("tsize", http.len().to_string().as_str()), ("timeout", "1")]),
            "tsize is the file's real size"
        );

        phone
            .send_to(b"\x00\x05\x00\x08only the size\x00", transfer)
            .await
            .unwrap();
        // The server resends after its 1 s timeout if it missed the abort.
        let silence = tokio::time::timeout(Duration::from_millis(2500), phone.recv_from(&mut buf)).await;
        assert!(silence.is_err(), "the server sent more after the client's ERROR");

        // atftp aborts mid-transfer when it cannot write what it received.
        large_override(&app).await;
        let out = atftp(server, "y000000000028.cfg", std::path::Path::new("/dev/full")).await;
        assert!(
            !out.status.success() && text(&out).contains("aborting"),
            "{}",
            text(&out)
        );
        let again = atftp(server, "y000000000028.cfg", &app.data_dir.path().join("copy")).await;
        assert!(again.status.success(), "the next transfer is served: {}", text(&again));
    })
    .await;
}

/// A read request with `fields`, as raw bytes.
fn read_request(fields: &[&str]) -> Vec<u8> {
    let mut rrq = vec![0, 1];
    for field in fields {
        rrq.extend_from_slice(field.as_bytes());
        rrq.push(0);
    }
    rrq
}

/// One host that floods read requests with the longest timeout and never
/// acknowledges holds at most a few transfers, for a few seconds; another
/// host's phone is served at once; and a request nobody acknowledges gets
/// back at most two first packets.
#[tokio::test]
async fn one_hosts_flood_neither_holds_the_server_nor_amplifies_much() {
    let app = TestApp::start(crate::harness::Backend::Sqlite, Duration::from_secs(3600)).await;
    let server = app.start_tftp(false).await;
    let mut flood = Vec::new();
    let mut busy = 0;
    for _ in 0..100 {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        socket
            .send_to(&read_request(&["y000000000000.cfg", "octet", "timeout", "255"]), server)
            .await
            .unwrap();
        flood.push(socket);
    }
    let mut first = [0u8; 2048];
    let mut timeout_acknowledged = false;
    for socket in &flood {
        if let Ok(Ok((n, _))) = tokio::time::timeout(Duration::from_secs(2), socket.recv_from(&mut first)).await {
            if first[..2] == [0, 5] && String::from_utf8_lossy(&first[4..n]).contains("busy") {
                busy += 1;
            }
            if first[..2] == [0, 6] && String::from_utf8_lossy(&first[2..n]).contains("timeout") {
                timeout_acknowledged = true;
            }
        }
    }
    assert!(busy >= 90, "only {busy} of 100 were told the server is busy");
    assert!(!timeout_acknowledged, "a 255 s timeout was agreed to");
    // Another host (127.0.0.2) gets its file while the flood is held.
    let started = std::time::Instant::now();
    let out = fetch_over_tftp_from("127.0.0.2", server, "y000000000000.cfg").await;
    assert!(out.0, "{}", out.1);
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());

    // A plain request nobody acknowledges: the first block, twice at most.
    let victim = UdpSocket::bind("127.0.0.3:0").await.unwrap();
    let request = read_request(&["y000000000000.cfg", "octet"]);
    victim.send_to(&request, server).await.unwrap();
    let mut received = 0;
    while let Ok(Ok((n, _))) = tokio::time::timeout(Duration::from_secs(3), victim.recv_from(&mut first)).await {
        received += n;
    }
    assert!(
        received <= 2 * 516,
        "{received} bytes for a {}-byte request",
        request.len()
    );
}

/// A plain RFC 1350 fetch from a given source address: (success, body or error).
async fn fetch_over_tftp_from(source: &str, server: SocketAddr, file: &str) -> (bool, String) {
    // Neither Debian client can pick its source address; this exchange can.
    let socket = UdpSocket::bind(format!("{source}:0")).await.unwrap();
    socket.send_to(&read_request(&[file, "octet"]), server).await.unwrap();
    let mut buf = [0u8; 1024];
    let mut body = Vec::new();
    loop {
        let Ok(Ok((n, from))) = tokio::time::timeout(Duration::from_secs(2), socket.recv_from(&mut buf)).await else {
            return (false, "no answer".into());
        };
        if buf[..2] != [0, 3] {
            return (false, String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        body.extend_from_slice(&buf[4..n]);
        socket.send_to(&[0, 4, buf[2], buf[3]], from).await.unwrap();
        if n < 516 {
            return (true, String::from_utf8_lossy(&body).into_owned());
        }
    }
}
