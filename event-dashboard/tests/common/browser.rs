//! Driving a tests/js script in headless Chromium: whether it can run here,
//! one browser at a time per test process, and the line protocol (the
//! script prints a line, the test acts and answers `go` on stdin, until
//! `PASS` or `FAIL ...`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Why a browser test cannot run here, if it cannot.
fn missing() -> Option<String> {
    let js = workspace().join("tests/js");
    if std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_err()
    {
        return Some("node is not installed".into());
    }
    if !Path::new("/usr/bin/chromium").exists() {
        return Some("/usr/bin/chromium is not installed (apt-get install chromium)".into());
    }
    if !js.join("node_modules/ws").exists() || !js.join("node_modules/axe-core").exists() {
        return Some("the npm packages are missing: `npm ci` in tests/js".into());
    }
    None
}

/// True when `what` cannot run here: prints `skipped: ...`, or panics with
/// `EVENTS_TEST_REQUIRE_BROWSER=1`.
pub fn skip(what: &str) -> bool {
    let Some(why) = missing() else { return false };
    if std::env::var("EVENTS_TEST_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
        panic!("EVENTS_TEST_REQUIRE_BROWSER=1 but {why}");
    }
    println!("skipped: {what}: {why}");
    true
}

/// One Chromium at a time in a test process: the pages' timing checks are
/// about the dashboard, not about browsers fighting for two cores.
pub static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs `tests/js/<script>` with `args`; for every line it prints, `act`
/// runs and, when it answers true, the script is told `go`. Panics unless
/// the script ends with `PASS`. Returns the lines it printed.
pub async fn drive(
    script: &str,
    args: &[OsString],
    mut act: impl AsyncFnMut(&str) -> bool,
) -> Vec<String> {
    let _one = ONE_BROWSER.lock().await;
    let mut node = tokio::process::Command::new("node")
        .arg(workspace().join("tests/js").join(script))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start node");
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    let mut stdin = node.stdin.take().unwrap();
    let mut seen = Vec::new();
    while let Ok(Ok(Some(line))) =
        tokio::time::timeout(Duration::from_secs(150), lines.next_line()).await
    {
        println!("node: {line}");
        if act(&line).await {
            stdin.write_all(b"go\n").await.expect("answer node");
        }
        let done = line == "PASS" || line.starts_with("FAIL");
        seen.push(line);
        if done {
            break;
        }
    }
    let status = node.wait().await.expect("node exits");
    assert!(
        status.success() && seen.iter().any(|l| l == "PASS"),
        "the browser run of {script} failed: {seen:#?}"
    );
    seen
}
