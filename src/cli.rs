//! The `sipprov` command line.

use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::admin::devices::{Imported, Step};
use crate::admin::export::{self, Headers, Model};
use crate::admin::extensions::ImportedExtensions;
use crate::admin::rows::{IMPORT_BODY_LIMIT, rows_from_bytes, rows_from_sheet};
use crate::admin::{self, Actor};
use crate::api::device_provisions::imported_rows;
use crate::api::extensions::imported_extensions;
use crate::app;
use crate::config::{LogFormat, Overrides, ServeFlags, Settings, redact_url};
use crate::domain::Mac;
use crate::listener::{self, ConnectionLimits};
use crate::packs::Packs;
use crate::provision::{Answer, PhoneRequest, tftp};
use crate::state::{self, AppState};
use crate::store::Db;
use crate::store::ListParams;
use crate::store::resync::Pick;

#[derive(Debug, Parser)]
#[command(
    name = "sipprov",
    version,
    about = "Provisioning server for SIP desk phones, with the XSwitch management API"
)]
pub struct Cli {
    /// A TOML settings file (default: sipprov.toml in the working directory, if present).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where the SQLite file, keys, media and firmware live [default: ./data].
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// sqlite://… or postgres://… [default: SQLite in the data dir; env: DATABASE_URL].
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    /// Log lines as text or JSON.
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeFlags),
    /// Apply database migrations and exit.
    Migrate,
    /// Manage users who log in to the API.
    #[command(subcommand)]
    User(UserCommand),
    /// Print exactly the file a phone would get.
    Render {
        /// The phone's MAC, any spelling.
        #[arg(long)]
        mac: String,
        /// The file name the phone asks for [default: its main configuration file].
        #[arg(long)]
        file: Option<String>,
        /// The phone's User-Agent.
        #[arg(long, default_value = "")]
        user_agent: String,
        /// The host the phone reaches sipprov by [default: public_url's host, else
        /// the listen address when it is one a phone can reach].
        #[arg(long)]
        host: Option<String>,
    },
    /// Show, check by check, how a phone's fetch would be answered and why,
    /// serving nothing: the pack that knows the file, what the User-Agent
    /// says, the allowed networks, TFTP, the record, credentials and the
    /// answer. Exits 1 when the phone would not get the file.
    Explain {
        /// The phone's MAC, any spelling; without --file, its main configuration file is explained.
        #[arg(long, required_unless_present = "file")]
        mac: Option<String>,
        /// The file name the phone asks for.
        #[arg(long)]
        file: Option<String>,
        /// The phone's User-Agent.
        #[arg(long, default_value = "")]
        user_agent: String,
        /// The address the phone fetches from.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
        from: std::net::IpAddr,
        /// The phone asks over TFTP.
        #[arg(long)]
        tftp: bool,
        /// The host the phone reaches sipprov by, which the file's version
        /// depends on [default: as for render].
        #[arg(long)]
        host: Option<String>,
    },
    /// Render every template (built-in and overrides) against a sample phone
    /// within its render budget and check XML output is well-formed; exits 1
    /// if any fails.
    CheckTemplates,
    /// Render the samples of the packs in DIR and report each problem as a
    /// JSON line: what `check-templates` and the server's reload run in a
    /// child process with a memory limit.
    #[command(hide = true)]
    SampleRenders {
        #[arg(long, value_name = "DIR")]
        templates: PathBuf,
    },
    /// Import device records from a CSV or XLSX file with Chinese or English
    /// headers, as POST /api/device_provisions/import takes it: all or nothing.
    /// With --extensions, import extensions as POST /api/extensions/import.
    Import {
        /// The CSV or XLSX file (or JSON rows, for devices). Devices: columns
        /// name, extn, vendor, mac and type (or 名称, 分机号, 供应商, MAC, 型号).
        /// Extensions: extn, name and password (or 分机号, 名称, 密码).
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Check every row and print the records that would be created; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// The file holds extensions (number, name, optional password; a
        /// blank password is generated), not devices.
        #[arg(long)]
        extensions: bool,
    },
    /// Tell phones to fetch their files again now (SIP NOTIFY, paced as the
    /// settings say), and show each one's outcome as it comes.
    Resync {
        /// Phones, by MAC (any spelling).
        macs: Vec<String>,
        /// Every phone whose last fetch is older than a change to its files.
        #[arg(long, conflicts_with_all = ["macs", "vendor"])]
        older: bool,
        /// Every phone of a family (any of its names).
        #[arg(long, conflicts_with = "macs")]
        vendor: Option<String>,
        /// Queue the push and exit; a running server sends it.
        #[arg(long)]
        no_wait: bool,
    },
    /// Write every device record to a file that `import` reads back.
    Export {
        /// The file to write; `-` is standard output.
        file: PathBuf,
        /// [default: from the file's extension, else csv]
        #[arg(long, value_enum)]
        format: Option<ExportFormat>,
        /// `zh-CN` for Chinese headers.
        #[arg(long)]
        language: Option<String>,
        /// Add each phone's config state (current, older, never), last
        /// fetch, address and firmware after the import's columns.
        #[arg(long)]
        status: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ExportFormat {
    Csv,
    Xlsx,
}

impl ExportFormat {
    fn of(file: &Path) -> ExportFormat {
        match file.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("xlsx") => ExportFormat::Xlsx,
            _ => ExportFormat::Csv,
        }
    }
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Add a user; the password is read from standard input.
    Add {
        login: String,
        /// Display name [default: the login].
        #[arg(long)]
        name: Option<String>,
        /// Make the user an administrator.
        #[arg(long)]
        admin: bool,
    },
    /// Set a user's password, read from standard input; signs the user out everywhere.
    SetPassword { login: String },
    /// Issue a new developer key for a user (replaces the old one) and print it.
    DevKey { login: String },
    /// End the lock that wrong passwords put on a login name, from every network.
    Unlock { login: String },
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    if let Command::SampleRenders { templates } = &cli.command {
        return match crate::packs::samples::render_in_this_process(templates) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("sipprov: {err:#}");
                ExitCode::FAILURE
            }
        };
    }
    if let Ok(executable) = std::env::current_exe() {
        crate::packs::samples::run_in_children(executable);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("sipprov: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(execute(cli));
    // Work still on the blocking pool (a file being read, a slow client's
    // request) does not hold the exit up.
    runtime.shutdown_timeout(SHUTDOWN_WAIT);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("sipprov: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// How long the exit waits for blocking work after the server stopped.
const SHUTDOWN_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

async fn execute(cli: Cli) -> anyhow::Result<()> {
    let flags = Overrides {
        serve: match &cli.command {
            Command::Serve(flags) => flags.clone(),
            _ => ServeFlags::default(),
        },
        data_dir: cli.data_dir,
        database_url: cli.database_url,
        log_format: cli.log_format,
    };
    let env: HashMap<String, String> = std::env::vars().collect();
    let settings = Settings::load(cli.config.as_deref(), &std::env::current_dir()?, &env, &flags)?;
    crate::telemetry::init(settings.log_format);

    match cli.command {
        Command::Serve(_) => serve(settings).await,
        Command::Migrate => {
            open_database(&settings).await?;
            println!("migrations applied to {}", redact_url(&settings.database_url()));
            Ok(())
        }
        Command::User(cmd) => user(settings, cmd).await,
        Command::Render {
            mac,
            file,
            user_agent,
            host,
        } => render(settings, &mac, file, &user_agent, host).await,
        Command::Explain {
            mac,
            file,
            user_agent,
            from,
            tftp,
            host,
        } => {
            let fetch = Asked {
                user_agent,
                from,
                over_tftp: tftp,
                host,
            };
            explain(settings, mac, file, fetch).await
        }
        Command::CheckTemplates => check_templates(&settings).await,
        // `run` answers it before starting a runtime; here for completeness.
        Command::SampleRenders { templates } => crate::packs::samples::render_in_this_process(&templates),
        Command::Import {
            file,
            dry_run,
            extensions: false,
        } => import(settings, &file, dry_run).await,
        Command::Import {
            file,
            dry_run,
            extensions: true,
        } => import_extensions(settings, &file, dry_run).await,
        Command::Export {
            file,
            format,
            language,
            status,
        } => export(settings, &file, format, language.as_deref(), status).await,
        Command::Resync {
            macs,
            older,
            vendor,
            no_wait,
        } => {
            let pick = match (older, vendor) {
                (true, _) => Pick::Older,
                (false, Some(vendor)) => Pick::Vendor(vendor),
                (false, None) if macs.is_empty() => bail!("name the phones: MACs, --older or --vendor"),
                (false, None) => Pick::Macs(macs),
            };
            resync(settings, pick, no_wait).await
        }
    }
}

/// The database, migrated, with its data dir made private first.
async fn open_database(settings: &Settings) -> anyhow::Result<Db> {
    state::make_data_dir(settings)?;
    let db = Db::connect(&settings.database_url()).await?;
    db.migrate().await?;
    Ok(db)
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let listen = settings.listen;
    tracing::info!(settings = ?settings, "starting");
    let (state, generated) = AppState::open(settings).await?;
    if let Some(password) = generated {
        // Shown once, on the console only; never logged.
        println!(
            "The administrator account is 'admin' with password: {password}\n(also in {}; change it with `sipprov user set-password admin`)",
            state.settings.data_dir.join(state::INITIAL_PASSWORD_FILE).display()
        );
    }
    let bind = |addr: SocketAddr| async move {
        tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))
    };
    let tls = |cert: &Option<PathBuf>, key: &Option<PathBuf>| match (cert, key) {
        (Some(cert), Some(key)) => app::tls_config(cert, key).map(Some),
        _ => Ok(None),
    };
    let settings = state.settings.clone();
    let api_tls = tls(&settings.tls_cert, &settings.tls_key)?;
    let phones_tls = tls(&settings.prov_tls_cert, &settings.prov_tls_key)?;
    let scheme = |tls: &Option<_>| if tls.is_some() { "https" } else { "http" };
    let listener = bind(listen).await?;
    tracing::info!(address = %listener.local_addr()?, role = "api", scheme = scheme(&api_tls), database = state.db.backend(), "listening");
    let phones = match settings.prov_listen {
        Some(addr) => {
            let l = bind(addr).await?;
            tracing::info!(address = %l.local_addr()?, role = "phones", scheme = scheme(&phones_tls), "listening");
            Some(l)
        }
        None => None,
    };
    // Phones that come by TFTP are sent on to the HTTP side meant for them.
    let (http_port, tls) = match &phones {
        Some(l) => (l.local_addr()?.port(), phones_tls.is_some()),
        None => (listener.local_addr()?.port(), api_tls.is_some()),
    };
    let tftp_options = tftp::TftpOptions {
        http_port,
        tls,
        serve_secrets: settings.tftp_serve_secrets,
    };
    let tftp_socket = match settings.tftp_listen {
        Some(addr) => {
            let socket = tokio::net::UdpSocket::bind(addr)
                .await
                .with_context(|| format!("binding {addr} (udp)"))?;
            tracing::info!(address = %socket.local_addr()?, role = "tftp", "listening");
            Some(socket)
        }
        None => None,
    };
    let metrics_listener = match settings.metrics_listen {
        Some(addr) => {
            let l = bind(addr).await?;
            tracing::info!(address = %l.local_addr()?, role = "metrics", "listening");
            Some(l)
        }
        None => None,
    };
    // One signal stops every listener.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        app::shutdown_signal().await;
        let _ = stop.send(true);
    });
    let until_stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let (db, fetches) = (state.db.clone(), state.provisioner.fetches.clone());
    let tftp_server = tftp_socket.map(|socket| {
        tokio::spawn(tftp::serve(
            socket,
            state.provisioner.clone(),
            tftp_options,
            until_stopped(stopped.clone()),
        ))
    });
    let limits = ConnectionLimits::of(&state.settings);
    // An HTTPS listener's routes say so to phones and browsers.
    let routes = |routes, tls: &Option<_>| if tls.is_some() { app::over_tls(routes) } else { routes };
    let phone_server = phones.map(|l| {
        let phone_routes = app::with_public_url(
            app::phone_router(state.clone()),
            state.settings.prov_public_url.as_deref(),
        );
        let phone_routes = routes(phone_routes, &phones_tls);
        tokio::spawn(listener::serve(
            l,
            phone_routes,
            phones_tls,
            limits,
            until_stopped(stopped.clone()),
        ))
    });
    let metrics_server = metrics_listener.map(|l| {
        let metrics = &state.provisioner.metrics;
        let phones = state.provisioner.clone();
        let registry = std::sync::Arc::new(metrics.registry(move || phones.counted()));
        let routes = crate::metrics::router(registry, metrics.clone(), state.db.clone());
        tokio::spawn(listener::serve(l, routes, None, limits, until_stopped(stopped.clone())))
    });
    let api_routes = app::with_public_url(app::router(state.clone()), state.settings.public_url.as_deref());
    let api_routes = routes(api_routes, &api_tls);
    let pushing = state.pusher.clone().spawn();
    listener::serve(listener, api_routes, api_tls, limits, until_stopped(stopped)).await?;
    pushing.abort();
    for server in [phone_server, tftp_server, metrics_server].into_iter().flatten() {
        server.await??;
    }
    // Fetches seen since the last flush are not lost on a clean stop.
    fetches.flush(&db).await;
    db.close().await;
    Ok(())
}

