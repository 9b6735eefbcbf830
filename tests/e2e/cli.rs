//! The real `sipprov` binary, as an admin runs it, driven with real curl.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::clients::RunClient;
use crate::harness::{Backend, ScratchPg, backends};

const BIN: &str = env!("CARGO_BIN_EXE_sipprov");

struct Server {
    child: Child,
    addr: String,
    stdout: BufReader<std::process::ChildStdout>,
    /// Every line sipprov logged so far.
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// A server left behind by a failing test is stopped, not orphaned.
impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Server {
    /// Sends SIGTERM and expects a clean exit within 20 seconds.
    fn terminate(&mut self) {
        Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "sipprov did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(status.success(), "{status}");
    }
}

fn sipprov(data_dir: &Path, database_url: Option<&str>) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("--data-dir")
        .arg(data_dir)
        .env_remove("SIPPROV_ADMIN_PASSWORD")
        .env_remove("DATABASE_URL")
        .env_remove("SIPPROV_DATABASE_URL");
    if let Some(url) = database_url {
        cmd.arg("--database-url").arg(url);
    }
    cmd
}

/// Starts `sipprov serve` on a free port and waits for its "listening" line.
fn serve(data_dir: &Path, database_url: Option<&str>) -> Server {
    serve_with(data_dir, database_url, &[]).0
}

/// Starts `sipprov serve` with more flags; also returns the addresses of
/// the other listeners by role (`phones`, `tftp`).
fn serve_with(
    data_dir: &Path,
    database_url: Option<&str>,
    flags: &[&str],
) -> (Server, std::collections::HashMap<String, String>) {
    serve_in(sipprov(data_dir, database_url), flags)
}

/// Starts `serve` from a prepared command (its environment set).
fn serve_in(mut command: Command, flags: &[&str]) -> (Server, std::collections::HashMap<String, String>) {
    let mut child = command
        .args(["--log-format", "json", "serve", "--listen", "127.0.0.1:0"])
        .args(flags)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = log.clone();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            kept.lock().unwrap().push(line.clone());
            if let Ok(v) = serde_json::from_str::<Value>(&line)
                && v["fields"]["message"] == "listening"
            {
                let role = v["fields"]["role"].as_str().unwrap_or("").to_string();
                let _ = tx.send((role, v["fields"]["address"].as_str().unwrap().to_string()));
            }
        }
    });
    let wanted = 1 + flags
        .iter()
        .filter(|f| ["--prov-listen", "--tftp-listen", "--metrics-listen"].contains(f))
        .count();
    let mut addresses = std::collections::HashMap::new();
    while addresses.len() < wanted {
        let (role, addr) = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("sipprov serve started listening");
        addresses.insert(role, addr);
    }
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let addr = addresses.remove("api").unwrap();
    (
        Server {
            child,
            addr,
            stdout,
            log,
        },
        addresses,
    )
}

fn curl(args: &[&str]) -> Value {
    let out = Command::new("curl").arg("-sS").args(args).run();
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("curl {args:?} gave {}", String::from_utf8_lossy(&out.stdout)))
}

fn login(addr: &str, login: &str, password: &str) -> Value {
    curl(&[
        &format!("http://{addr}/api/sessions"),
        "-d",
        &format!("login={login}&password={password}"),
    ])
}

/// A JSON body posted to the API of a running server with a token.
fn post_json(server: &Server, token: &str, path: &str, body: &str) -> Value {
    curl(&[
        &format!("http://{}{path}", server.addr),
        "-H",
        &format!("X-XTRA-AUTH-ID: {token}"),
        "-H",
        "Content-Type: application/json",
        "-d",
        body,
    ])
}

/// The generated admin password a fresh server printed first, and a token
/// from logging in with it.
fn first_admin_session(server: &mut Server) -> (String, String) {
    let mut first_line = String::new();
    server.stdout.read_line(&mut first_line).unwrap();
    let password = first_line.trim().rsplit(' ').next().unwrap().to_string();
    let token = login(&server.addr, "admin", &password)["token"]
        .as_str()
        .unwrap()
        .to_string();
    (password, token)
}

fn for_each_database(run: impl Fn(&Path, Option<&str>)) {
    for_each_backend_with_databases(1, |sites| run(&sites[0].0, sites[0].1.as_deref()));
}

/// Runs once per backend with `count` fresh databases of that backend, each
/// with its own data dir (one that does not exist yet: sipprov makes it).
fn for_each_backend_with_databases(count: usize, run: impl Fn(&[(PathBuf, Option<String>)])) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    for backend in backends() {
        let dir = tempfile::tempdir().unwrap();
        // Dropped after the run: each scratch database goes with its guard.
        let mut guards: Vec<ScratchPg> = Vec::new();
        let sites: Vec<(PathBuf, Option<String>)> = (0..count)
            .map(|i| {
                let data = dir.path().join(if i == 0 { "data".into() } else { format!("data{i}") });
                match &backend {
                    Backend::Sqlite => (data, None),
                    Backend::Postgres(server) => {
                        let (guard, url) = rt.block_on(ScratchPg::create(server));
                        guards.push(guard);
                        (data, Some(url))
                    }
                }
            })
            .collect();
        run(&sites);
    }
}

#[test]
fn first_start_prints_a_generated_admin_password_once_and_stops_on_sigterm() {
    for_each_database(|dir, db| {
        let mut server = serve(dir, db);
        let mut line = String::new();
        server.stdout.read_line(&mut line).unwrap();
        let password = line.trim().rsplit(' ').next().unwrap().to_string();
        assert!(line.contains("'admin'") && password.len() >= 16, "{line}");
        let file = dir.join("initial-admin-password");
        assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), password);
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(
            std::fs::metadata(dir.join("secret.key")).unwrap().permissions().mode() & 0o777,
            0o600
        );

        let session = login(&server.addr, "admin", &password);
        assert_eq!(session["code"], 200, "{session}");
        let health = curl(&[&format!("http://{}/healthz", server.addr)]);
        assert_eq!(health["status"], "ok");

        // SIGTERM: a graceful stop, exit status 0.
        server.terminate();

        // The second start keeps the password and prints nothing.
        let mut again = serve(dir, db);
        assert_eq!(login(&again.addr, "admin", &password)["code"], 200);
        again.child.kill().unwrap();
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut again.stdout, &mut rest).unwrap();
        assert!(!rest.contains("password"), "{rest}");
    });
}

