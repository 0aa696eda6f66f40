//! Every command: finding the package, its settings, atomic writes, output and help.

mod common;

use common::{Pkg, run_in};

#[test]
fn outside_a_package_artisan_says_so() {
    let dir = tempfile::tempdir().expect("tmp");
    let run = run_in(dir.path(), &["make:event", "UserRegistered"], &[]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("could not find `Cargo.toml`"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 0);
}

#[test]
fn a_workspace_manifest_is_not_a_package() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("Cargo.toml"), "[workspace]\nmembers = []\n").expect("w");
    let run = run_in(dir.path(), &["event:generate"], &[]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("is a workspace manifest, not a package"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_folder_that_cannot_be_written_leaves_no_half_written_state() {
    let pkg = Pkg::new();
    pkg.artisan(&["make:event", "UserRegistered"]).ok();
    // `src/listeners` is a file, so the listener cannot be written; the event
    // artisan would create for it must not appear either.
    std::fs::remove_dir_all(pkg.file("src/listeners")).expect("rm");
    pkg.write("src/listeners", "not a folder");
    let before = pkg.snapshot();
    let run = pkg.artisan(&["make:listener", "ShipIt", "--event", "OrderShipped"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("src/listeners"), "{}", run.stderr);
    assert_eq!(pkg.snapshot(), before);
}

/// Makes `dir` unwritable until dropped: `chmod 555`, and for root (whom
/// permissions do not stop) `chattr +i`. `None` when neither works here.
#[cfg(unix)]
struct ReadOnly(std::path::PathBuf);

#[cfg(unix)]
impl ReadOnly {
    fn new(dir: &std::path::Path) -> Option<ReadOnly> {
        use std::os::unix::fs::PermissionsExt;
        let guard = ReadOnly(dir.to_path_buf());
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).ok()?;
        if guard.writable() {
            let _ = std::process::Command::new("chattr")
                .arg("+i")
                .arg(dir)
                .status();
        }
        if guard.writable() { None } else { Some(guard) }
    }

    fn writable(&self) -> bool {
        let probe = self.0.join(".probe");
        let ok = std::fs::write(&probe, "x").is_ok();
        let _ = std::fs::remove_file(probe);
        ok
    }
}

#[cfg(unix)]
impl Drop for ReadOnly {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(&self.0)
            .stderr(std::process::Stdio::null())
            .status();
        let _ = std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(0o755));
    }
}

#[cfg(unix)]
#[test]
fn a_read_only_folder_is_refused_cleanly() {
    let pkg = Pkg::new();
    pkg.artisan(&[
        "make:listener",
        "SendWelcomeEmail",
        "--event",
        "UserRegistered",
    ])
    .ok();
    let Some(guard) = ReadOnly::new(&pkg.file("src/listeners")) else {
        eprintln!(
            "skipped: cannot make a folder read-only here (no chattr, permissions not enforced)"
        );
        return;
    };
    let before = pkg.snapshot();
    // The listener cannot be written; the event it needs, the mod files and
    // the registry could be, and must not be: all or nothing.
    let run = pkg.artisan(&["make:listener", "ShipIt", "--event", "OrderShipped"]);
    drop(guard);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("cannot write in"), "{}", run.stderr);
    assert!(run.stderr.contains("src/listeners"), "{}", run.stderr);
    assert!(run.stderr.contains("nothing was written"), "{}", run.stderr);
    assert_eq!(pkg.snapshot(), before);
}

#[test]
fn works_from_a_subdirectory_and_with_manifest_path() {
    let pkg = Pkg::new();
    std::fs::create_dir_all(pkg.file("src/deep/er")).expect("mkdir");
    run_in(
        &pkg.file("src/deep/er"),
        &["make:event", "UserRegistered"],
        &[],
    )
    .ok();
    assert!(pkg.exists("src/events/user_registered.rs"));

    let elsewhere = tempfile::tempdir().expect("tmp");
    let manifest = pkg.file("Cargo.toml");
    let manifest = manifest.to_str().expect("utf-8 path");
    run_in(
        elsewhere.path(),
        &["--manifest-path", manifest, "make:event", "OrderShipped"],
        &[],
    )
    .ok();
    // After the subcommand too, like cargo.
    run_in(
        elsewhere.path(),
        &["make:event", "OrderPaid", "--manifest-path", manifest],
        &[],
    )
    .ok();
    assert!(pkg.exists("src/events/order_shipped.rs"));
    assert!(pkg.exists("src/events/order_paid.rs"));
    assert_eq!(std::fs::read_dir(elsewhere.path()).expect("ls").count(), 0);
}