async fn user(settings: Settings, cmd: UserCommand) -> anyhow::Result<()> {
    let admin = state::command_admin(&settings).await?;
    let actor = Actor::command_line();
    match cmd {
        UserCommand::Add {
            login,
            name,
            admin: is_admin,
        } => {
            let password = read_password()?;
            let name = name.unwrap_or_else(|| login.clone());
            let id = admin
                .add_user(&actor, &login, &name, password, is_admin)
                .await
                .with_context(|| format!("adding user '{login}'"))?;
            println!("user '{login}' added with id {id}");
        }
        UserCommand::SetPassword { login } => {
            let password = read_password()?;
            admin.set_password(&actor, &login, password).await?;
            println!("password of '{login}' changed");
        }
        UserCommand::DevKey { login } => {
            println!("{}", admin.issue_dev_key(&actor, &login).await?);
        }
        UserCommand::Unlock { login } => {
            let networks = admin.unlock_login(&actor, &login).await?;
            println!("'{login}' unlocked ({networks} networks had wrong passwords counted)");
        }
    }
    admin.db.close().await;
    Ok(())
}

/// The host a rendered file names when none is given: the phones' public
/// URL's, else their listener's address, unless that is 0.0.0.0 or ::,
/// which no phone can reach.
fn default_render_host(settings: &Settings) -> anyhow::Result<String> {
    if let Some(url) = settings.prov_public_url.as_ref().or(settings.public_url.as_ref()) {
        let host = url.split("://").nth(1).unwrap_or(url);
        return Ok(host.split('/').next().unwrap_or(host).to_string());
    }
    let listen = settings.prov_listen.unwrap_or(settings.listen);
    if listen.ip().is_unspecified() {
        bail!(
            "--host: the listen address {listen} is no address a phone can reach; give --host (the name or address phones use) or set public_url"
        );
    }
    Ok(listen.to_string())
}

