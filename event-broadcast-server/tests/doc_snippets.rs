//! Docs that run: every Rust snippet of `docs/broadcasting.md` and of the
//! README is compiled here as written (the first test checks each snippet
//! of the docs is one of the modules below, whitespace aside), and run; the
//! pusher-js + Echo snippet runs in Node against the server, as the docs
//! say (`broadcast:serve`'s settings), and must receive a broadcast.
//! The Node part is skipped with a `skipped:` line without node or the npm
//! packages (`npm ci` in tests/js), a failure with EVENTS_TEST_REQUIRE_BROWSER.

// The snippets are written for an app's crate, where `pub` reaches further.
#![allow(unreachable_pub)]

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use event_broadcast::signature::Credentials;
use event_broadcast_server::{Server, ServerConfig};
use event_core::Dispatcher;
use event_core::broadcasting::PusherBroadcaster;
use tokio::io::{AsyncBufReadExt, BufReader};

// ----- docs/broadcasting.md -------------------------------------------------

mod broadcasting_dispatch {
    use event_core::prelude::*;
    use event_core::{broadcasting, config::EventsConfig};

    #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, Event)]
    #[event(broadcast = "orders.{order_id}")]
    pub struct OrderShipped {
        pub order_id: u64,
    }

    /// A request handler's work; `socket_id` is the request's `X-Socket-ID` header.
    pub async fn ship(socket_id: Option<String>) -> anyhow::Result<()> {
        // Once, at startup (the generated `event_registry::boot` does it for you):
        let broadcaster = broadcasting::connect(&EventsConfig::from_env()?).await?;
        event_dispatcher().await.set_broadcaster(broadcaster).await;
        // Laravel's ->toOthers(): every subscriber but the sender's own socket.
        broadcasting::to_others(socket_id, OrderShipped { order_id: 7 }.dispatch()).await?;
        Ok(())
    }
}

mod broadcasting_auth {
    use event_broadcast_server::auth_router;
    use event_core::broadcasting::{ChannelAuthorizer, PresenceMember};
    use event_core::config::EventsConfig;
    use event_core::serde_json::json;

    pub struct User {
        pub id: u64,
        pub name: String,
    }

    /// Your session lookup: who sent this request.
    fn current_user(headers: &axum::http::HeaderMap) -> Option<User> {
        let id = headers.get("x-user-id")?.to_str().ok()?.parse().ok()?;
        Some(User {
            id,
            name: "Ada".into(),
        })
    }

    pub fn broadcasting_auth() -> anyhow::Result<axum::Router> {
        // EVENTS_BROADCAST_APP_ID / _APP_KEY / _APP_SECRET, as the server has them, and
        // EVENTS_BROADCAST_ENCRYPTION_MASTER_KEY when set (private-encrypted- channels).
        let authorizer = ChannelAuthorizer::from_config(&EventsConfig::from_env()?.broadcast)?
            .channel("orders.{id}", |user: &User, p| {
                p["id"] == user.id.to_string()
            })
            .presence("chat.{room}", |user: &User, _| {
                Some(PresenceMember {
                    user_id: user.id.to_string(),
                    user_info: json!({ "name": user.name }),
                })
            });
        // POST /broadcasting/auth; merge it into your app's router.
        Ok(auth_router(authorizer, current_user))
    }
}

// ----- README.md --------------------------------------------------------------

mod readme {
    use event_core::prelude::*;

    #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, Event)]
    pub struct UserRegisteredEvent {
        pub email: String,
    }

    #[listener(event = UserRegisteredEvent)]
    async fn send_welcome_email(event: &UserRegisteredEvent) -> anyhow::Result<()> {
        println!("welcome, {}", event.email);
        Ok(())
    }

    #[tokio::main]
    async fn main() -> anyhow::Result<()> {
        listen::<UserRegisteredEvent>(Arc::new(SendWelcomeEmailListener)).await;
        UserRegisteredEvent {
            email: "ada@example.com".into(),
        }
        .dispatch()
        .await?;
        Ok(())
    }

    #[test]
    fn the_readme_snippet_runs() {
        main().expect("the README's example runs");
    }
}

// ----- the checks ----------------------------------------------------------------

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The fenced blocks of `lang` in a markdown file.
fn blocks(file: &str, lang: &str) -> Vec<String> {
    let text = std::fs::read_to_string(root().join(file)).expect("read the doc");
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match &mut current {
            None if line.trim() == format!("```{lang}") => current = Some(String::new()),
            Some(block) if line.trim() == "```" => {
                out.push(std::mem::take(block));
                current = None;
            }
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {}
        }
    }
    out
}