#[test]
fn paths_come_from_package_metadata() {
    let pkg = Pkg::with_manifest_extra(
        "\n[package.metadata.artisan]\nevents = \"src/domain_events\"\nlisteners = \"src/handlers\"\nregistry = \"src/wiring.rs\"\n",
    );
    pkg.artisan(&[
        "make:listener",
        "SendWelcomeEmail",
        "--event",
        "UserRegistered",
    ])
    .ok();
    assert!(pkg.exists("src/domain_events/user_registered.rs"));
    assert!(pkg.exists("src/handlers/send_welcome_email.rs"));
    assert!(
        pkg.read("src/handlers/send_welcome_email.rs")
            .contains("use crate::domain_events::UserRegisteredEvent;")
    );
    assert!(
        pkg.read("src/wiring.rs")
            .contains("crate::handlers::send_welcome_email::SendWelcomeEmailListener")
    );
    let main = pkg.read("src/main.rs");
    assert!(
        main.starts_with("mod domain_events;\nmod handlers;\nmod wiring;\n"),
        "{main}"
    );
}

#[test]
fn a_lib_crate_gets_pub_mod_lines() {
    let pkg = Pkg::new();
    pkg.write("src/lib.rs", "//! My library.\n\npub fn hello() {}\n");
    pkg.artisan(&["make:event", "UserRegistered"]).ok();
    assert_eq!(
        pkg.read("src/lib.rs"),
        "//! My library.\n\npub mod event_registry;\npub mod events;\npub mod listeners;\n\npub fn hello() {}\n"
    );
    assert_eq!(
        pkg.read("src/main.rs"),
        "fn main() {\n    println!(\"Hello, world!\");\n}\n"
    );
}

#[test]
fn a_relative_manifest_path_works_like_cargo_run_from_a_workspace() {
    let pkg = Pkg::new();
    let parent = pkg.path().parent().expect("parent");
    let name = pkg
        .path()
        .file_name()
        .and_then(|n| n.to_str())
        .expect("name");
    let manifest = format!("{name}/Cargo.toml");
    run_in(
        parent,
        &["--manifest-path", &manifest, "make:event", "OrderShipped"],
        &[],
    )
    .ok();
    assert!(pkg.exists("src/events/order_shipped.rs"));
    // A folder is accepted too.
    run_in(
        parent,
        &["--manifest-path", name, "make:event", "OrderPaid"],
        &[],
    )
    .ok();
    assert!(pkg.exists("src/events/order_paid.rs"));
    let run = run_in(
        parent,
        &["--manifest-path", "no/such/Cargo.toml", "event:list"],
        &[],
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("cannot read no/such/Cargo.toml"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_misspelt_setting_is_refused_with_the_allowed_keys() {
    let pkg = Pkg::with_manifest_extra("\n[package.metadata.artisan]\nevent = \"src/ev\"\n");
    let before = pkg.snapshot();
    let run = pkg.artisan(&["make:event", "UserRegistered"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("unknown field `event`"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("`events`"), "{}", run.stderr);
    assert_eq!(pkg.snapshot(), before);

    let pkg =
        Pkg::with_manifest_extra("\n[package.metadata.artisan]\nevents = \"src/deep/events\"\n");
    let run = pkg.artisan(&["make:event", "UserRegistered"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("must be a module beside the crate root"),
        "{}",
        run.stderr
    );
}

#[test]
fn colour_only_when_asked_and_never_with_no_color() {
    let pkg = Pkg::new();
    let forced = run_in(
        pkg.path(),
        &["make:event", "A"],
        &[("!NO_COLOR", ""), ("CLICOLOR_FORCE", "1")],
    )
    .ok();
    assert!(forced.stdout.contains("\u{1b}["), "{}", forced.stdout);
    let never = run_in(
        pkg.path(),
        &["make:event", "B"],
        &[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")],
    )
    .ok();
    assert!(!never.stdout.contains('\u{1b}'), "{}", never.stdout);
    let piped = run_in(pkg.path(), &["make:event", "C"], &[("!NO_COLOR", "")]).ok();
    assert!(!piped.stdout.contains('\u{1b}'), "{}", piped.stdout);
}

#[test]
fn every_command_has_help_with_an_example() {
    let dir = tempfile::tempdir().expect("tmp");
    for command in [
        "make:event",
        "make:listener",
        "event:list",
        "event:generate",
        "stub:publish",
    ] {
        let run = run_in(dir.path(), &[command, "--help"], &[]);
        assert_eq!(run.code, 0, "{command}: {}", run.all());
        assert!(run.stdout.contains("Example"), "{command}: {}", run.stdout);
        assert!(
            run.stdout.contains(&format!("artisan {command}")),
            "{command}: {}",
            run.stdout
        );
    }
    let run = run_in(dir.path(), &["--help"], &[]);
    assert!(run.stdout.contains("make:listener"), "{}", run.stdout);
}