async fn render(
    settings: Settings,
    mac: &str,
    file: Option<String>,
    user_agent: &str,
    host: Option<String>,
) -> anyhow::Result<()> {
    let mac: Mac = mac.parse()?;
    let host = match host {
        Some(host) => host,
        None => default_render_host(&settings)?,
    };
    let (state, _) = AppState::open(settings).await?;
    let file = match file {
        Some(file) => file,
        None => config_file(&state, mac).await?,
    };
    let request = PhoneRequest {
        user_agent,
        ..PhoneRequest::look(&file, &host)
    };
    match state.provisioner.answer(&request).await {
        Answer::File(rendered) => {
            print!("{}", rendered.body);
            Ok(())
        }
        Answer::Forbidden => bail!("the User-Agent names another phone's MAC than {file}"),
        _ => bail!("a phone asking for {file} gets nothing: no such file, or no record for its MAC"),
    }
}

/// The main configuration file of the phone with `mac`, by its record's family.
async fn config_file(state: &AppState, mac: Mac) -> anyhow::Result<String> {
    let lines = state.db.phone_lines(&mac.lower()).await?;
    let packs = state.packs.current();
    let vendor = lines
        .first()
        .and_then(|l| packs.vendor(&l.vendor_code).ok())
        .with_context(|| format!("no phone record has MAC {mac}"))?;
    packs
        .config_file(vendor, mac)
        .context("this vendor has no file of its own")
}

