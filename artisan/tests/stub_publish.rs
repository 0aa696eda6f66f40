//! `stub:publish`: templates copied into the package and rendered from there.

mod common;

use common::Pkg;

#[test]
fn stub_publish_copies_the_templates_and_artisan_renders_them() {
    let pkg = Pkg::new();
    let run = pkg.artisan(&["stub:publish"]).ok();
    assert!(
        run.stdout
            .contains("Template [templates/artisan/event.rs.tera] published."),
        "{}",
        run.stdout
    );
    let template = pkg.read("templates/artisan/event.rs.tera");
    pkg.write(
        "templates/artisan/event.rs.tera",
        &format!("// House style: every event is documented.\n{template}"),
    );
    pkg.artisan(&["make:event", "UserRegistered"]).ok();
    assert!(
        pkg.read("src/events/user_registered.rs")
            .starts_with("// House style")
    );

    // Publishing again keeps the edited template and says so.
    let run = pkg.artisan(&["stub:publish"]).ok();
    assert!(run.stdout.contains("exists and is kept"), "{}", run.stdout);
    assert!(
        pkg.read("templates/artisan/event.rs.tera")
            .starts_with("// House style")
    );
}

#[test]
fn a_broken_custom_template_is_reported_and_nothing_changes() {
    let pkg = Pkg::new();
    pkg.write(
        "templates/artisan/event.rs.tera",
        "pub struct {{ type_name }\n",
    );
    let before = pkg.snapshot();
    let run = pkg.artisan(&["make:event", "UserRegistered"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("templates/artisan/event.rs.tera"),
        "{}",
        run.stderr
    );
    assert_eq!(pkg.snapshot(), before);
}

#[test]
fn force_overwrites_published_templates_and_listeners() {
    let pkg = Pkg::new();
    pkg.artisan(&["stub:publish"]).ok();
    pkg.write("templates/artisan/listener.rs.tera", "// mine\n");
    let run = pkg.artisan(&["stub:publish", "--force"]).ok();
    assert!(
        run.stdout
            .contains("Template [templates/artisan/listener.rs.tera] overwritten."),
        "{}",
        run.stdout
    );
    assert!(
        pkg.read("templates/artisan/listener.rs.tera")
            .contains("#[listener(")
    );

    pkg.artisan(&[
        "make:listener",
        "SendWelcomeEmail",
        "--event",
        "UserRegistered",
    ])
    .ok();
    pkg.write("src/listeners/send_welcome_email.rs", "// scribbled\n");
    let run = pkg
        .artisan(&[
            "make:listener",
            "SendWelcomeEmail",
            "--event",
            "UserRegistered",
            "--force",
        ])
        .ok();
    assert!(
        run.stdout
            .contains("Listener [src/listeners/send_welcome_email.rs] overwritten successfully."),
        "{}",
        run.stdout
    );
    assert!(
        pkg.read("src/listeners/send_welcome_email.rs")
            .contains("pub async fn send_welcome_email")
    );
}
