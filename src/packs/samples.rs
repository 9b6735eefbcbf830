//! Sample renders of every pack, as the reload and `check-templates` run
//! them: a template that goes over its render budget on the sample phone
//! is refused before any phone asks for it. When sipprov runs as its own
//! binary they run in a child process (`sipprov sample-renders`) with a
//! memory limit and a deadline, so not even a template that loops without
//! calling anything the budget sees, or doubles a string until memory runs
//! out, can hang or kill the server: the child is killed, and the template
//! it was rendering is named. Embedded as a library (the tests), they run
//! on a thread of their own with the same deadline.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, BufReader};

use super::manifest::Problem;
use super::{Packs, SampleProblems};

/// How long all sample renders together may take.
pub const SAMPLE_DEADLINE: Duration = Duration::from_secs(10);
/// The most memory the child that renders them may map.
pub const SAMPLE_MEMORY: u64 = 1 << 30;

/// The sipprov binary, once it is known this process is one.
static EXECUTABLE: OnceLock<PathBuf> = OnceLock::new();

/// Called by the binary's `main`: sample renders may run in children.
pub fn run_in_children(executable: PathBuf) {
    let _ = EXECUTABLE.set(executable);
}

/// Which problems of the sample renders count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// Renders over their budget: what a server refuses to take.
    OverBudget,
    /// Every problem: what `check-templates` reports.
    All,
}

/// One line the child prints.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Report {
    /// About to render this template.
    Rendering(String),
    Problem {
        file: String,
        line: Option<usize>,
        message: String,
        /// A render went over its budget, which the server refuses.
        over_budget: bool,
    },
    /// Every sample rendered; the packs' print, to match with the parent's.
    Done(u64),
}

/// The child: renders the samples of the packs in `overrides`, printing a
/// line as it starts each template and one per problem. Its memory is
/// limited first, so running out ends it instead of the machine.
pub fn render_in_this_process(overrides: &Path) -> anyhow::Result<()> {
    rustix::process::setrlimit(
        rustix::process::Resource::As,
        rustix::process::Rlimit {
            current: Some(SAMPLE_MEMORY),
            maximum: Some(SAMPLE_MEMORY),
        },
    )?;
    let loaded = Packs::load(overrides);
    let out = std::io::stdout();
    let say = |report: Report| {
        let mut out = out.lock();
        let _ = serde_json::to_writer(&mut out, &report);
        let _ = out.write_all(b"\n");
        let _ = out.flush();
    };
    let found = loaded
        .packs
        .check_renders_telling(|label| say(Report::Rendering(label.to_string())));
    let over_budget = found.over_budget.into_iter().map(|p| (p, true));
    for (problem, over_budget) in over_budget.chain(found.others.into_iter().map(|p| (p, false))) {
        say(Report::Problem {
            file: problem.file,
            line: problem.line,
            message: problem.message,
            over_budget,
        });
    }
    say(Report::Done(loaded.packs.print()));
    Ok(())
}

/// The problems the sample renders of `packs` (read from `overrides`)
/// find, within [`SAMPLE_DEADLINE`]. `None` when the packs on disk changed
/// from `packs` meanwhile: look again.
pub async fn check(packs: Arc<Packs>, overrides: &Path, wanted: Found) -> Option<Vec<Problem>> {
    let found = match EXECUTABLE.get() {
        Some(executable) => in_child(executable, &packs, overrides).await?,
        None => on_a_thread(packs).await,
    };
    Some(match wanted {
        Found::OverBudget => found.over_budget,
        Found::All => found.over_budget.into_iter().chain(found.others).collect(),
    })
}

/// A sample render that never finished: the template it was on, if known.
fn unfinished(file: Option<String>, why: &str) -> SampleProblems {
    SampleProblems {
        over_budget: vec![Problem {
            file: file.unwrap_or_else(|| "the vendor packs".into()),
            line: None,
            message: format!("its sample render went over its budget: {why}"),
        }],
        others: Vec::new(),
    }
}

fn ran_too_long() -> String {
    format!("it ran longer than {}", humantime::format_duration(SAMPLE_DEADLINE))
}

async fn in_child(executable: &Path, packs: &Packs, overrides: &Path) -> Option<SampleProblems> {
    let mut child = match tokio::process::Command::new(executable)
        .arg("sample-renders")
        .arg("--templates")
        .arg(overrides)
        // mimalloc reserves address space a gigabyte at a time, which the
        // child's limit on address space would refuse as out of memory.
        .env("MIMALLOC_ARENA_RESERVE", "32MiB")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(child) => child,
        Err(err) => {
            return Some(unfinished(
                None,
                &format!("cannot start {}: {err}", executable.display()),
            ));
        }
    };
    let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let mut found = SampleProblems::default();
    let mut rendering = None;
    let mut print = None;
    let read = async {
        while let Ok(Some(line)) = lines.next_line().await {
            match serde_json::from_str::<Report>(&line) {
                Ok(Report::Rendering(label)) => rendering = Some(label),
                Ok(Report::Problem {
                    file,
                    line,
                    message,
                    over_budget,
                }) => {
                    let problem = Problem { file, line, message };
                    match over_budget {
                        true => found.over_budget.push(problem),
                        false => found.others.push(problem),
                    }
                }
                Ok(Report::Done(done)) => print = Some(done),
                Err(_) => {}
            }
        }
    };
    let timed_out = tokio::time::timeout(SAMPLE_DEADLINE, read).await.is_err();
    let _ = child.start_kill();
    let status = child.wait().await.ok();
    match print {
        Some(print) if print == packs.print() => Some(found),
        Some(_) => None,
        None if timed_out => Some(unfinished(rendering, &ran_too_long())),
        None => {
            let how = status.map_or("it ended".to_string(), |s| s.to_string());
            let why = format!("it ran out of its {} MiB of memory ({how})", SAMPLE_MEMORY >> 20);
            Some(unfinished(rendering, &why))
        }
    }
}

async fn on_a_thread(packs: Arc<Packs>) -> SampleProblems {
    let (done, result) = tokio::sync::oneshot::channel();
    let rendering = Arc::new(Mutex::new(None::<String>));
    let seen = rendering.clone();
    std::thread::Builder::new()
        .name("sample-renders".into())
        .spawn(move || {
            let found =
                packs.check_renders_telling(|label| *seen.lock().expect("sample lock") = Some(label.to_string()));
            let _ = done.send(found);
        })
        .expect("a thread starts");
    match tokio::time::timeout(SAMPLE_DEADLINE, result).await {
        Ok(Ok(found)) => found,
        _ => unfinished(rendering.lock().expect("sample lock").clone(), &ran_too_long()),
    }
}