#[test]
fn user_commands_and_migrate() {
    for_each_database(|dir, db| {
        let run = |args: &[&str], stdin: &str| {
            let mut child = sipprov(dir, db)
                .args(args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
            child.wait_with_output().unwrap()
        };
        let migrated = run(&["migrate"], "");
        assert!(
            migrated.status.success(),
            "{}",
            String::from_utf8_lossy(&migrated.stderr)
        );
        let added = run(
            &["user", "add", "installer", "--name", "Site Installer"],
            "installer-pass-1\n",
        );
        assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
        let short = run(&["user", "set-password", "installer"], "short\n");
        assert!(!short.status.success() && String::from_utf8_lossy(&short.stderr).contains("too short"));
        let set = run(&["user", "set-password", "admin"], "admin-pass-123\n");
        assert!(set.status.success(), "{}", String::from_utf8_lossy(&set.stderr));
        let missing = run(&["user", "set-password", "ghost"], "whatever-pass\n");
        assert!(!missing.status.success() && String::from_utf8_lossy(&missing.stderr).contains("no user 'ghost'"));
        let key = run(&["user", "dev-key", "installer"], "");
        let key = String::from_utf8(key.stdout).unwrap().trim().to_string();
        assert_eq!(key.len(), 64);

        let mut server = serve(dir, db);
        let installer = login(&server.addr, "installer", "installer-pass-1");
        assert_eq!(
            (installer["code"].clone(), installer["name"].clone()),
            (200.into(), "Site Installer".into())
        );
        assert_eq!(login(&server.addr, "admin", "admin-pass-123")["code"], 200);
        let by_key = curl(&[
            &format!("http://{}/api/sessions", server.addr),
            "-H",
            "Content-Type: application/json",
            "-d",
            &format!("{{\"login\":\"installer\",\"dev_key\":\"{key}\"}}"),
        ]);
        assert_eq!(by_key["code"], 200, "{by_key}");
        server.child.kill().unwrap();
    });
}

/// What the command line changes is in the operation log, as the API's
/// changes are: a `sipprov import` and a `sipprov user unlock` each show
/// with the command line as their actor.
#[test]
fn command_line_changes_are_in_the_operation_log() {
    for_each_database(|dir, db| {
        let files = tempfile::tempdir().unwrap();
        let csv = files.path().join("phones.csv");
        std::fs::write(&csv, "name,vendor,mac\nfront desk,yealink,00:15:65:aa:bb:01\n").unwrap();
        for args in [&["import", csv.to_str().unwrap()][..], &["user", "unlock", "admin"][..]] {
            let out = sipprov(dir, db).args(args).output().unwrap();
            assert!(
                out.status.success(),
                "{args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let mut server = serve(dir, db);
        let (_, token) = first_admin_session(&mut server);
        let logs = |query: &str| {
            curl(&[
                &format!("http://{}/api/logs?{query}", server.addr),
                "-H",
                &format!("X-XTRA-AUTH-ID: {token}"),
            ])
        };
        let imported = logs("resource=device_provisions&action=IMPORT");
        assert_eq!(imported["rowCount"], 1, "{imported}");
        let row = &imported["data"][0];
        assert!(row["user_name"].as_str().unwrap().starts_with("command line"), "{row}");
        assert_eq!(
            (row["user_id"].as_str(), row["source_ip"].as_str()),
            (Some("0"), Some("cli")),
            "{row}"
        );
        assert_eq!(row["summary"], "1 rows", "{row}");
        let message: Value = serde_json::from_str(row["message"].as_str().unwrap()).unwrap();
        assert_eq!(
            (message["via"].as_str(), message["macs"][0].as_str()),
            (Some("cli"), Some("001565aabb01")),
            "{message}"
        );
        let unlocked = logs("resource=sessions&action=UPDATE");
        let row = &unlocked["data"][0];
        assert_eq!(row["summary"], "admin unlocked", "{unlocked}");
        assert!(row["user_name"].as_str().unwrap().starts_with("command line"), "{row}");
        server.child.kill().unwrap();
    });
}

/// The README's curl walkthrough, run as written against a fresh server.
#[test]
fn readme_walkthrough_works_as_written() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let block = readme
        .split("<!-- walkthrough:start -->")
        .nth(1)
        .unwrap()
        .split("<!-- walkthrough:end -->")
        .next()
        .unwrap();
    let script: String = block
        .lines()
        .filter(|l| !l.starts_with("```"))
        .collect::<Vec<_>>()
        .join("\n");
    for_each_database(|dir, db| {
        let mut server = serve(dir, db);
        let mut line = String::new();
        server.stdout.read_line(&mut line).unwrap();
        let password = line.trim().rsplit(' ').next().unwrap().to_string();
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "set -euo pipefail\n{}",
                script.replace("localhost:8081", &server.addr)
            ))
            .env("ADMIN_PASSWORD", &password)
            .output()
            .unwrap();
        server.child.kill().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
        let answers: Vec<Value> = serde_json::Deserializer::from_str(&stdout)
            .into_iter::<Value>()
            .map(Result::unwrap)
            .collect();
        assert_eq!(answers.len(), 3, "{stdout}");
        assert_eq!(
            answers[0],
            serde_json::json!({"code": 200, "message": "success", "data": "1"})
        );
        assert_eq!(
            answers[1],
            serde_json::json!({"code": 200, "message": "success", "data": "1"})
        );
        assert_eq!(answers[2]["rowCount"], 1);
        assert_eq!(answers[2]["data"][0]["mac"], "001565123456");
        assert_eq!(answers[2]["data"][0]["extn"], "1001");
    });
}

#[test]
fn render_prints_what_the_phone_gets_and_check_templates_finds_broken_overrides() {
    for_each_database(|dir, db| {
        let run = |args: &[&str]| sipprov(dir, db).args(args).output().unwrap();
        let ok = run(&["check-templates"]);
        assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stdout));
        assert!(String::from_utf8_lossy(&ok.stdout).contains("ok    grandstream/cfgmac.xml"));

        // A phone with a line, made through the API of a running server.
        let mut server = serve(dir, db);
        let (_, token) = first_admin_session(&mut server);
        let api = |path: &str, body: &str| post_json(&server, &token, path, body);
        assert_eq!(
            api("/api/extensions", r#"{"extn":"1001","password":"render-pass-1"}"#)["code"],
            200
        );
        assert_eq!(
            api(
                "/api/device_provisions",
                r#"{"vendor":"yealink","mac":"00:15:65:12:34:56","extn":"1001"}"#
            )["code"],
            200
        );
        let over_http = Command::new("curl")
            .args(["-s", &format!("http://{}/prov/001565123456.cfg", server.addr)])
            .run();
        server.child.kill().unwrap();
        server.child.wait().unwrap();

        let printed = run(&["render", "--mac", "00-15-65-12-34-56", "--host", &server.addr]);
        assert!(printed.status.success(), "{}", String::from_utf8_lossy(&printed.stderr));
        assert_eq!(
            printed.stdout, over_http.stdout,
            "render prints exactly what the phone got"
        );
        assert!(String::from_utf8_lossy(&printed.stdout).contains("account.1.password = render-pass-1"));
        // Without --host, the listen address 0.0.0.0 is no host to write.
        let nowhere = run(&["render", "--mac", "001565123456"]);
        assert!(!nowhere.status.success());
        assert!(
            String::from_utf8_lossy(&nowhere.stderr)
                .contains("--host: the listen address 0.0.0.0:8081 is no address a phone can reach")
        );
        let named = sipprov(dir, db)
            .env("SIPPROV_PUBLIC_URL", "https://pbx.example.com:8443")
            .args(["render", "--mac", "001565123456"])
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&named.stdout).contains("://pbx.example.com:8443/prov/"),
            "the public URL's host"
        );
        let unknown = run(&["render", "--mac", "001565000000", "--host", "pbx.example.com"]);
        assert!(!unknown.status.success() && String::from_utf8_lossy(&unknown.stderr).contains("no phone record"));

        // explain: each check a fetch meets, the answer last, serving nothing;
        // 1 when the phone would get nothing.
        let ua = "Yealink SIP-T46U 108.86.0.45 00:15:65:12:34:56";
        let explained = run(&[
            "explain",
            "--mac",
            "00:15:65:12:34:56",
            "--user-agent",
            ua,
            "--host",
            &server.addr,
        ]);
        let text = String::from_utf8_lossy(&explained.stdout).into_owned();
        assert!(explained.status.success(), "{text}");
        // A keyed hash of the ETag of what the phone got, keyed from the data dir's key.
        let etag = format!("\"{}\"", hex::encode(&Sha256::digest(&over_http.stdout)[..16]));
        let version = sipprov::secrets::SecretBox::load_or_create(None, dir)
            .unwrap()
            .file_version(&etag);
        for wanted in [
            "file name    ok       '{mac}.cfg' of",
            "user agent   ok       yealink T46U firmware 108.86.0.45, MAC 001565123456",
            "network      ok       127.0.0.1 may fetch",
            "record       ok       a record has MAC 001565123456",
            "credentials  ok       phone authentication is off",
            &format!(
                "answer       ok       200: {} bytes, version {version}",
                over_http.stdout.len()
            ),
        ] {
            assert!(text.contains(wanted), "{wanted:?} in:\n{text}");
        }
        assert!(!text.contains("render-pass-1"), "no password: {text}");
        for (args, refusal) in [
            (
                vec!["--file", "001565000000.cfg"],
                "record       REFUSED  no record has MAC 001565000000: the phone is listed as pending",
            ),
            (
                vec!["--file", "nothing.txt"],
                "file name    REFUSED  no pack knows a file named 'nothing.txt'",
            ),
            // A MAC without a record: the file its prefix's family would ask for.
            (
                vec!["--mac", "00:15:65:00:00:01"],
                "record       REFUSED  no record has MAC 001565000001",
            ),
            (
                vec!["--mac", "001565123456", "--tftp"],
                "tftp         REFUSED  this file carries passwords and tftp_serve_secrets is off",
            ),
            (
                vec![
                    "--mac",
                    "001565123456",
                    "--user-agent",
                    "Yealink SIP-T46U 108.86.0.45 00:15:65:00:00:99",
                ],
                "mac          REFUSED  it names MAC 001565000099, not the file's 001565123456",
            ),
        ] {
            let refused = run(&[&["explain"][..], &args].concat());
            let text = String::from_utf8_lossy(&refused.stdout);
            assert!(!refused.status.success() && text.contains(refusal), "{args:?}: {text}");
            assert!(String::from_utf8_lossy(&refused.stderr).contains("the phone would not get"));
        }

        let overrides = dir.join("templates/yealink");
        std::fs::create_dir_all(&overrides).unwrap();
        std::fs::write(overrides.join("mac.cfg"), "#!version:1.0.0.1\n{% for line in lines %}account.{{ line.index }}.label = Site {{ line.extn }}\n{% endfor %}").unwrap();
        let overridden = run(&[
            "render",
            "--mac",
            "001565123456",
            "--file",
            "001565123456.cfg",
            "--host",
            "pbx.example.com",
        ]);
        assert_eq!(
            String::from_utf8_lossy(&overridden.stdout),
            "#!version:1.0.0.1\naccount.1.label = Site 1001\n",
            "an override wins, without a restart"
        );
        std::fs::write(overrides.join("mac.cfg"), "{% if %}").unwrap();
        let broken = run(&["check-templates"]);
        assert!(!broken.status.success());
        let shown = String::from_utf8_lossy(&broken.stdout).into_owned();
        let template = dir.join("templates/yealink/mac.cfg").display().to_string();
        assert!(shown.contains(&format!("FAIL  {template}:1: Found `%}}`")), "{shown}");
        // A pack manifest is checked too, and its problem named with its line.
        std::fs::create_dir_all(dir.join("templates/snom")).unwrap();
        std::fs::write(
            dir.join("templates/snom/vendor.toml"),
            "[values.language]\nde = \"Deutsch\"\n[models]\nD785 = 0\n",
        )
        .unwrap();
        let manifest = String::from_utf8_lossy(&run(&["check-templates"]).stdout).into_owned();
        let snom = dir.join("templates/snom/vendor.toml").display().to_string();
        assert!(
            manifest.contains(&format!(
                "FAIL  {snom}:4: [models] D785 = 0: must be a number of lines from 1"
            )),
            "{manifest}"
        );
        assert!(
            manifest.contains("ok    snom/mac.xml"),
            "the rest is still checked: {manifest}"
        );
        std::fs::write(dir.join("templates/snom/vendor.toml"), "[values.language\n").unwrap();
        let manifest = String::from_utf8_lossy(&run(&["check-templates"]).stdout).into_owned();
        assert!(manifest.contains(&format!("FAIL  {snom}:1: ")), "{manifest}");
    });
}

