//! Encrypted queued listeners (Laravel's `ShouldBeEncrypted`) on every
//! connection: the payload is stored sealed with `EVENTS_APP_KEY`, opened
//! by workers with the key (or a previous one), and a worker without it
//! fails the job with a reason naming the variable and goes on.

use std::path::Path;
use std::sync::Arc;

use event_core::EventListener;
use event_core::queue::{AppKeys, JobRegistry, Queue};

use super::fixtures::{Sink, TestJobEvent, TestListener};
use super::{LIMIT, eventually, job, lines, ms, setup, spawn_worker_with, start, worker};

const OLD_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const NEW_KEY: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

/// A job number no other field of the payload can produce: found in the
/// storage only if the payload is stored in plain text.
const SECRET: u64 = 4_111_111_111_111_111;

fn keys(current: &str, previous: &[&str]) -> AppKeys {
    AppKeys::new(current, previous.iter().copied()).expect("keys")
}

fn encrypted(name: &str, sink: Sink) -> TestListener {
    TestListener::new(name, sink).with(|o| {
        o.encrypted = true;
        o.tries = Some(1);
    })
}

/// Everything the connection stores, as text: the rows of the sqlite
/// file and of the PostgreSQL tables, every key of the Redis prefix
/// (streams, hashes...), or for `memory`, which stores nothing outside the
/// process, the jobs it holds and its failed store, serialised.
pub async fn raw_stored(queue: &Queue) -> String {
    let backend = queue.backend().expect("backend");
    let location = backend.location();
    match queue.connection_name() {
        "sqlite" => {
            let path = location.strip_prefix("sqlite://").expect("sqlite url");
            let conn = rusqlite::Connection::open(path).expect("open sqlite file");
            let mut out = String::new();
            for table in ["event_jobs", "event_failed_jobs"] {
                let mut stmt = conn
                    .prepare(&format!("SELECT * FROM {table}"))
                    .expect("select");
                let columns = stmt.column_count();
                let mut rows = stmt.query([]).expect("rows");
                while let Some(row) = rows.next().expect("row") {
                    for i in 0..columns {
                        let value: rusqlite::types::Value = row.get(i).expect("column");
                        out.push_str(&format!("{value:?}\n"));
                    }
                }
            }
            out
        }
        "redis" => {
            let prefix = location.split("prefix=").nth(1).expect("prefix");
            let prefix = prefix.split('&').next().unwrap_or_default();
            let url = test_support::redis_url().expect("EVENTS_TEST_REDIS_URL");
            let client =
                redis::Client::open(url.split('?').next().unwrap_or_default()).expect("client");
            let mut conn = client
                .get_multiplexed_async_connection()
                .await
                .expect("connect");
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(format!("{{{prefix}}}*"))
                .query_async(&mut conn)
                .await
                .expect("KEYS");
            assert!(!keys.is_empty(), "the prefix holds keys");
            let mut out = String::new();
            for key in keys {
                let kind: String = redis::cmd("TYPE")
                    .arg(&key)
                    .query_async(&mut conn)
                    .await
                    .expect("TYPE");
                let mut cmd = match kind.as_str() {
                    "stream" => redis::cmd("XRANGE"),
                    "hash" => redis::cmd("HGETALL"),
                    "string" => redis::cmd("GET"),
                    "list" => redis::cmd("LRANGE"),
                    "zset" => redis::cmd("ZRANGE"),
                    "set" => redis::cmd("SMEMBERS"),
                    _ => continue,
                };
                cmd.arg(&key);
                match kind.as_str() {
                    "stream" => {
                        cmd.arg("-").arg("+");
                    }
                    "list" | "zset" => {
                        cmd.arg(0).arg(-1);
                    }
                    _ => {}
                }
                let value: redis::Value = cmd.query_async(&mut conn).await.expect("read key");
                out.push_str(&text(&value));
            }
            out
        }
        "postgres" => {
            let schema = location.split("schema=").nth(1).expect("schema");
            let schema = schema.split('&').next().unwrap_or_default();
            // The location hides the user: connect with the test's URL.
            let url = test_support::postgres_url().expect("EVENTS_TEST_POSTGRES_URL");
            let url = url.split('?').next().unwrap_or_default();
            let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                .await
                .expect("connect");
            tokio::spawn(connection);
            let mut out = String::new();
            for table in ["event_jobs", "event_failed_jobs"] {
                let rows = client
                    .query(&format!("SELECT t::text FROM \"{schema}\".{table} t"), &[])
                    .await
                    .expect("select");
                for row in rows {
                    out.push_str(&row.get::<_, String>(0));
                    out.push('\n');
                }
            }
            out
        }
        _ => {
            let claimed = backend
                .fetch(&["events".to_string()], 100, ms(60_000), "raw")
                .await
                .expect("fetch");
            let mut out = String::new();
            for c in &claimed {
                out.push_str(&serde_json::to_string(&c.job.stored_envelope()).expect("json"));
            }
            backend.release(claimed).await.expect("release");
            let failed = queue.failed().expect("store").list().await.expect("list");
            out.push_str(&serde_json::to_string(&failed).expect("json"));
            out
        }
    }
}

