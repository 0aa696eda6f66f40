//! The tera templates artisan renders: built into the binary, overridden by
//! files of the same name in the package's `templates/artisan/` (see
//! `stub:publish`).

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::project::Project;

/// Every template: its file name and built-in text.
pub const BUILT_IN: &[(&str, &str)] = &[
    (
        "event.rs.tera",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/templates/event.rs.tera"
        )),
    ),
    (
        "listener.rs.tera",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/templates/listener.rs.tera"
        )),
    ),
    (
        "listener_any.rs.tera",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/templates/listener_any.rs.tera"
        )),
    ),
    (
        "subscriber.rs.tera",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/templates/subscriber.rs.tera"
        )),
    ),
    (
        "mod.rs.tera",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/templates/mod.rs.tera"
        )),
    ),
    (
        "event_provider.rs.tera",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/templates/event_provider.rs.tera"
        )),
    ),
    (
        "event_registry.rs.tera",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/templates/event_registry.rs.tera"
        )),
    ),
];

/// Renders the package's override of `name` if it has one, else the built-in.
pub fn render(project: &Project, name: &str, context: &tera::Context) -> Result<String> {
    let (source, origin) = source(project, name)?;
    let mut tera = tera::Tera::default();
    tera.autoescape_on(vec![]);
    tera.add_raw_template(name, &source)
        .map_err(|e| anyhow::anyhow!(chain(&e)))
        .with_context(|| format!("the template {origin} does not parse"))?;
    let text = tera
        .render(name, context)
        .map_err(|e| anyhow::anyhow!(chain(&e)))
        .with_context(|| format!("the template {origin} does not render"))?;
    Ok(tidy(&text))
}

/// Lays out a scaffolded file the way `cargo fmt` would, when a long name
/// pushed a line past rustfmt's width; templates are written formatted for
/// names of usual length, so rustfmt runs only then. rustfmt runs in the
/// package, so its `rustfmt.toml` applies. Without rustfmt the text is kept.
pub fn fit_width(project: &Project, text: String) -> String {
    if text.lines().all(|l| l.chars().count() <= 100) {
        return text;
    }
    let child = std::process::Command::new("rustfmt")
        .args(["--edition", &project.edition, "--emit", "stdout"])
        .current_dir(&project.dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn();
    let Ok(mut child) = child else { return text };
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        if stdin.write_all(text.as_bytes()).is_err() {
            let _ = child.kill();
            let _ = child.wait();
            return text;
        }
    }
    match child.wait_with_output() {
        Ok(out) if out.status.success() && !out.stdout.is_empty() => {
            String::from_utf8(out.stdout).unwrap_or(text)
        }
        _ => text,
    }
}

/// Template control tags leave stray blank lines and trailing spaces;
/// rustfmt would flag them, so they go: no trailing spaces, no more than one
/// blank line in a row, one newline at the end.
pub fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank += 1;
            if blank > 1 || out.is_empty() {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

fn source(project: &Project, name: &str) -> Result<(String, String)> {
    let custom: PathBuf = project.templates.join(name);
    match std::fs::read_to_string(&custom) {
        Ok(text) => Ok((text, project.rel(&custom))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let text = BUILT_IN
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, t)| (*t).to_string())
                .with_context(|| format!("no built-in template {name}"))?;
            Ok((text, format!("{name} (built in)")))
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", custom.display())),
    }
}

/// Tera hides the useful part of an error in its sources.
fn chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::tidy;

    #[test]
    fn tidy_leaves_one_blank_line_and_one_final_newline() {
        assert_eq!(tidy("\n\na  \n\n\n\nb\t\n\n\n"), "a\n\nb\n");
        assert_eq!(tidy(""), "");
        assert_eq!(tidy("x"), "x\n");
    }
}