#[test]
fn a_listener_for_phones_only() {
    for_each_database(|dir, db| {
        let (mut server, others) = serve_with(
            dir,
            db,
            &["--prov-listen", "127.0.0.1:0", "--tftp-listen", "127.0.0.1:0"],
        );
        let phones = &others["phones"];
        let status = |url: String| {
            let out = Command::new("curl")
                .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", &url])
                .run();
            String::from_utf8(out.stdout).unwrap()
        };
        assert_eq!(status(format!("http://{phones}/prov/y000000000000.cfg")), "200");
        assert_eq!(
            status(format!("http://{phones}/api/extensions")),
            "404",
            "no management API there"
        );
        assert_eq!(status(format!("http://{phones}/healthz")), "404");
        assert_eq!(
            status(format!("http://{}/api/extensions", server.addr)),
            "403",
            "the API listener still serves it"
        );
        // TFTP sends phones on to the listener meant for them.
        let tftp = others["tftp"].rsplit_once(':').unwrap();
        let got = dir.join("common.cfg");
        let out = Command::new("tftp")
            .args([tftp.0, tftp.1, "-c", "get", "y000000000000.cfg"])
            .arg(&got)
            .run();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let common = std::fs::read_to_string(&got).unwrap();
        assert!(common.contains(&format!("= http://{phones}/prov/")), "{common}");
        // Every listener stops on one SIGTERM.
        server.terminate();
    });
}

/// Scrapes `/metrics` with curl and parses it with a Prometheus parser
/// (prometheus-parse), as Prometheus would read it.
fn scrape(metrics: &str) -> (String, prometheus_parse::Scrape) {
    let out = Command::new("curl")
        .args(["-sS", "--fail", &format!("http://{metrics}/metrics")])
        .run();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let parsed = prometheus_parse::Scrape::parse(lines).expect("the Prometheus text format");
    (text, parsed)
}

/// A sample's value: the one series of `name` whose labels include `labels`.
fn sample(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<f64> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
        .collect();
    assert_eq!(found.len(), 1, "{name} {labels:?}: {found:?}");
    found[0]
}