/// Every byte string of a Redis reply, one a line.
fn text(value: &redis::Value) -> String {
    match value {
        redis::Value::BulkString(bytes) => format!("{}\n", String::from_utf8_lossy(bytes)),
        redis::Value::SimpleString(s) => format!("{s}\n"),
        redis::Value::Array(items) | redis::Value::Set(items) => items.iter().map(text).collect(),
        redis::Value::Map(pairs) => pairs
            .iter()
            .map(|(k, v)| format!("{}{}", text(k), text(v)))
            .collect(),
        other => format!("{other:?}\n"),
    }
}

/// The listener runs on a worker with the key; what the connection stores
/// holds the sealed record, not the payload.
pub async fn encrypted_job_is_stored_sealed_and_runs_with_the_key(queue: Queue) {
    let queue = queue.with_app_keys(keys(NEW_KEY, &[]));
    let sink = Sink::memory();
    let (dispatcher, registry) = setup(&queue, encrypted("sealed", sink.clone())).await;
    dispatcher.dispatch(job(SECRET)).await.expect("dispatch");
    assert_eq!(queue.size().await.expect("size"), 1);
    let raw = raw_stored(&queue).await;
    assert!(
        raw.contains("xchacha20poly1305"),
        "the job is stored: {raw}"
    );
    assert!(
        !raw.contains(&SECRET.to_string()),
        "plaintext stored: {raw}"
    );

    let running = start(worker(&queue, registry));
    assert!(eventually(LIMIT, async || sink.of("success") == vec![SECRET]).await);
    running.stop().await;
}