/// The text without whitespace and trailing commas: rustfmt's layout of
/// this file may differ from the docs'.
fn squeeze(text: &str) -> String {
    let bare: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    bare.replace(",}", "}")
        .replace(",)", ")")
        .replace(",]", "]")
}

#[test]
fn every_rust_snippet_of_the_docs_is_compiled_here() {
    let here = squeeze(include_str!("doc_snippets.rs"));
    let mut seen = 0;
    for file in ["docs/broadcasting.md", "README.md"] {
        for block in blocks(file, "rust") {
            assert!(
                here.contains(&squeeze(&block)),
                "a snippet of {file} is not compiled in doc_snippets.rs:\n{block}"
            );
            seen += 1;
        }
    }
    assert_eq!(
        seen, 3,
        "snippets were added or removed: update doc_snippets.rs"
    );
}

#[tokio::test]
async fn the_broadcasting_snippets_run() {
    // The default `log` broadcaster (no EVENTS_BROADCAST_* set in tests).
    if std::env::var_os("EVENTS_BROADCAST_CONNECTION").is_none() {
        broadcasting_dispatch::ship(Some("123.456".into()))
            .await
            .expect("the dispatch snippet runs");
    }
    // Without credentials the auth snippet says which variables to set.
    if std::env::var_os("EVENTS_BROADCAST_APP_ID").is_none() {
        let error = broadcasting_auth::broadcasting_auth().expect_err("no credentials");
        let text = format!("{error:#}");
        assert!(
            text.contains(
                "EVENTS_BROADCAST_APP_ID, EVENTS_BROADCAST_APP_KEY and EVENTS_BROADCAST_APP_SECRET"
            ),
            "{text}"
        );
    }
}

fn js_dir() -> PathBuf {
    root().join("tests/js")
}

/// `Some(reason)` when node or the npm packages are missing.
fn missing() -> Option<String> {
    let node = std::process::Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        return Some("node is not installed".into());
    }
    if !js_dir().join("node_modules/pusher-js").exists() {
        return Some("npm packages missing: run `npm ci` in tests/js".into());
    }
    None
}

/// The docs' pusher-js + Echo snippet, run in Node against the server with
/// the docs' settings (key `app-key`; the port is this test's): both
/// clients receive the broadcast the Rust side dispatches.
#[tokio::test]
async fn the_pusher_js_and_echo_snippet_receives_a_broadcast() {
    if let Some(reason) = missing() {
        if std::env::var_os("EVENTS_TEST_REQUIRE_BROWSER").is_some() {
            panic!("EVENTS_TEST_REQUIRE_BROWSER is set but {reason}");
        }
        println!("skipped: {reason}");
        return;
    }
    let snippets = blocks("docs/broadcasting.md", "js");
    assert_eq!(snippets.len(), 1, "{snippets:?}");
    let credentials = Credentials {
        app_id: "app-id".into(),
        key: "app-key".into(),
        secret: "app-secret".into(),
    };
    let mut config = ServerConfig::new(credentials.clone());
    config.port = 0;
    let server = Server::bind(config).await.expect("the server binds");
    let addr = server.local_addr();
    assert!(snippets[0].contains("wsPort: 6001"), "{}", snippets[0]);
    let script = format!(
        "{}\nsetTimeout(() => process.exit(0), 20000);\n",
        snippets[0].replace("wsPort: 6001", &format!("wsPort: {}", addr.port()))
    );
    let path = js_dir().join(format!("doc-snippet-{}.mjs", std::process::id()));
    std::fs::write(&path, script).expect("write the script");
    let _remove = Remove(path.clone());
    let mut child = tokio::process::Command::new("node")
        .arg(&path)
        .current_dir(js_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let events = Dispatcher::new();
    events
        .set_broadcaster(Arc::new(PusherBroadcaster::with_base(
            credentials,
            format!("http://{addr}"),
        )))
        .await;
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut got = (false, false);
    let mut output = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    // Dispatch until both clients (subscribing at their own pace) have it.
    while !(got.0 && got.1) && tokio::time::Instant::now() < deadline {
        events
            .dispatch(broadcasting_dispatch::OrderShipped { order_id: 7 })
            .await
            .expect("the broadcast is sent");
        if let Ok(Ok(Some(line))) =
            tokio::time::timeout(Duration::from_millis(300), lines.next_line()).await
        {
            got.0 |= line == "pusher-js 7";
            got.1 |= line == "echo 7";
            output.push_str(&line);
            output.push('\n');
        }
    }
    let _ = child.kill().await;
    assert!(
        got.0 && got.1,
        "the snippet did not receive both:\n{output}"
    );
}

/// Deletes the generated script when the test ends.
struct Remove(PathBuf);

impl Drop for Remove {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
