//! `artisan list` and bare `artisan`: the commands on stdout, exit 0.

mod common;

use common::Pkg;

#[test]
fn list_and_bare_artisan_show_the_commands_and_exit_0() {
    let pkg = Pkg::new();
    for args in [&["list"][..], &[][..]] {
        let run = pkg.artisan(args);
        assert_eq!(run.code, 0, "artisan {args:?}: {}", run.all());
        for command in [
            "make:event",
            "make:listener",
            "event:list",
            "init",
            "queue:work",
        ] {
            assert!(
                run.stdout.contains(command),
                "{command} missing:\n{}",
                run.stdout
            );
        }
        assert!(run.stderr.is_empty(), "{}", run.stderr);
    }
}

#[test]
fn queue_work_needs_the_apps_own_binary() {
    let pkg = Pkg::new();
    common::assert_refused(
        &pkg,
        &["queue:work"],
        2,
        "`cargo run --bin artisan -- queue:work` (run `artisan init` once",
    );
}