/// How the fetch `explain` explains was asked.
struct Asked {
    user_agent: String,
    from: std::net::IpAddr,
    over_tftp: bool,
    host: Option<String>,
}

async fn explain(settings: Settings, mac: Option<String>, file: Option<String>, asked: Asked) -> anyhow::Result<()> {
    let Asked {
        user_agent,
        from,
        over_tftp,
        host,
    } = asked;
    // Where it is not one a phone can reach, the host only shows in the file's text.
    let host = host.unwrap_or_else(|| default_render_host(&settings).unwrap_or_else(|_| settings.listen.to_string()));
    let serve_secrets = settings.tftp_serve_secrets;
    let (state, _) = AppState::open(settings).await?;
    let file = match (file, mac) {
        (Some(file), _) => file,
        // A phone without a record: its file by the family its MAC's prefix names.
        (None, Some(mac)) => {
            let mac: Mac = mac.parse()?;
            match config_file(&state, mac).await {
                Ok(file) => file,
                Err(no_record) => {
                    let packs = state.packs.current();
                    let vendor = packs.vendor_of_oui(&mac).ok_or(no_record)?;
                    packs
                        .config_file(vendor, mac)
                        .context("this vendor has no file of its own")?
                }
            }
        }
        (None, None) => bail!("--file or --mac: which fetch to explain"),
    };
    let fetch = crate::provision::explain::Fetch {
        file: &file,
        user_agent: &user_agent,
        from,
        host: &host,
        over_tftp: over_tftp.then_some(serve_secrets),
    };
    let steps = state.provisioner.explain(&fetch).await;
    println!(
        "{file}, asked from {from}{}:",
        if over_tftp { " over TFTP" } else { "" }
    );
    for step in &steps {
        println!("  {step}");
    }
    if steps.iter().all(|s| s.passed) {
        Ok(())
    } else {
        bail!("the phone would not get {file}")
    }
}