/// The metrics listener counts what phones, TFTP clients and API callers
/// got, labelled by vendor, file kind, outcome and route template, never by
/// MAC or address; the phone side's own series are read at each scrape.
#[test]
fn metrics_count_fetches_transfers_and_api_calls_without_naming_a_phone() {
    for_each_database(|dir, db| {
        let (mut server, others) = serve_with(
            dir,
            db,
            &["--metrics-listen", "127.0.0.1:0", "--tftp-listen", "127.0.0.1:0"],
        );
        let (_, token) = first_admin_session(&mut server);
        let metrics = &others["metrics"];
        let api = |path: &str, body: &str| post_json(&server, &token, path, body);
        api("/api/extensions", r#"{"extn":"1001","password":"line-pass-1001"}"#);
        api(
            "/api/device_provisions",
            r#"{"name":"desk","vendor":"yealink","mac":"001565aabbcc","extn":"1001"}"#,
        );
        api(
            "/api/device_provisions",
            r#"{"name":"spare","vendor":"yealink","mac":"001565aabbcd"}"#,
        );
        api(
            "/api/dicts",
            r#"{"realm":"PROVISION","k":"throttle_unknown_macs","v":"3"}"#,
        );
        let phone = "Yealink SIP-T46S 66.86.0.15 00:15:65:aa:bb:cc";
        let fetch = |agent: &str, file: &str, extra: &[&str]| {
            let out = Command::new("curl")
                .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-A", agent])
                .args(extra)
                .arg(format!("http://{}/prov/{file}", server.addr))
                .run();
            String::from_utf8(out.stdout).unwrap()
        };
        assert_eq!(fetch(phone, "001565aabbcc.cfg", &[]), "200");
        let etag = {
            let out = Command::new("curl")
                .args(["-s", "-D", "-", "-o", "/dev/null", "-A", phone])
                .arg(format!("http://{}/prov/001565aabbcc.cfg", server.addr))
                .run();
            let head = String::from_utf8(out.stdout).unwrap();
            head.lines()
                .find_map(|l| l.strip_prefix("etag: "))
                .unwrap()
                .trim()
                .to_string()
        };
        let if_none_match = format!("If-None-Match: {etag}");
        assert_eq!(fetch(phone, "001565aabbcc.cfg", &["-H", &if_none_match]), "304");
        // Another phone's file, asked for by this one.
        assert_eq!(fetch(phone, "001565000009.cfg", &[]), "403");
        // Unknown MACs are answered 404 until the network is told to wait.
        let mut seen = std::collections::HashMap::<String, f64>::new();
        for n in 1..=9 {
            let status = fetch("Yealink SIP-T46S 66.86.0.15", &format!("00156500000{n}.cfg"), &[]);
            *seen.entry(status.clone()).or_default() += 1.0;
            if status == "429" {
                break;
            }
        }
        assert!(seen.contains_key("404") && seen.contains_key("429"), "{seen:?}");
        let (tftp_host, tftp_port) = others["tftp"].rsplit_once(':').unwrap();
        for file in ["y000000000000.cfg", "no-such-file.cfg"] {
            Command::new("tftp")
                .args([tftp_host, tftp_port, "-c", "get", file])
                .arg(dir.join("tftp.out"))
                .run();
        }

        // What a caller makes up (a method, a path) gets no series of its own.
        for (method, path) in [("FROBNICATE", "/api/extensions"), ("GET", "/api/no-such-route-7c1f")] {
            Command::new("curl")
                .args(["-s", "-o", "/dev/null", "-X", method])
                .arg(format!("http://{}{path}", server.addr))
                .run();
        }

        // Pending phones are written in batches; the gauge follows the database.
        let deadline = Instant::now() + Duration::from_secs(15);
        let (text, parsed) = loop {
            let (text, parsed) = scrape(metrics);
            if sample(&parsed, "sipprov_pending_phones", &[]) > 0.0 || Instant::now() > deadline {
                break (text, parsed);
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        let fetches = |kind: &str, outcome: &str| {
            let labels = [("vendor", "yealink"), ("kind", kind), ("outcome", outcome)];
            sample(&parsed, "sipprov_phone_fetches_total", &labels)
        };
        assert_eq!(fetches("config", "served"), 2.0, "{text}");
        assert_eq!(fetches("config", "304"), 1.0);
        assert_eq!(fetches("config", "403"), 1.0);
        assert_eq!(fetches("config", "404"), seen["404"]);
        assert_eq!(fetches("config", "429"), 1.0);
        // The foreign MAC and each unknown one that got a 404 asked.
        assert_eq!(
            sample(&parsed, "sipprov_pending_phones", &[]),
            seen["404"] + 1.0,
            "{text}"
        );
        assert_eq!(sample(&parsed, "sipprov_throttled_networks", &[]), 1.0);
        // The fleet by config state: both records, the one never fetched among them.
        let fleet = |state: &str| sample(&parsed, "sipprov_fleet_phones", &[("state", state)]);
        assert_eq!(fleet("current") + fleet("older") + fleet("never"), 2.0, "{text}");
        assert!(fleet("never") >= 1.0, "{text}");
        assert_eq!(
            sample(&parsed, "sipprov_tftp_transfers_total", &[("outcome", "sent")]),
            1.0
        );
        assert_eq!(
            sample(&parsed, "sipprov_tftp_transfers_total", &[("outcome", "not_found")]),
            1.0
        );
        assert!(sample(&parsed, "sipprov_render_cache_hits_total", &[]) >= 2.0, "{text}");
        assert!(sample(&parsed, "sipprov_render_cache_bytes", &[]) > 0.0);
        assert!(sample(&parsed, "sipprov_render_seconds_count", &[]) >= 1.0);
        let created = [
            ("route", "/api/device_provisions"),
            ("method", "POST"),
            ("status", "200"),
        ];
        assert_eq!(sample(&parsed, "sipprov_api_requests_total", &created), 2.0);
        assert!(sample(&parsed, "sipprov_db_connections", &[("state", "max")]) >= 1.0);
        let made_up = [("route", "/api/extensions"), ("method", "other"), ("status", "405")];
        assert_eq!(sample(&parsed, "sipprov_api_requests_total", &made_up), 1.0, "{text}");
        let unmatched = [("route", "unmatched"), ("method", "GET"), ("status", "404")];
        assert_eq!(sample(&parsed, "sipprov_api_requests_total", &unmatched), 1.0, "{text}");
        // No series names a phone, an address, a concrete path or a made-up method.
        for forbidden in [
            "001565",
            "00:15:65",
            "127.0.0.1",
            "/prov/",
            "FROBNICATE",
            "no-such-route",
        ] {
            assert!(!text.contains(forbidden), "metrics name '{forbidden}':\n{text}");
        }
        server.terminate();
    });
}

/// A self-signed certificate for `localhost`, made the way an admin would.
fn self_signed_certificate(dir: &Path) -> (String, String) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .args(["-days", "2", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .run();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (cert.display().to_string(), key.display().to_string())
}

#[test]
fn https_on_either_listener() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed_certificate(dir.path());
    let data = dir.path().join("data");
    let (mut server, others) = serve_with(
        &data,
        None,
        &[
            "--prov-listen",
            "127.0.0.1:0",
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
            "--prov-tls-cert",
            &cert,
            "--prov-tls-key",
            &key,
        ],
    );
    let phones = &others["phones"];
    let fetch = |url: String| {
        let out = Command::new("curl")
            .args(["-sS", "--cacert", &cert, "-w", "\n%{http_code}", &url])
            .run();
        let text = String::from_utf8(out.stdout).unwrap();
        let (body, status) = text.rsplit_once('\n').unwrap();
        (status.to_string(), body.to_string())
    };
    for addr in [&server.addr, phones] {
        let port = addr.rsplit_once(':').unwrap().1;
        let (status, body) = fetch(format!("https://localhost:{port}/prov/y000000000000.cfg"));
        assert_eq!(status, "200", "{body}");
        assert!(
            body.contains(&format!("https://localhost:{port}/prov/")),
            "phones keep polling over https: {body}"
        );
        let (status, _) = fetch(format!("http://localhost:{port}/prov/y000000000000.cfg"));
        assert_ne!(status, "200", "no plain HTTP on an HTTPS listener");
    }
    // Over HTTPS the session cookie is Secure, and browsers are told to
    // keep to HTTPS (HSTS), on both listeners.
    let port = server.addr.rsplit_once(':').unwrap().1;
    let headers_of = |url: String, form: Option<String>| {
        let mut command = Command::new("curl");
        command.args(["-sS", "--cacert", &cert, "-o", "/dev/null", "-D", "-", &url]);
        if let Some(form) = form {
            command.args(["-d", &form]);
        }
        String::from_utf8(command.run().stdout).unwrap().to_lowercase()
    };
    let admin_password = std::fs::read_to_string(data.join("initial-admin-password")).unwrap();
    let login_headers = headers_of(
        format!("https://localhost:{port}/api/sessions"),
        Some(format!("login=admin&password={}", admin_password.trim())),
    );
    let cookie = login_headers.lines().find(|l| l.starts_with("set-cookie:")).unwrap();
    assert!(cookie.contains("; secure") && cookie.contains("httponly"), "{cookie}");
    assert!(
        login_headers.contains("strict-transport-security: max-age="),
        "{login_headers}"
    );
    let phone_port = phones.rsplit_once(':').unwrap().1;
    let phone_headers = headers_of(format!("https://localhost:{phone_port}/prov/y000000000000.cfg"), None);
    assert!(
        phone_headers.contains("strict-transport-security: max-age="),
        "{phone_headers}"
    );
    let token = curl(&[
        "--cacert",
        &cert,
        &format!("https://localhost:{port}/api/sessions"),
        "-d",
        &format!(
            "login=admin&password={}",
            std::fs::read_to_string(data.join("initial-admin-password"))
                .unwrap()
                .trim()
        ),
    ])["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!token.is_empty(), "the API works over https");
    // Both HTTPS listeners stop on SIGTERM.
    server.terminate();
}

/// Older firmware speaks TLS 1.2 only; newer, 1.3. Phones reconnect for
/// every poll, and resume their session rather than pay a full handshake,
/// however many other phones connected in between: tickets, not a table
/// of sessions on the server (rustls keeps 256 by default).
#[test]
fn phones_fetch_over_tls_1_2_and_1_3_and_resume_their_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed_certificate(dir.path());
    let (mut server, others) = serve_with(
        &dir.path().join("data"),
        None,
        &[
            "--prov-listen",
            "127.0.0.1:0",
            "--prov-tls-cert",
            &cert,
            "--prov-tls-key",
            &key,
        ],
    );
    let phones = others["phones"].clone();
    let url = format!("https://{phones}/prov/y000000000000.cfg");
    for version in ["1.2", "1.3"] {
        let out = Command::new("curl")
            .args(["-sS", "--cacert", &cert, "-o", "/dev/null", "-w", "%{http_code}"])
            .args([
                format!("--tlsv{version}"),
                "--tls-max".into(),
                version.into(),
                url.clone(),
            ])
            .run();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "200", "TLS {version}");
    }
    let session = dir.path().join("session.pem");
    let s_client = |version: &str, session_flag: &str| {
        let mut child = Command::new("openssl")
            .args(["s_client", version, "-ign_eof", "-connect", &phones, "-CAfile", &cert])
            .arg(session_flag)
            .arg(&session)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .start();
        // A fetch, read to the end (the server closes), so the session
        // ticket that follows the handshake is read too.
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"GET /prov/y000000000000.cfg HTTP/1.1\r\nHost: phone\r\nConnection: close\r\n\r\n")
            .unwrap();
        String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap()
    };
    for (flag, version) in [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")] {
        let first = s_client(flag, "-sess_out");
        assert!(first.contains(&format!("New, {version}")), "{first}");
        // 300 other phones connect meanwhile, each with a full handshake.
        let others = Command::new("curl")
            .args(["-sS", "-Z", "--http1.1", "--no-sessionid", "-H", "Connection: close"])
            .args(["--cacert", &cert, "-o", "/dev/null", "-w", "%{http_code}\n"])
            .arg(format!("{url}?[1-300]"))
            .run();
        let answers = String::from_utf8_lossy(&others.stdout);
        assert_eq!(answers.lines().filter(|l| *l == "200").count(), 300, "{answers}");
        let again = s_client(flag, "-sess_in");
        assert!(again.contains(&format!("Reused, {version}")), "{again}");
        assert!(again.contains("HTTP/1.1 200"), "{again}");
    }
    server.terminate();
}

#[test]
fn a_certificate_and_key_that_do_not_load_stop_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, _) = self_signed_certificate(dir.path());
    let out = sipprov(&dir.path().join("data"), None)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            &cert,
            "--tls-key",
            &cert,
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("private key"), "{stderr}");
}