/// A worker with the wrong key, or none, sends the job to the failed store
/// (still sealed) with a reason naming `EVENTS_APP_KEY`, and runs the next
/// job; a worker with the key runs it once retried.
pub async fn a_worker_without_the_key_fails_the_job_and_goes_on(queue: Queue) {
    let queue = queue.with_app_keys(keys(OLD_KEY, &[]));
    let secret_sink = Sink::memory();
    let plain_sink = Sink::memory();
    let (dispatcher, registry) = setup(&queue, encrypted("secret", secret_sink.clone())).await;
    let plain: Arc<dyn EventListener> = Arc::new(TestListener::new("plain", plain_sink.clone()));
    dispatcher.listen::<TestJobEvent>(plain.clone()).await;
    let registry: JobRegistry = registry.listener::<TestJobEvent>(plain);
    dispatcher.dispatch(job(SECRET)).await.expect("dispatch");
    assert_eq!(queue.size().await.expect("size"), 2);

    let store = queue.failed().expect("store");
    for (round, (wrong, why)) in [
        (queue.clone().with_app_keys(keys(NEW_KEY, &[])), "neither"),
        (
            queue.clone().with_app_keys(AppKeys::none()),
            "no EVENTS_APP_KEY",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let running = start(worker(&wrong, registry.clone()));
        assert!(super::some_job_failed(&store).await, "round {round}");
        if round == 0 {
            assert!(
                eventually(LIMIT, async || plain_sink.of("success") == vec![SECRET]).await,
                "the worker goes on with the next job"
            );
        }
        running.stop().await;
        let failed = store.list().await.expect("list");
        assert_eq!(failed.len(), 1);
        let reason = &failed[0].reason;
        assert!(
            reason.contains("EVENTS_APP_KEY") && reason.contains(why),
            "{reason}"
        );
        assert!(failed[0].payload.sealed.is_some(), "kept sealed");
        assert!(failed[0].payload.payload.is_null());
        let shown = serde_json::to_string(&failed).expect("json");
        assert!(!shown.contains(&SECRET.to_string()), "{shown}");
        let raw = raw_stored(&queue).await;
        assert!(raw.contains("xchacha20poly1305"), "{raw}");
        assert!(
            !raw.contains(&SECRET.to_string()),
            "plaintext stored: {raw}"
        );
        assert!(secret_sink.of("start").is_empty());
        // Back on the queue, still sealed, for the next worker.
        assert!(store.retry(&failed[0].id).await.expect("retry"));
    }

    // The retried job, on a worker with the key.
    let running = start(worker(&queue, registry));
    assert!(eventually(LIMIT, async || secret_sink.of("success").contains(&SECRET)).await);
    running.stop().await;
}

/// Key rotation: a job sealed with the old key runs on a worker whose
/// current key is new and whose previous keys list the old one.
pub async fn rotated_key_opens_jobs_sealed_with_the_previous_one(queue: Queue) {
    let old = queue.clone().with_app_keys(keys(OLD_KEY, &[]));
    let sink = Sink::memory();
    let (dispatcher, registry) = setup(&old, encrypted("rotated", sink.clone())).await;
    dispatcher.dispatch(job(SECRET)).await.expect("dispatch");
    let rotated = queue.with_app_keys(keys(NEW_KEY, &[OLD_KEY]));
    let running = start(worker(&rotated, registry));
    assert!(eventually(LIMIT, async || sink.of("success") == vec![SECRET]).await);
    running.stop().await;
    assert!(
        rotated
            .failed()
            .expect("store")
            .list()
            .await
            .expect("list")
            .is_empty()
    );
}

/// No key: dispatching an encrypted listener's job is an error naming
/// `EVENTS_APP_KEY`, and nothing is queued (no plaintext job).
pub async fn encrypted_job_without_a_key_is_a_dispatch_error(queue: Queue) {
    let queue = queue.with_app_keys(AppKeys::none());
    let (dispatcher, _) = setup(&queue, encrypted("no-key", Sink::memory())).await;
    let error = dispatcher.dispatch(job(SECRET)).await.unwrap_err();
    let text = format!("{error:#}");
    assert!(text.contains("EVENTS_APP_KEY"), "{text}");
    assert_eq!(queue.size().await.expect("size"), 0);
}

/// The user's road: worker processes configured by their environment. One
/// with another `EVENTS_APP_KEY` fails both sealed jobs (it goes on after
/// the first) with the reason; once retried, one whose
/// `EVENTS_APP_PREVIOUS_KEYS` lists the old key runs them.
pub async fn encrypted_job_across_processes(url: String, record: &Path) {
    let queue = Queue::open(&url)
        .await
        .expect("open")
        .with_app_keys(keys(OLD_KEY, &[]));
    let dispatcher = event_core::Dispatcher::new();
    queue.install(&dispatcher).await;
    dispatcher
        .listen::<TestJobEvent>(Arc::new(encrypted("record", Sink::memory())))
        .await;
    dispatcher.dispatch(job(SECRET)).await.expect("dispatch");
    dispatcher.dispatch(job(2)).await.expect("dispatch");
    let store = queue.failed().expect("store");
    {
        let _wrong = spawn_worker_with(&url, record, 60_000, 1, &[("EVENTS_APP_KEY", NEW_KEY)]);
        assert!(
            eventually(LIMIT, async || store.list().await.unwrap_or_default().len()
                == 2)
            .await,
            "both jobs failed on the worker with the wrong key"
        );
    }
    for failed in store.list().await.expect("list") {
        assert!(
            failed.reason.contains("EVENTS_APP_KEY"),
            "{}",
            failed.reason
        );
        assert!(failed.payload.sealed.is_some());
    }
    assert!(lines(record, "start").is_empty());
    let raw = raw_stored(&queue).await;
    assert!(
        !raw.contains(&SECRET.to_string()),
        "plaintext stored: {raw}"
    );
    assert_eq!(store.retry_all().await.expect("retry"), 2);
    let _rotated = spawn_worker_with(
        &url,
        record,
        60_000,
        1,
        &[
            ("EVENTS_APP_KEY", NEW_KEY),
            ("EVENTS_APP_PREVIOUS_KEYS", OLD_KEY),
        ],
    );
    assert!(
        eventually(LIMIT, async || {
            let mut ran = lines(record, "success");
            ran.sort();
            ran == vec![2, SECRET]
        })
        .await
    );
}