/// Checks every pack, built-in and in the data dir: manifests, routes,
/// templates, and a render of each for a made-up phone. Each problem is
/// named with its file and, where it has one, its line.
async fn check_templates(settings: &Settings) -> anyhow::Result<()> {
    let overrides = settings.data_dir.join("templates");
    let loaded = Packs::load(&overrides);
    let mut problems = loaded.problems;
    let packs = std::sync::Arc::new(loaded.packs);
    // The packs on disk changing while they are checked is a problem too.
    problems.extend(
        crate::packs::samples::check(packs, &overrides, crate::packs::samples::Found::All)
            .await
            .unwrap_or_else(|| {
                vec![crate::packs::manifest::Problem {
                    file: overrides.display().to_string(),
                    line: None,
                    message: "the packs changed while they were checked; run check-templates again".into(),
                }]
            }),
    );
    for file in &loaded.files {
        if !problems.iter().any(|p| p.file == *file) {
            println!("ok    {file}");
        }
    }
    for problem in &problems {
        println!("FAIL  {problem}");
    }
    if !problems.is_empty() {
        bail!("{} problem(s) in the vendor packs", problems.len());
    }
    Ok(())
}

/// Imports a file through the admin core, as the API's import does: the
/// same limits, checks, report and single transaction, recorded in the
/// operation log as the command line's.
async fn import(settings: Settings, file: &Path, dry_run: bool) -> anyhow::Result<()> {
    let bytes = read_upload(file)?;
    let failed = |err: admin::Error| import_failure(file, err);
    // Multipart uploads are read the same way: any of CSV, XLSX or JSON rows.
    let rows = rows_from_bytes(&bytes, false).map_err(failed)?;
    drop(bytes);
    let admin = state::command_admin(&settings).await?;
    let bar = import_progress(rows.len());
    let on_step = |step| match step {
        Step::Checking => bar.set_message("checking"),
        Step::Written(rows) => {
            bar.set_message("writing");
            bar.inc(rows as u64);
            // Cleared before the commit's log line, which would leave it stale on screen.
            if Some(bar.position()) == bar.length() {
                bar.finish_and_clear();
            }
        }
    };
    let imported = admin
        .import_devices(&Actor::command_line(), rows, dry_run, &on_step)
        .await;
    bar.finish_and_clear();
    admin.db.close().await;
    match imported.map_err(failed)? {
        Imported::Created(created) => println!("{} device records imported from {}", created.len(), file.display()),
        // The API's own report, row by row: what a script or jq reads.
        planned => println!("{}", serde_json::to_string_pretty(&imported_rows(planned))?),
    }
    Ok(())
}

