//! `artisan init`: the app's own artisan binary, dependencies, `default-run`,
//! `.env.example`, the provider hook and the boot in `main`; idempotent, and
//! nothing written on refusal.
//! (The road through the binary it writes is in `e2e.rs`.)

mod common;

use common::{Pkg, assert_refused, run_in};

#[test]
fn init_writes_the_binary_the_dependencies_the_env_example_and_the_wiring() {
    let pkg = Pkg::new();
    pkg.write(
        "Cargo.toml",
        &pkg.read("Cargo.toml")
            .replace("anyhow = \"1\"\n", "")
            .replace("tokio = { version = \"1\", features = [\"full\"] }\n", ""),
    );
    pkg.write(
        "src/main.rs",
        "#[tokio::main]\nasync fn main() -> anyhow::Result<()> {\n    println!(\"hi\");\n    Ok(())\n}\n",
    );
    let run = pkg.artisan(&["init"]).ok();
    let bin = pkg.read("src/bin/artisan.rs");
    assert!(bin.contains("event_artisan::App::new()"), "{bin}");
    assert!(bin.contains(".boot(event_registry::boot)"), "{bin}");
    assert!(bin.contains(".jobs(event_registry::job_registry)"), "{bin}");
    assert!(bin.contains("#[path = \"../events/mod.rs\"]"), "{bin}");
    let manifest = pkg.read("Cargo.toml");
    assert!(
        manifest.contains("\nevent-artisan = { path = "),
        "{manifest}"
    );
    assert!(manifest.contains("\nanyhow = \"1\"\n"), "{manifest}");
    assert!(
        manifest.contains("\ntokio = { version = \"1\""),
        "{manifest}"
    );
    assert!(
        run.stdout
            .contains("added `event-artisan`, `tokio`, `anyhow`, `default-run = \"shop\"`"),
        "{}",
        run.stdout
    );
    // `cargo run` runs the app, not its artisan.
    assert!(
        manifest.contains("edition = \"2024\"\ndefault-run = \"shop\"\n\n[dependencies]"),
        "{manifest}"
    );
    // Every variable the config reader reads, with its default and a comment.
    let env = pkg.read(".env.example");
    let variables = event_core::config::variables();
    assert!(variables.len() >= 20, "{variables:?}");
    for v in variables {
        let line = format!("\n# {}\n{}={}\n", v.help, v.name, v.default);
        assert!(env.contains(&line), "{line} missing:\n{env}");
    }
    for line in [
        "EVENTS_QUEUE_CONNECTION=sync",
        "EVENTS_STORE_URL=sqlite://events.db",
        "EVENTS_BROADCAST_APP_KEY=",
    ] {
        assert!(env.contains(line), "{line} missing:\n{env}");
    }
    // The boot first, the shutdown before the result.
    let main = pkg.read("src/main.rs");
    assert!(
        main.contains(
            "async fn main() -> anyhow::Result<()> {\n    \
             let events = event_registry::boot(&event_registry::config()?).await?;\n    \
             println!(\"hi\");\n    events.shutdown().await?;\n    Ok(())\n}"
        ),
        "{main}"
    );
    assert!(
        pkg.read("src/event_provider.rs")
            .contains("pub async fn boot(")
    );
    assert!(
        pkg.read("src/event_registry.rs")
            .contains("#[path = \"event_provider.rs\"]\nmod provider;")
    );
    assert!(pkg.exists("src/event_registry.rs"));
    assert!(main.contains("mod event_registry;"), "{main}");

    let before = pkg.snapshot();
    let again = pkg.artisan(&["init"]).ok();
    assert_eq!(pkg.snapshot(), before, "a second init changed files");
    assert!(again.stdout.contains("already"), "{}", again.stdout);
}

#[test]
fn a_library_package_gets_a_binary_that_uses_the_library() {
    let pkg = Pkg::new();
    pkg.write("src/lib.rs", "//! The shop.\n");
    pkg.artisan(&["init"]).ok();
    let bin = pkg.read("src/bin/artisan.rs");
    assert!(
        bin.contains(".jobs(shop::event_registry::job_registry)"),
        "{bin}"
    );
    assert!(!bin.contains("#[path"), "{bin}");
    assert!(pkg.read("src/lib.rs").contains("pub mod event_registry;"));
}

#[test]
fn cargo_new_s_main_becomes_an_async_main_that_boots() {
    let pkg = Pkg::new();
    pkg.artisan(&["init"]).ok();
    let main = pkg.read("src/main.rs");
    assert!(
        main.ends_with(
            "#[tokio::main]\nasync fn main() -> anyhow::Result<()> {\n    \
             let events = event_registry::boot(&event_registry::config()?).await?;\n    \
             println!(\"Hello, world!\");\n    events.shutdown().await?;\n    Ok(())\n}\n"
        ),
        "{main}"
    );
}

#[test]
fn a_main_artisan_cannot_recognise_gets_the_exact_lines_to_add() {
    let pkg = Pkg::new();
    pkg.write(
        "src/main.rs",
        "fn main() -> std::process::ExitCode {\n    std::process::ExitCode::SUCCESS\n}\n",
    );
    let before = pkg.read("src/main.rs");
    let run = pkg.artisan(&["init"]).ok();
    assert!(
        run.all().contains(
            "that starts with\n    let events = event_registry::boot(&event_registry::config()?).await?;\n\
             and ends with\n    events.shutdown().await?;"
        ),
        "{}",
        run.all()
    );
    // Only the mod lines were added.
    let after = pkg.read("src/main.rs");
    assert!(after.ends_with(&before), "{after}");
    assert!(!after.contains("boot("), "{after}");
}

#[test]
fn init_outside_a_package_is_refused_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = run_in(dir.path(), &["init"], &[]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.all().contains("could not find `Cargo.toml`"),
        "{}",
        run.all()
    );
    assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 0);
}

#[test]
fn init_refuses_a_main_that_does_not_parse_and_writes_nothing() {
    let pkg = Pkg::new();
    pkg.write("src/main.rs", "fn main() {\n    let x = (1;\n}\n");
    assert_refused(&pkg, &["init"], 1, "src/main.rs:");
}
