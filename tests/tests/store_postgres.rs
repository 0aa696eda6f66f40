//! The event store on PostgreSQL (`EVENTS_TEST_POSTGRES_URL`), each test
//! with its own table, dropped after: every scenario SQLite passes, plus
//! concurrent writer processes with a transaction committing late, and the
//! server going away and coming back (a private instance on a spare port).

mod store_common;

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use event_core::Dispatcher;
use event_core::store::{EventStore, StoreError, WriterOptions};
use store_common as common;

/// The test server's URL, or `None` (test skipped).
fn pg_url() -> Option<String> {
    match std::env::var("EVENTS_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            println!("skipped: set EVENTS_TEST_POSTGRES_URL");
            None
        }
    }
}

macro_rules! on_postgres {
    ($($scenario:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                let Some(url) = pg_url() else { return };
                common::$scenario(&url).await;
            }
        )*
    };
}

on_postgres!(
    append_and_query_filters,
    correlation_through_sync_listeners,
    correlation_through_queued_listeners,
    expected_version_race,
    resubmitting_an_id_is_a_no_op,
    replay_marks_and_skips_side_effects,
    subscription_resumes_from_its_checkpoint,
    connect_reads_the_config,
    killed_writer_resubmits,
);

async fn client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to the test PostgreSQL");
    tokio::spawn(connection);
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writer_processes_and_a_late_transaction() {
    let Some(url) = pg_url() else { return };
    let pg = url.clone();
    common::two_writers_and_a_subscriber(&url, 20_000, |table| async move {
        // Takes a position before the writers' rows and commits after
        // thousands of them: a reader going by "last position seen" skips it.
        let mut late = client(&pg).await;
        let tx = late.transaction().await.unwrap();
        tx.query_one("SELECT pg_current_xact_id()::text", &[]).await.unwrap();
        tx.execute(
            &format!(
                "INSERT INTO {table} (id, name, payload, metadata, tags, correlation_id, dispatched_at)
                 VALUES ('late-1', 'Late', '{{}}', '{{}}', '[]', 'late-1', now())"
            ),
            &[],
        )
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let committed_after: i64 = client(&pg)
            .await
            .query_one(&format!("SELECT COUNT(*) FROM {table}"), &[])
            .await
            .unwrap()
            .get(0);
        assert!(committed_after > 1000, "rows with higher positions committed first ({committed_after})");
        tx.commit().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_wrong_shaped_table_is_refused_with_its_columns_named() {
    let Some(url) = pg_url() else { return };
    let table = common::table();
    let db = client(&url).await;
    db.batch_execute(&format!(
        "CREATE TABLE {table} (position bigserial PRIMARY KEY, id text, name text, payload text,
                               metadata jsonb, stream text, stream_version integer,
                               correlation_id text, dispatched_at timestamptz, recorded_at timestamptz)"
    ))
    .await
    .unwrap();
    let err = EventStore::open(&url, &table).await.unwrap_err();
    let text = err.to_string();
    for named in [
        "column `payload` is text, expected jsonb",
        "missing column `tags`",
        "column `stream_version` is integer, expected bigint",
        "missing column `causation_id`",
        "missing column `replay_of`",
    ] {
        assert!(text.contains(named), "{text}");
    }
    assert!(matches!(err, StoreError::WrongShape { ref problems, .. } if problems.len() == 5));
    db.batch_execute(&format!("DROP TABLE {table}"))
        .await
        .unwrap();
}

#[tokio::test]
async fn an_unreachable_server_is_an_error_naming_it() {
    let port = spare_port();
    let url = format!("postgres://postgres:secret@127.0.0.1:{port}/test");
    let err = EventStore::open(&url, "events").await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(!text.contains("secret"), "the password is hidden: {text}");
    assert!(
        std::error::Error::source(&err).is_some(),
        "the cause is kept"
    );
}

fn spare_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a spare port")
}

fn pg_bin(name: &str) -> Option<PathBuf> {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<_> = std::fs::read_dir(root)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .collect();
    versions.sort();
    versions
        .into_iter()
        .rev()
        .map(|v| v.join("bin").join(name))
        .find(|p| p.exists())
}

/// initdb and postgres refuse to run as root: run them as `postgres` then.
fn as_server_user(cmd: &mut Command, dir: &Path) {
    let id = |args: &[&str]| -> u32 {
        let out = Command::new("id").args(args).output().expect("id");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("a user id")
    };
    if id(&["-u"]) == 0 {
        let (uid, gid) = (id(&["-u", "postgres"]), id(&["-g", "postgres"]));
        std::os::unix::fs::chown(dir, Some(uid), Some(gid)).expect("chown");
        cmd.uid(uid).gid(gid);
    }
}

/// A private PostgreSQL on a spare loopback port, stopped by its PID.
struct PrivatePostgres {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl PrivatePostgres {
    fn init() -> Option<Self> {
        let initdb = pg_bin("initdb")?;
        let dir = tempfile::tempdir().ok()?;
        let mut cmd = Command::new(initdb);
        cmd.args(["-D"])
            .arg(dir.path().join("data"))
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        std::fs::create_dir(dir.path().join("data")).ok()?;
        as_server_user(&mut cmd, dir.path());
        as_server_user(&mut cmd, &dir.path().join("data"));
        let status = cmd.status().ok()?;
        assert!(status.success(), "initdb failed");
        Some(Self {
            dir,
            port: spare_port(),
            child: None,
        })
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn start(&mut self) {
        let mut cmd = Command::new(pg_bin("postgres").expect("postgres binary"));
        cmd.arg("-D")
            .arg(self.dir.path().join("data"))
            .args([
                "-p",
                &self.port.to_string(),
                "-c",
                "listen_addresses=127.0.0.1",
            ])
            .arg("-k")
            .arg(self.dir.path())
            .args(["-c", "fsync=off"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        as_server_user(&mut cmd, self.dir.path());
        self.child = Some(cmd.spawn().expect("start postgres"));
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                std::thread::sleep(Duration::from_millis(200));
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the private postgres did not start");
    }

    /// Immediate shutdown (SIGQUIT) by PID: connections drop at once.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGQUIT,
            );
            let _ = child.wait();
        }
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_going_away_and_coming_back() {
    if pg_url().is_none() {
        return;
    }
    let Some(mut server) = PrivatePostgres::init() else {
        panic!("EVENTS_TEST_POSTGRES_URL is set but initdb is not installed");
    };
    server.start();
    let url = server.url();
    let store = EventStore::open_with(
        &url,
        "events",
        WriterOptions {
            buffer: 100,
            batch: 10,
        },
    )
    .await
    .unwrap();
    let dispatcher = Dispatcher::new();
    store.install(&dispatcher).await;
    let mut sub = store
        .subscribe(0)
        .unwrap()
        .poll_interval(Duration::from_millis(100));
    for order_id in 0..100 {
        dispatcher
            .dispatch(common::OrderPlacedEvent { order_id })
            .await
            .unwrap();
    }
    store.flush().await.unwrap();

    server.stop();
    // Dispatch goes on while the store is down, without waiting on it.
    let began = std::time::Instant::now();
    for order_id in 100..400 {
        dispatcher
            .dispatch(common::OrderPlacedEvent { order_id })
            .await
            .unwrap();
        if order_id == 100 {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    assert!(
        began.elapsed() < Duration::from_secs(2),
        "dispatch was held up"
    );
    let down = store.stats();
    assert!(down.down, "{down:?}");
    assert_eq!(down.outages, 1);
    // 300 offered: the batch being retried (10) and the buffer (100) are kept.
    assert!(down.dropped >= 190, "{down:?}");
    assert!(matches!(
        store.flush_timeout(Duration::from_millis(200)).await,
        Err(StoreError::FlushTimeout(_))
    ));

    server.start();
    let up = store.flush_timeout(Duration::from_secs(30)).await.unwrap();
    assert!(!up.down);
    assert_eq!(up.written + up.dropped, 400, "{up:?}");
    let stored = store.query().limit(1000).fetch().await.unwrap();
    assert_eq!(stored.len() as u64, up.written);
    // The subscription reconnects and catches up: every row once.
    let mut seen = std::collections::HashSet::new();
    while seen.len() < stored.len() {
        let batch = tokio::time::timeout(Duration::from_secs(20), sub.next_batch())
            .await
            .expect("the subscription catches up")
            .unwrap();
        for record in batch {
            assert!(seen.insert(record.id), "delivered twice");
        }
    }
    store.shutdown().await.unwrap();
    server.stop();
}