/// Two `sipprov serve` processes on one PostgreSQL database and one shared
/// data dir, as behind a load balancer. Runs when PostgreSQL is configured.
#[test]
fn two_nodes_on_one_postgresql_share_tokens_devices_and_fresh_configs() {
    let Some(Backend::Postgres(server)) = backends().into_iter().find(|b| matches!(b, Backend::Postgres(_))) else {
        eprintln!("no PostgreSQL configured (SIPPROV_TEST_DATABASE_URL); skipped");
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (_pg, url): (ScratchPg, String) = rt.block_on(ScratchPg::create(&server));
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut a = serve(&data, Some(&url));
    let mut b = serve(&data, Some(&url));
    let password = std::fs::read_to_string(data.join("initial-admin-password")).unwrap();
    let token = login(&a.addr, "admin", password.trim())["token"]
        .as_str()
        .unwrap()
        .to_string();
    let api = |addr: &str, method: &str, path: &str, body: Option<&str>| {
        let mut args = vec![
            "-X".to_string(),
            method.to_string(),
            "-H".into(),
            format!("X-XTRA-AUTH-ID: {token}"),
            "-H".into(),
            "Content-Type: application/json".into(),
            format!("http://{addr}{path}"),
        ];
        if let Some(body) = body {
            args.extend(["-d".into(), body.to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        curl(&args)
    };
    // A token issued by A works on B.
    assert_eq!(api(&b.addr, "GET", "/api/extensions", None)["rowCount"], 0);

    // Made on A, provisioned by B.
    let extn = api(
        &a.addr,
        "POST",
        "/api/extensions",
        Some(r#"{"extn":"1001","password":"first-pass-1"}"#),
    );
    let extn_id = extn["data"].as_str().unwrap().to_string();
    let device = api(
        &a.addr,
        "POST",
        "/api/device_provisions",
        Some(r#"{"vendor":"yealink","mac":"001565aabbcc","extn":"1001"}"#),
    );
    assert_eq!(device["code"], 200, "{device}");
    let config = |addr: &str| {
        let out = Command::new("curl")
            .args(["-sS", &format!("http://{addr}/prov/001565aabbcc.cfg")])
            .run();
        String::from_utf8(out.stdout).unwrap()
    };
    // The other node hears of a change by PostgreSQL's notification:
    // within a second.
    let within_a_second = |addr: &str, wanted: &str, unwanted: &str| {
        let start = Instant::now();
        loop {
            let body = config(addr);
            if body.contains(wanted) && !body.contains(unwanted) {
                return;
            }
            assert!(start.elapsed() < Duration::from_secs(1), "{addr} still serves:\n{body}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    within_a_second(&b.addr, "account.1.password = first-pass-1", "second-pass-2");
    assert!(
        config(&a.addr).contains("account.1.password = first-pass-1"),
        "now cached on A too"
    );

    // Changed on B: A serves the new password within a second, not its cached file.
    let changed = api(
        &b.addr,
        "PUT",
        &format!("/api/extensions/{extn_id}"),
        Some(r#"{"password":"second-pass-2"}"#),
    );
    assert_eq!(changed["code"], 200, "{changed}");
    within_a_second(&a.addr, "account.1.password = second-pass-2", "first-pass-1");
    assert!(config(&b.addr).contains("second-pass-2"), "and at once on B");

    a.terminate();
    b.terminate();
}

/// curl's answer as text, and its HTTP status.
fn curl_text(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "-w", "\n%{http_code}"])
        .args(args)
        .run();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap();
    (status.parse().unwrap(), body.to_string())
}

#[test]
fn no_password_or_token_reaches_the_log_at_debug_level() {
    for_each_database(|dir, db| {
        let admin_password = "Admin-Secret-Pass-1";
        let mut command = sipprov(dir, db);
        command
            .env("SIPPROV_ADMIN_PASSWORD", admin_password)
            .env("RUST_LOG", "debug");
        let (mut server, _) = serve_in(command, &[]);
        let addr = server.addr.clone();
        let url = |path: &str| format!("http://{addr}{path}");
        let json = "Content-Type: application/json";

        let mut secrets: Vec<String> = vec![admin_password.into()];
        let (status, _) = curl_text(&[&url("/api/sessions"), "-d", "login=admin&password=Wrong-Guess-Pass-2"]);
        assert_eq!(status, 403);
        secrets.push("Wrong-Guess-Pass-2".into());
        let token = login(&addr, "admin", admin_password)["token"]
            .as_str()
            .unwrap()
            .to_string();
        secrets.push(token.clone());
        let auth = format!("X-XTRA-AUTH-ID: {token}");
        let post = |path: &str, body: &str| curl(&[&url(path), "-H", &auth, "-H", json, "-d", body]);

        post("/api/extensions", r#"{"extn":"1001","password":"Extn-Sip-Secret-3"}"#);
        secrets.push("Extn-Sip-Secret-3".into());
        post(
            "/api/device_provisions",
            r#"{"mac":"001565aabbcc","vendor":"yealink","extn":"1001"}"#,
        );
        for (k, v) in [
            ("auth_mode", "digest"),
            ("auth_username", "phones"),
            ("auth_password", "Phone-Fetch-Secret-4"),
            ("phone_admin_password", "Phone-Admin-Secret-5"),
        ] {
            post("/api/dicts", &format!(r#"{{"realm":"PROVISION","k":"{k}","v":"{v}"}}"#));
        }
        secrets.extend(["Phone-Fetch-Secret-4".into(), "Phone-Admin-Secret-5".into()]);

        // A phone fetching with Digest, right and wrong.
        let agent = "Yealink SIP-T46U 108.86.0.20 00:15:65:aa:bb:cc";
        let file = url("/prov/001565aabbcc.cfg");
        let (status, config) = curl_text(&["--digest", "-u", "phones:Phone-Fetch-Secret-4", "-A", agent, &file]);
        assert_eq!(status, 200);
        assert!(
            config.contains("Extn-Sip-Secret-3"),
            "the phone gets its password: {config}"
        );
        let (status, _) = curl_text(&["--digest", "-u", "phones:Phone-Guess-6", "-A", agent, &file]);
        assert_eq!(status, 401);
        secrets.push("Phone-Guess-6".into());

        // The console: a form login, a form post, logout.
        let jar = dir.join("cookies");
        let jar = jar.to_str().unwrap();
        let (status, _) = curl_text(&[
            "-c",
            jar,
            &url("/ui/login"),
            "-d",
            &format!("login=admin&password={admin_password}"),
        ]);
        assert_eq!(status, 303);
        let cookie = std::fs::read_to_string(jar).unwrap();
        let console_token = cookie.split_whitespace().last().unwrap().to_string();
        assert_eq!(console_token.len(), 64, "{cookie}");
        secrets.push(console_token);
        let (status, _) = curl_text(&["-b", jar, &url("/ui/devices")]);
        assert_eq!(status, 200);

        // A password change, then logout.
        let change = format!(r#"{{"old_password":"{admin_password}","password":"New-Admin-Pass-7"}}"#);
        let (status, _) = curl_text(&[
            "-X",
            "PUT",
            &url("/api/users/change_password"),
            "-H",
            &auth,
            "-H",
            json,
            "-d",
            &change,
        ]);
        assert_eq!(status, 200);
        secrets.push("New-Admin-Pass-7".into());
        let again = login(&addr, "admin", "New-Admin-Pass-7")["token"]
            .as_str()
            .unwrap()
            .to_string();
        secrets.push(again.clone());
        let (status, _) = curl_text(&[
            "-X",
            "DELETE",
            &url("/api/sessions"),
            "-H",
            &format!("Authorization: Bearer {again}"),
        ]);
        assert_eq!(status, 200);

        server.terminate();
        let log = server.log.lock().unwrap().join("\n");
        assert!(log.contains("\"level\":\"DEBUG\""), "the log was at debug level");
        assert!(
            log.contains("/api/extensions") && log.contains("served a phone its configuration"),
            "requests and the phone's fetch were logged"
        );
        for secret in &secrets {
            assert!(!log.contains(secret.as_str()), "{secret} is in the log");
        }
    });
}

/// Whether the import's transaction is under way and not yet committed:
/// on PostgreSQL a session inside it; on SQLite its pages in the WAL.
fn import_in_flight(dir: &Path, db: Option<&str>, wal_before: u64) -> bool {
    match db {
        Some(url) => {
            let out = Command::new("psql")
                .args([url, "-qAtc", "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction' OR (state = 'active' AND query LIKE 'INSERT INTO device_provisions%')"])
                .run();
            String::from_utf8_lossy(&out.stdout).trim().parse::<u32>().unwrap_or(0) > 0
        }
        None => std::fs::metadata(dir.join("sipprov.db-wal")).map_or(0, |m| m.len()) > wal_before + 2 * 1024 * 1024,
    }
}

fn count_of(addr: &str, token: &str, path: &str) -> i64 {
    curl(&[
        &format!("http://{addr}{path}"),
        "-H",
        &format!("X-XTRA-AUTH-ID: {token}"),
    ])["rowCount"]
        .as_i64()
        .unwrap()
}

#[test]
fn a_server_killed_mid_import_or_mid_upload_leaves_all_or_nothing() {
    for_each_database(|dir, db| {
        // A long deadline while importing; the last start's short one lets
        // it treat the interrupted upload's file as abandoned at once.
        let start = |deadline: &str| {
            let mut command = sipprov(dir, db);
            command
                .env("SIPPROV_ADMIN_PASSWORD", "Crash-Test-Pass-1")
                .env("SIPPROV_REQUEST_DEADLINE", deadline);
            serve_in(command, &[]).0
        };
        let mut server = start("10m");
        let token = login(&server.addr, "admin", "Crash-Test-Pass-1")["token"]
            .as_str()
            .unwrap()
            .to_string();
        let auth = format!("X-XTRA-AUTH-ID: {token}");

        // 100,000 rows, killed while the transaction writes them.
        let rows: Vec<String> = (0..100_000)
            .map(|i| format!(r#"{{"name":"p{i}","vendor":"yealink","mac":"02{i:010x}"}}"#))
            .collect();
        let body = dir.join("rows.json");
        std::fs::write(&body, format!(r#"{{"devices":[{}]}}"#, rows.join(","))).unwrap();
        let wal_before = std::fs::metadata(dir.join("sipprov.db-wal")).map_or(0, |m| m.len());
        let mut import = Command::new("curl")
            .args([
                "-sS",
                "-o",
                "/dev/null",
                "-H",
                &auth,
                "-H",
                "Content-Type: application/json",
            ])
            .arg("--data-binary")
            .arg(format!("@{}", body.display()))
            .arg(format!("http://{}/api/device_provisions/import", server.addr))
            .stderr(Stdio::null())
            .start();
        let deadline = Instant::now() + Duration::from_secs(120);
        while !import_in_flight(dir, db, wal_before) {
            assert!(Instant::now() < deadline, "the import never started writing");
            assert!(
                import.try_wait().unwrap().is_none(),
                "the import finished before it could be interrupted"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        server.child.kill().unwrap();
        server.child.wait().unwrap();
        let _ = import.wait();
        let mut server = start("10m");
        let token = login(&server.addr, "admin", "Crash-Test-Pass-1")["token"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            count_of(&server.addr, &token, "/api/device_provisions?perPage=1"),
            0,
            "none of the rows"
        );
        // And the same import, run to the end, is whole.
        let auth = format!("X-XTRA-AUTH-ID: {token}");
        let done = curl(&[
            "-H",
            &auth,
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            &format!("@{}", body.display()),
            &format!("http://{}/api/device_provisions/import", server.addr),
        ]);
        assert_eq!(done["code"], 200);
        assert_eq!(
            count_of(&server.addr, &token, "/api/device_provisions?perPage=1"),
            100_000
        );

        // An upload, killed while its file streams in.
        let audio = dir.join("big.wav");
        let mut wav = b"RIFF\x24\x00\x00\x02WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x40\x1f\x00\x00\x80\x3e\x00\x00\x02\x00\x10\x00data\x00\x00\x00\x02".to_vec();
        wav.resize(32 * 1024 * 1024, 0);
        std::fs::write(&audio, wav).unwrap();
        let mut upload = Command::new("curl")
            .args(["-sS", "-o", "/dev/null", "--limit-rate", "4M", "-H", &auth, "-F"])
            .arg(format!("file=@{}", audio.display()))
            .arg(format!("http://{}/api/upload", server.addr))
            .stderr(Stdio::null())
            .start();
        let upload_dir = dir.join("media").join("upload");
        let deadline = Instant::now() + Duration::from_secs(60);
        let partial_size = || -> u64 {
            std::fs::read_dir(&upload_dir)
                .map(|d| d.flatten().filter_map(|f| f.metadata().ok()).map(|m| m.len()).sum())
                .unwrap_or(0)
        };
        while partial_size() < 1024 * 1024 {
            assert!(Instant::now() < deadline, "the upload never started writing");
            std::thread::sleep(Duration::from_millis(20));
        }
        server.child.kill().unwrap();
        server.child.wait().unwrap();
        let _ = upload.wait();
        assert!(partial_size() > 0, "the interrupted upload left its partial file");
        // Older than request_deadline, so no live upload can own it.
        std::thread::sleep(Duration::from_millis(1100));
        let mut server = start("1s");
        let token = login(&server.addr, "admin", "Crash-Test-Pass-1")["token"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(count_of(&server.addr, &token, "/api/media_files"), 0, "no row");
        let left: Vec<_> = std::fs::read_dir(&upload_dir)
            .unwrap()
            .flatten()
            .map(|f| f.file_name())
            .collect();
        assert!(left.is_empty(), "no file: {left:?}");
        server.terminate();
    });
}

#[test]
fn the_data_dir_is_private_and_a_locked_login_is_unlocked_from_the_command_line() {
    for_each_database(|dir, db| {
        // A data dir and database left open by an earlier version are closed.
        use std::os::unix::fs::PermissionsExt;
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        std::fs::create_dir_all(dir).unwrap();
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut server = serve(dir, db);
        let mut first_line = String::new();
        server.stdout.read_line(&mut first_line).unwrap();
        let password = first_line.trim().rsplit(' ').next().unwrap().to_string();
        assert_eq!(login(&server.addr, "admin", &password)["code"], 200);

        // Five wrong passwords lock `admin` for this network...
        for i in 0..5 {
            let refused = login(&server.addr, "admin", &format!("wrong-{i}"));
            assert_eq!(refused["code"], 403, "{refused}");
        }
        assert!(
            login(&server.addr, "admin", &password)["message"]
                .as_str()
                .unwrap()
                .contains("locked")
        );
        // ...until the administrator of the machine ends the lock.
        let unlock = sipprov(dir, db).args(["user", "unlock", "ADMIN"]).output().unwrap();
        assert!(unlock.status.success(), "{}", String::from_utf8_lossy(&unlock.stderr));
        assert!(
            String::from_utf8_lossy(&unlock.stdout).contains("1 networks"),
            "{}",
            String::from_utf8_lossy(&unlock.stdout)
        );
        assert_eq!(login(&server.addr, "admin", &password)["code"], 200);

        // Everything sipprov made is its user's alone.
        assert_eq!(mode(dir), 0o700, "the data dir");
        let mut files = vec![dir.join("secret.key"), dir.join("initial-admin-password")];
        if db.is_none() {
            files.extend(["sipprov.db", "sipprov.db-wal", "sipprov.db-shm"].map(|f| dir.join(f)));
        }
        for file in files {
            assert!(file.exists(), "{}", file.display());
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
        for folder in std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_dir())
        {
            assert_eq!(mode(&folder), 0o700, "{}", folder.display());
        }
        server.terminate();
    });
}

/// Starts a server on the database just long enough to create these
/// extensions through the API, each with a SIP password an export must
/// never show (`secret-<extn>`); returns the admin's password.
fn create_extensions(dir: &Path, db: Option<&str>, extns: &[&str]) -> String {
    let mut server = serve(dir, db);
    let (password, token) = first_admin_session(&mut server);
    for extn in extns {
        let created = curl(&[
            &format!("http://{}/api/extensions", server.addr),
            "-H",
            &format!("X-XTRA-AUTH-ID: {token}"),
            "-H",
            "Content-Type: application/json",
            "-d",
            &format!(r#"{{"extn":"{extn}","password":"secret-{extn}"}}"#),
        ]);
        assert_eq!(created["code"], 200, "{created}");
    }
    server.terminate();
    password
}

/// Output for a pipe or a file: no escape sequence, no carriage return
/// (what a progress bar draws with).
fn assert_plain(out: &std::process::Output) {
    for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        assert!(
            !bytes.iter().any(|b| *b == 0x1b || *b == b'\r'),
            "control codes on {stream}: {:?}",
            String::from_utf8_lossy(bytes)
        );
    }
}

/// Runs a command of the binary off a terminal, its output checked plain.
fn run_plain(dir: &Path, db: Option<&str>, args: &[&str]) -> std::process::Output {
    let out = sipprov(dir, db).args(args).stdin(Stdio::null()).output().unwrap();
    assert_plain(&out);
    out
}

/// Standard output of a command that must succeed.
fn succeeded(out: std::process::Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The stored records as `export -` prints them: CSV on standard output.
fn exported(dir: &Path, db: Option<&str>) -> String {
    succeeded(run_plain(dir, db, &["export", "-"]))
}

/// An export of no records: the header row alone.
const NO_RECORDS: &str = "name,extn,vendor,mac,type\n";

/// A workbook of text cells, first row the headers.
fn text_workbook(rows: &[&[&str]]) -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (row, cells) in rows.iter().enumerate() {
        for (column, cell) in cells.iter().enumerate() {
            sheet.write_string(row as u32, column as u16, *cell).unwrap();
        }
    }
    book.save_to_buffer().unwrap()
}

/// The first sheet's cells, as text.
fn sheet_cells(path: &Path) -> Vec<Vec<String>> {
    use calamine::Reader;
    let mut book = calamine::open_workbook_auto(path).unwrap();
    let sheet = book.worksheet_range_at(0).unwrap().unwrap();
    sheet
        .rows()
        .map(|row| row.iter().map(|cell| cell.to_string()).collect())
        .collect()
}

#[test]
fn import_and_export_round_trip_through_csv_and_xlsx() {
    for_each_backend_with_databases(2, |sites| {
        let [(first, first_db), (fresh, fresh_db)] = sites else {
            unreachable!()
        };
        let (first_db, fresh_db) = (first_db.as_deref(), fresh_db.as_deref());
        for (dir, db) in [(first, first_db), (fresh, fresh_db)] {
            create_extensions(dir, db, &["1001", "1002", "1003"]);
        }
        let work = tempfile::tempdir().unwrap();
        let file = |name: &str| work.path().join(name).display().to_string();
        std::fs::write(
            file("zh.csv"),
            "名称,分机号,供应商,MAC,型号\n前台,1001,亿联,00:15:65:AA:BB:01,T46U\n后台,\"[{\"\"extn\"\":\"\"1002\"\"}]\",gs,000b.82d7.4615,GXP2170\n",
        )
        .unwrap();
        std::fs::write(
            file("en.xlsx"),
            text_workbook(&[
                &["name", "extn", "vendor", "mac", "type"],
                &["Meeting room", "1003", "fanvil", "0c:38:3e:00:00:01", "X6"],
                &["Lobby", "", "snom", "000413000001", ""],
            ]),
        )
        .unwrap();
        let imported = succeeded(run_plain(first, first_db, &["import", &file("zh.csv")]));
        assert!(imported.contains("2 device records imported"), "{imported}");
        let imported = succeeded(run_plain(first, first_db, &["import", &file("en.xlsx")]));
        assert!(imported.contains("2 device records imported"), "{imported}");

        succeeded(run_plain(first, first_db, &["export", &file("first.csv")]));
        let first_csv = std::fs::read_to_string(file("first.csv")).unwrap();
        assert_eq!(
            first_csv,
            "name,extn,vendor,mac,type\n\
             前台,1001,亿联,001565aabb01,T46U\n\
             后台,\"[{\"\"extn\"\":\"\"1002\"\"}]\",gs,000b82d74615,GXP2170\n\
             Meeting room,1003,fanvil,0c383e000001,X6\n\
             Lobby,,snom,000413000001,\n",
            "the extensions as the import reads them"
        );
        assert!(!first_csv.contains("secret-"), "no SIP password leaves: {first_csv}");
        assert_eq!(exported(first, first_db), first_csv, "`-` is standard output");
        succeeded(run_plain(first, first_db, &["export", &file("first.xlsx")]));
        let first_sheet = sheet_cells(Path::new(&file("first.xlsx")));
        let table: Vec<Vec<String>> = csv::Reader::from_reader(first_csv.as_bytes())
            .records()
            .map(|r| r.unwrap().iter().map(String::from).collect())
            .collect();
        assert_eq!(first_sheet[1..], table[..], "the workbook holds the same table");

        // With --status, what the device list shows of each phone follows;
        // such a file still imports.
        succeeded(run_plain(first, first_db, &["export", "--status", &file("status.csv")]));
        let with_status = std::fs::read_to_string(file("status.csv")).unwrap();
        let mut expected = String::from("name,extn,vendor,mac,type,status,last_fetch,last_ip,firmware\n");
        for line in first_csv.lines().skip(1) {
            expected.push_str(&format!("{line},never,,,\n"));
        }
        assert_eq!(with_status, expected);
        let zh = succeeded(run_plain(
            first,
            first_db,
            &["export", "--status", "--language", "zh-CN", "-"],
        ));
        assert!(
            zh.starts_with("名称,分机号,供应商,MAC,型号,状态,最后获取,最后地址,固件\n"),
            "{zh}"
        );
        let dry = succeeded(run_plain(
            fresh,
            fresh_db,
            &["import", "--dry-run", &file("status.csv")],
        ));
        let dry: Value = serde_json::from_str(&dry).unwrap();
        assert_eq!(dry["data"].as_array().unwrap().len(), 4, "{dry}");

        // The CSV export checks clean against the fresh database; the
        // workbook goes in, and comes out as the first database's records.
        let dry = succeeded(run_plain(fresh, fresh_db, &["import", "--dry-run", &file("first.csv")]));
        let dry: Value = serde_json::from_str(&dry).unwrap();
        assert_eq!(dry["data"].as_array().unwrap().len(), 4, "{dry}");
        succeeded(run_plain(fresh, fresh_db, &["import", &file("first.xlsx")]));
        succeeded(run_plain(
            fresh,
            fresh_db,
            &["export", "--format", "csv", &file("again.out")],
        ));
        assert_eq!(std::fs::read_to_string(file("again.out")).unwrap(), first_csv);
        succeeded(run_plain(fresh, fresh_db, &["export", &file("again.xlsx")]));
        assert_eq!(sheet_cells(Path::new(&file("again.xlsx"))), first_sheet);
        let chinese = succeeded(run_plain(fresh, fresh_db, &["export", "--language", "zh-CN", "-"]));
        assert!(chinese.starts_with("名称,分机号,供应商,MAC,型号\n"), "{chinese}");
    });
}

#[test]
fn a_dry_run_prints_the_apis_report_and_writes_nothing() {
    for_each_database(|dir, db| {
        let password = create_extensions(dir, db, &["1001"]);
        let work = tempfile::tempdir().unwrap();
        let csv = work.path().join("phones.csv");
        std::fs::write(
            &csv,
            "name,extn,vendor,mac,type\nFront,1001,yealink,00-15-65-aa-bb-01,T46U\nBack,,gs,000B82D74615,\n",
        )
        .unwrap();
        // The API's report for the same file, from a server on the same database.
        let mut server = serve(dir, db);
        let token = login(&server.addr, "admin", &password)["token"]
            .as_str()
            .unwrap()
            .to_string();
        let from_api = curl(&[
            &format!("http://{}/api/device_provisions/import?dry_run=1", server.addr),
            "-H",
            &format!("X-XTRA-AUTH-ID: {token}"),
            "-F",
            &format!("file=@{}", csv.display()),
        ]);
        server.terminate();

        let printed = succeeded(run_plain(dir, db, &["import", "--dry-run", &csv.display().to_string()]));
        let report: Value = serde_json::from_str(&printed).unwrap();
        assert_eq!(report, from_api, "the API's report, row by row");
        assert_eq!(
            report["data"][0],
            serde_json::json!({"name": "Front", "vendor": "yealink", "mac": "001565aabb01", "extn": "1001", "type": "T46U",
                "action": "new_phone", "warnings": []})
        );
        assert!(report["message"].as_str().unwrap().contains("nothing was written"));
        assert_eq!(exported(dir, db), NO_RECORDS, "a dry run writes nothing");
    });
}

#[test]
fn a_bad_row_or_a_hostile_file_fails_the_import_and_writes_nothing() {
    for_each_database(|dir, db| {
        let work = tempfile::tempdir().unwrap();
        let file = |name: &str| work.path().join(name).display().to_string();
        let refused = |name: &str| {
            let out = run_plain(dir, db, &["import", &file(name)]);
            assert!(!out.status.success(), "{name} was imported");
            assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
            String::from_utf8(out.stderr).unwrap()
        };
        // Good rows around a bad one, on line 4 after a blank line.
        std::fs::write(
            file("bad.csv"),
            "name,extn,vendor,mac\nFront,,yealink,001565aabb01\n\nBack,,yealink,00:15:65:aa:bb:zz\nSide,,gs,000b82d74615\n",
        )
        .unwrap();
        let said = refused("bad.csv");
        assert!(said.contains("1 bad row; nothing was written"), "{said}");
        assert!(said.contains("row 4, mac '00:15:65:aa:bb:zz': "), "{said}");
        std::fs::write(
            file("bad.xlsx"),
            text_workbook(&[
                &["名称", "分机号", "供应商", "MAC"],
                &["前台", "", "亿联", "001565aabb01"],
                &["后台", "", "acme", "001565aabb02"],
            ]),
        )
        .unwrap();
        let said = refused("bad.xlsx");
        assert!(said.contains("row 3, vendor 'acme': unknown vendor"), "{said}");

        // The limits of an upload: its size, and what a workbook declares.
        let huge = std::fs::File::create(file("huge.csv")).unwrap();
        huge.set_len(64 * 1024 * 1024 + 1).unwrap();
        let said = refused("huge.csv");
        assert!(said.contains("larger than 64 MiB"), "{said}");
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        sheet.write_string(0, 0, "mac").unwrap();
        sheet.write_string(300_000, 0, "001565aabb01").unwrap();
        std::fs::write(file("tall.xlsx"), book.save_to_buffer().unwrap()).unwrap();
        let said = refused("tall.xlsx");
        assert!(said.contains("at most 200000 rows are read"), "{said}");

        assert_eq!(exported(dir, db), NO_RECORDS, "nothing was written");
    });
}

#[test]
fn the_progress_bar_shows_on_a_terminal_only() {
    for_each_database(|dir, db| {
        let work = tempfile::tempdir().unwrap();
        let rows: String = (0..5000)
            .map(|i| format!("phone {i},,yealink,001565{i:06x}\n"))
            .collect();
        let csv = work.path().join("phones.csv");
        std::fs::write(&csv, format!("name,extn,vendor,mac\n{rows}")).unwrap();
        let csv = csv.display().to_string();
        let imported = succeeded(run_plain(dir, db, &["import", "--dry-run", &csv]));
        assert!(imported.contains("dry run: 5000 rows"));

        // On a terminal (script gives the command one) the bar draws.
        let mut command = vec![BIN.to_string(), "--data-dir".into(), dir.display().to_string()];
        if let Some(url) = db {
            command.extend(["--database-url".into(), url.to_string()]);
        }
        command.extend(["import".into(), csv.clone()]);
        let on_terminal = Command::new("script")
            .args(["-qec", &command.join(" "), "/dev/null"])
            .env_remove("DATABASE_URL")
            .env_remove("SIPPROV_DATABASE_URL")
            .stdin(Stdio::null())
            .run();
        let shown = String::from_utf8_lossy(&on_terminal.stdout);
        assert!(on_terminal.status.success(), "{shown}");
        assert!(shown.contains("/5000 rows") && shown.contains("rows/s"), "{shown}");
        assert!(shown.contains("5000 device records imported"), "{shown}");
        assert_eq!(exported(dir, db).lines().count(), 5001);
    });
}

/// What a pack in the data dir can make a render do, tried on the real
/// binary: nested loops with output and without, a loop the budget cannot
/// see, and a string doubled until memory runs out.
const NESTED_SILENT: &str = "{% for i in range(end=100000) %}{% for j in range(end=100000) %}{% endfor %}{% endfor %}";
const NESTED_WRITING: &str =
    "{% for i in range(end=100000) %}{% for j in range(end=100000) %}{{ i }}{% endfor %}{% endfor %}";

/// Five loops over a 100-character literal: 10^10 turns that call nothing.
fn unseen_loops(guard: &str) -> String {
    let word = "x".repeat(100);
    let mut t = format!("{{% if {guard} %}}");
    for n in 0..5 {
        t.push_str(&format!("{{% for c{n} in \"{word}\" %}}"));
    }
    t.push_str(&"{% endfor %}".repeat(5));
    t.push_str("{% endif %}");
    t
}

/// A string doubled 40 times over: a terabyte, were it let grow.
fn doubling() -> String {
    format!(
        "{{% set_global s = \"x\" %}}{{% for c in \"{}\" %}}{{% set_global s = s ~ s %}}{{% endfor %}}{{{{ s | length }}}}",
        "y".repeat(40)
    )
}

/// `check-templates` and the reload refuse a template whose sample render
/// goes over its budget, within seconds, naming the file; the server keeps
/// the packs before it. A template that goes over only for one phone's data
/// fails that phone's render (503) and never the server: `/healthz`
/// answers while the render runs away, and SIGTERM stops the server within
/// a few seconds whatever is rendering.
#[test]
fn a_template_over_its_budget_fails_its_render_never_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let yealink = data.join("templates/yealink");
    std::fs::create_dir_all(&yealink).unwrap();
    let check = |template: &str| {
        std::fs::write(yealink.join("mac.cfg"), template).unwrap();
        let started = Instant::now();
        let out = sipprov(&data, None).arg("check-templates").output().unwrap();
        let took = started.elapsed();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            took,
        )
    };
    for (template, why) in [
        (NESTED_SILENT.to_string(), "its loops made more than 1000000 items"),
        (NESTED_WRITING.to_string(), "its loops made more than 1000000 items"),
        (
            unseen_loops("true"),
            "its sample render went over its budget: it ran longer than 10s",
        ),
        (
            doubling(),
            "its sample render went over its budget: it ran out of its 1024 MiB of memory",
        ),
    ] {
        let (ok, report, took) = check(&template);
        assert!(!ok, "{report}");
        assert!(
            report
                .lines()
                .any(|l| l.starts_with("FAIL") && l.contains("yealink/mac.cfg") && l.contains(why)),
            "{why}: {report}"
        );
        assert!(took < Duration::from_secs(15), "{why}: {took:?}");
    }

    // A server with a pack that is fine for the sample phone, and runs away
    // for the phone named "spin" or loops past its items for "bomb".
    let runaway = format!(
        "{}{{% if device.name == \"bomb\" %}}{NESTED_SILENT}{{% endif %}}account.1.label = {{{{ device.name }}}}\n{}",
        unseen_loops("device.name == \"spin\""),
        // The keys the pack's manifest says its configuration carries.
        "auto_provision.server.username = {{ settings.provisioning_username }}\nauto_provision.server.password = {{ settings.provisioning_password }}\n"
    );
    std::fs::write(yealink.join("mac.cfg"), &runaway).unwrap();
    let mut server = serve(&data, None);
    let (_, token) = first_admin_session(&mut server);
    for (name, mac) in [
        ("desk", "001565000001"),
        ("bomb", "001565000002"),
        ("spin", "001565000003"),
    ] {
        let body = format!(r#"{{"name":"{name}","vendor":"yealink","mac":"{mac}"}}"#);
        assert_eq!(post_json(&server, &token, "/api/device_provisions", &body)["code"], 200);
    }
    let fetch = |mac: &str| {
        let out = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "20"])
            .arg(format!("http://{}/prov/{mac}.cfg", server.addr))
            .run();
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(fetch("001565000001"), "200");
    let started = Instant::now();
    assert_eq!(fetch("001565000002"), "503", "over its loop items");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert!(
        server
            .log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("went over its render budget") && l.contains("yealink/mac.cfg")),
        "logged with its file"
    );
    // The render that runs away: the server answers meanwhile.
    let spinning = {
        let url = format!("http://{}/prov/001565000003.cfg", server.addr);
        std::thread::spawn(move || {
            let out = Command::new("curl")
                .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "30", &url])
                .run();
            String::from_utf8(out.stdout).unwrap()
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let health = Command::new("curl")
        .args(["-s", "--max-time", "2", &format!("http://{}/healthz", server.addr)])
        .run();
    assert!(
        String::from_utf8_lossy(&health.stdout).contains("\"ok\""),
        "healthz while a render runs away"
    );
    assert_eq!(fetch("001565000001"), "200", "other phones are served meanwhile");
    assert_eq!(spinning.join().unwrap(), "503", "refused once it ran past its patience");
    let started = Instant::now();
    assert_eq!(fetch("001565000003"), "503", "refused at once from then on");
    assert!(started.elapsed() < Duration::from_secs(1));

    // The reload refuses a bomb, naming it, and keeps the packs before it.
    std::fs::write(yealink.join("mac.cfg"), NESTED_WRITING).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !server
        .log
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains("a changed pack has a problem") && l.contains("yealink/mac.cfg"))
    {
        assert!(Instant::now() < deadline, "the reload did not refuse the bomb");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(fetch("001565000001"), "200", "the packs before it stay");

    // SIGTERM, with the runaway render still spinning on its thread.
    let started = Instant::now();
    server.terminate();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stopped in {:?}",
        started.elapsed()
    );
}

/// `sipprov import --extensions` reads the same spreadsheets as the API's
/// import, Chinese headers included, and refuses a second import of the
/// same numbers row by row, writing nothing.
#[test]
fn extensions_import_from_the_command_line() {
    for_each_database(|dir, db| {
        let work = tempfile::tempdir().unwrap();
        let book = work.path().join("staff.xlsx").display().to_string();
        std::fs::write(
            &book,
            text_workbook(&[
                &["分机号", "名称", "密码"],
                &["3001", "张伟", ""],
                &["3002", "Ana Lima", "Ana-pass-9"],
            ]),
        )
        .unwrap();
        let dry = succeeded(run_plain(dir, db, &["import", "--extensions", "--dry-run", &book]));
        assert!(dry.contains("dry run: 2 extensions would be created"), "{dry}");
        assert!(dry.contains("张伟"), "{dry}");
        let done = succeeded(run_plain(dir, db, &["import", "--extensions", &book]));
        assert!(done.contains("2 extensions imported"), "{done}");
        let again = run_plain(dir, db, &["import", "--extensions", &book]);
        assert!(!again.status.success());
        let said = String::from_utf8(again.stderr).unwrap();
        assert!(said.contains("2 bad rows; nothing was written"), "{said}");
        assert!(said.contains("row 2, extn '3001': already exists"), "{said}");
        let help = succeeded(run_plain(dir, db, &["import", "--help"]));
        assert!(
            help.contains("<FILE>") && help.contains("分机号"),
            "FILE is explained: {help}"
        );
    });
}
