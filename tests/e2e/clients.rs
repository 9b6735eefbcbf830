//! The real clients the end-to-end tests drive. A missing one fails its test
//! with one line naming the Debian package that brings it; `scripts/test`
//! installs them all.

use std::process::{Child, Command, ExitStatus, Output};

/// Each client's program and the Debian package it comes in.
const PACKAGES: &[(&str, &str)] = &[
    ("curl", "curl"),
    ("openssl", "openssl"),
    ("atftp", "atftp"),
    ("tftp", "tftp-hpa"),
    ("lame", "lame"),
    ("chromedriver", "chromium-driver"),
    ("psql", "postgresql-client"),
    ("sqlite3", "sqlite3"),
    ("script", "bsdutils"),
    ("sipp", "sip-tester"),
];

/// Runs a client, failing the test with the package to install when the
/// program is not there.
pub trait RunClient {
    fn run(&mut self) -> Output;
    fn run_status(&mut self) -> ExitStatus;
    fn start(&mut self) -> Child;
}

impl RunClient for Command {
    fn run(&mut self) -> Output {
        self.output().unwrap_or_else(|e| cannot_run(self, e))
    }

    fn run_status(&mut self) -> ExitStatus {
        self.status().unwrap_or_else(|e| cannot_run(self, e))
    }

    fn start(&mut self) -> Child {
        self.spawn().unwrap_or_else(|e| cannot_run(self, e))
    }
}

fn cannot_run(command: &Command, error: std::io::Error) -> ! {
    let program = command.get_program().to_string_lossy().into_owned();
    match PACKAGES.iter().find(|(name, _)| *name == program) {
        Some((_, package)) if error.kind() == std::io::ErrorKind::NotFound => panic!(
            "{program} is not installed: apt-get install {package} (scripts/test installs every client the tests use)"
        ),
        _ => panic!("cannot run {program}: {error}"),
    }
}

#[test]
fn a_missing_client_names_its_package() {
    let failure = std::panic::catch_unwind(|| Command::new("tftp").env("PATH", "/nonexistent").run())
        .expect_err("no tftp on an empty PATH");
    let message = failure.downcast_ref::<String>().unwrap();
    assert_eq!(
        message,
        "tftp is not installed: apt-get install tftp-hpa (scripts/test installs every client the tests use)"
    );
}

/// Runs curl with `args` on a blocking thread (the test's runtime also runs
/// the server it talks to) and returns what it printed.
pub async fn curl(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || Command::new("curl").args(&args).run())
        .await
        .expect("curl's thread")
}