/// Imports extensions through the admin core, as the API's import does.
async fn import_extensions(settings: Settings, file: &Path, dry_run: bool) -> anyhow::Result<()> {
    let bytes = read_upload(file)?;
    let failed = |err: admin::Error| import_failure(file, err);
    let rows = rows_from_sheet(&bytes).map_err(failed)?;
    drop(bytes);
    let admin = state::command_admin(&settings).await?;
    let imported = admin.import_extensions(&Actor::command_line(), rows, dry_run).await;
    admin.db.close().await;
    match imported.map_err(failed)? {
        ImportedExtensions::Created(created) => {
            println!("{} extensions imported from {}", created.len(), file.display())
        }
        planned => println!("{}", serde_json::to_string_pretty(&imported_extensions(planned))?),
    }
    Ok(())
}

/// A file's bytes, read no further than the API's upload limit, so that no
/// file can make sipprov hold more than an upload could.
fn read_upload(file: &Path) -> anyhow::Result<Vec<u8>> {
    let opened = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let mut bytes = Vec::new();
    opened
        .take(IMPORT_BODY_LIMIT as u64 + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {}", file.display()))?;
    if bytes.len() > IMPORT_BODY_LIMIT {
        bail!(
            "{} is larger than {} MiB, the most one import takes",
            file.display(),
            IMPORT_BODY_LIMIT / (1024 * 1024)
        );
    }
    Ok(bytes)
}

/// The import's error with every bad row on a line of its own: row, column,
/// value and reason, as the API lists them.
fn import_failure(file: &Path, err: admin::Error) -> anyhow::Error {
    let admin::Error::Rows { message, rows: errors } = err else {
        return anyhow::Error::new(err).context(format!("importing {}", file.display()));
    };
    let mut text = format!("importing {}: {message}", file.display());
    for error in errors {
        text.push_str(&format!("\n  row {}", error.row));
        if !error.column.is_empty() {
            text.push_str(&format!(", {}", error.column));
        }
        if !error.value.is_empty() {
            text.push_str(&format!(" '{}'", error.value));
        }
        text.push_str(&format!(": {}", error.reason));
    }
    anyhow::anyhow!(text)
}

/// Rows done and rows per second, on standard error when it is a terminal;
/// indicatif's stderr target draws nothing anywhere else.
fn import_progress(rows: usize) -> ProgressBar {
    let style = ProgressStyle::with_template("{msg:>8} {wide_bar} {pos}/{len} rows, {rate}")
        .expect("the template is valid")
        .with_key("rate", |state: &ProgressState, out: &mut dyn std::fmt::Write| {
            let _ = write!(out, "{:.0} rows/s", state.per_sec());
        });
    let bar = ProgressBar::with_draw_target(Some(rows as u64), ProgressDrawTarget::stderr()).with_style(style);
    // Checking shows no rows moving; the tick keeps the time and rate current.
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

/// Queues a push and, unless told not to, sends it from here (beside any
/// running server: each row is taken once) until every phone has an
/// outcome, with a progress bar on a terminal.
async fn resync(settings: Settings, pick: Pick, no_wait: bool) -> anyhow::Result<()> {
    let admin = state::command_admin(&settings).await?;
    let started = admin
        .push(&Actor::command_line(), pick)
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    println!("push {} queued for {} phones", started.job, started.phones);
    if no_wait {
        admin.db.close().await;
        return Ok(());
    }
    let pusher = std::sync::Arc::new(crate::push::Pusher::new(
        admin.clone(),
        crate::metrics::Metrics::default(),
    ));
    let sending = pusher.spawn();
    let style =
        ProgressStyle::with_template("{wide_bar} {pos}/{len} phones told {msg}").expect("the template is valid");
    let bar =
        ProgressBar::with_draw_target(Some(started.phones as u64), ProgressDrawTarget::stderr()).with_style(style);
    let report = loop {
        let report = admin.push_report(started.job).await.map_err(|e| anyhow::anyhow!(e))?;
        let waiting = report.waiting as usize;
        bar.set_position(started.phones.saturating_sub(waiting) as u64);
        bar.set_message(counts_line(&report.counts));
        if waiting == 0 {
            break report;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    bar.finish_and_clear();
    sending.abort();
    admin.db.close().await;
    for phone in report
        .phones
        .iter()
        .filter(|p| !["answered", "confirmed"].contains(&p.state.as_str()))
    {
        println!("{} {}: {}", phone.mac, phone.state, phone.detail);
    }
    println!("push {}: {}", started.job, counts_line(&report.counts));
    Ok(())
}

/// `answered 3, failed 1`.
fn counts_line(counts: &std::collections::BTreeMap<String, usize>) -> String {
    counts
        .iter()
        .map(|(state, n)| format!("{state} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Writes every live record, with the model, in the import's columns.
async fn export(
    settings: Settings,
    file: &Path,
    format: Option<ExportFormat>,
    language: Option<&str>,
    with_status: bool,
) -> anyhow::Result<()> {
    let format = format.unwrap_or_else(|| ExportFormat::of(file));
    let admin = state::command_admin(&settings).await?;
    let every = ListParams::from_map(HashMap::new())?;
    let headers = Headers::for_language(language);
    let table = if with_status {
        export::table_with_status(admin.export_devices_with_status(&every).await?, headers)
    } else {
        export::table(admin.export_devices(&every).await?, headers, Model::Kept)
    };
    admin.db.close().await;
    let count = table.len() - 1;
    let bytes = match format {
        ExportFormat::Csv => export::csv_bytes(&table)?,
        ExportFormat::Xlsx => export::xlsx_bytes(&table)?,
    };
    if file == Path::new("-") {
        std::io::stdout().write_all(&bytes)?;
    } else {
        std::fs::write(file, bytes).with_context(|| format!("writing {}", file.display()))?;
        println!("{count} device records exported to {}", file.display());
    }
    Ok(())
}

/// A password from the terminal (asked twice) or the first line of stdin.
fn read_password() -> anyhow::Result<String> {
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        if rpassword::prompt_password("Again: ")? != first {
            bail!("the two passwords differ");
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    if password.chars().count() < 8 {
        bail!("the password is too short: at least 8 characters");
    }
    Ok(password)
}
