//! No record wedges a queue: rows and entries a fetch cannot read, written
//! straight into real SQLite and real Redis next to good jobs, reach the
//! failed store with a reason a user can read, and the good jobs run.

mod postgres_common;
mod queue_common;

use std::time::Duration;

use event_core::queue::{FailedJob, FailedJobs, JobEnvelope, Queue};
use queue_common as common;
use queue_common::fixtures::{Sink, TestListener};

const LIMIT: Duration = Duration::from_secs(20);

/// A job envelope as this build writes it, for listener `poison-test`.
fn envelope(n: u64) -> JobEnvelope {
    let now = chrono::Utc::now().timestamp_millis();
    JobEnvelope {
        id: event_core::ulid::Ulid::new().to_string(),
        event: "TestJob".to_string(),
        payload: serde_json::to_value(common::job(n)).expect("payload"),
        listener: Some("poison-test".to_string()),
        queue: "events".to_string(),
        attempts: 0,
        exceptions: 0,
        settings: event_core::queue::JobSettings {
            tries: Some(1),
            ..Default::default()
        },
        priority: 0,
        available_at: now,
        created_at: now,
        event_id: None,
        correlation_id: None,
        retried_at: None,
        traceparent: None,
        sealed: None,
        history: Vec::new(),
    }
}

/// A job of another system (Laravel's queue payload): foreign fields only.
const FOREIGN: &str = r#"{"uuid":"0b6c","displayName":"App\\Jobs\\SendMail","job":"Illuminate\\Queue\\CallQueuedHandler@call","maxTries":null,"data":{"command":"O:8:..."}}"#;

/// Good jobs 1, 2, 3 around the poison; runs a worker until they ran and
/// `expect_failed` records reached the store; returns the store's records.
async fn run_beside_poison(
    url: &str,
    poison: impl AsyncFnOnce(),
    expect_failed: usize,
) -> (Sink, Vec<FailedJob>) {
    let queue = Queue::open(url).await.expect("open");
    let sink = Sink::memory();
    let (dispatcher, registry) =
        common::setup(&queue, TestListener::new("poison-test", sink.clone())).await;
    dispatcher.dispatch(common::job(1)).await.expect("dispatch");
    poison().await;
    dispatcher.dispatch(common::job(2)).await.expect("dispatch");
    dispatcher.dispatch(common::job(3)).await.expect("dispatch");
    // What `artisan queue:failed` reads.
    let store = FailedJobs::open(url).await.expect("failed store");
    let running = common::start(common::worker(&queue, registry.clone()));
    let ran = common::eventually(LIMIT, async || {
        let mut done = sink.of("success");
        done.sort_unstable();
        done == vec![1, 2, 3]
    })
    .await;
    let stored = common::eventually(LIMIT, async || {
        store.list().await.map(|l| l.len()).unwrap_or(0) == expect_failed
    })
    .await;
    running.stop().await;
    let failed = store.list().await.expect("list failed jobs");
    assert!(
        ran,
        "the good jobs did not all run: {:?}; failed store: {failed:#?}",
        sink.of("success")
    );
    assert!(
        stored,
        "expected {expect_failed} failed records: {failed:#?}"
    );
    (sink, failed)
}

fn reason_of<'a>(failed: &'a [FailedJob], needle: &str) -> &'a FailedJob {
    failed
        .iter()
        .find(|f| f.reason.contains(needle))
        .unwrap_or_else(|| {
            let reasons: Vec<&str> = failed.iter().map(|f| f.reason.as_str()).collect();
            panic!("no failed record says `{needle}`; reasons: {reasons:#?}")
        })
}

/// `queue:retry` of a record that held a readable envelope runs it on the
/// queue it came from.
async fn retry_runs(url: &str, record: &FailedJob, n: u64) {
    let queue = Queue::open(url).await.expect("open");
    let sink = Sink::memory();
    let (_dispatcher, registry) =
        common::setup(&queue, TestListener::new("poison-test", sink.clone())).await;
    let store = FailedJobs::open(url).await.expect("failed store");
    assert!(
        store.retry(&record.id).await.expect("retry"),
        "no record {}",
        record.id
    );
    let running = common::start(common::worker(&queue, registry));
    let ran = common::eventually(LIMIT, async || sink.of("success") == vec![n]).await;
    running.stop().await;
    assert!(
        ran,
        "the retried job {n} did not run: {:?}",
        sink.of("success")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_rows_a_fetch_cannot_read_go_to_the_failed_store() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("jobs.db");
    let url = format!("sqlite://{}", path.display());
    let good_text = serde_json::to_string(&envelope(10)).expect("json");
    let blob_text = serde_json::to_string(&envelope(11)).expect("json");
    let poison = async || {
        let conn = rusqlite::Connection::open(&path).expect("open sqlite");
        let now = chrono::Utc::now().timestamp_millis();
        let insert = |attempts: rusqlite::types::Value,
                      available_at: rusqlite::types::Value,
                      payload: rusqlite::types::Value| {
            conn.execute(
                "INSERT INTO event_jobs (id, queue, priority, available_at, attempts, payload)
                 VALUES ('poison', 'events', 0, ?1, ?2, ?3)",
                rusqlite::params![available_at, attempts, payload],
            )
            .expect("insert poison row");
        };
        use rusqlite::types::Value::{Blob, Integer, Text};
        // Binary bytes in `payload`.
        insert(Integer(0), Integer(now), Blob(vec![0xff, 0x00, 0x9c, 0x42]));
        // A real envelope, but stored as a BLOB.
        insert(
            Integer(0),
            Integer(now),
            Blob(blob_text.clone().into_bytes()),
        );
        // Text in `attempts`, beside a readable envelope.
        insert(Text("three".into()), Integer(now), Text(good_text.clone()));
        // Another system's job.
        insert(Integer(0), Integer(now), Text(FOREIGN.into()));
        // An envelope missing its fields.
        insert(
            Integer(0),
            Integer(now),
            Text(r#"{"id":"x","event":"TestJob"}"#.into()),
        );
        // Text where a time belongs (it never compares as due), beside the
        // same envelope as the `attempts` row: both must reach the store.
        insert(Integer(0), Text("soon".into()), Text(good_text.clone()));
    };
    let (_, failed) = run_beside_poison(&url, poison, 6).await;

    reason_of(
        &failed,
        "column `payload` holds a BLOB of 4 bytes, expected the job's JSON text",
    );
    let attempts = reason_of(
        &failed,
        "column `attempts` holds the text \"three\", expected an integer",
    );
    reason_of(
        &failed,
        "column `available_at` holds the text \"soon\", expected an integer",
    );
    reason_of(&failed, "not a job envelope: missing field");
    let foreign = failed
        .iter()
        .filter(|f| f.reason.contains("the payload is not a job envelope"))
        .count();
    assert_eq!(
        foreign, 2,
        "the foreign job and the partial envelope: {failed:#?}"
    );
    // What the rows held is kept as the payload's text.
    for text in [FOREIGN, r#"{"id":"x","event":"TestJob"}"#] {
        assert!(
            failed.iter().any(|f| f.payload.payload == text),
            "no failed record keeps {text}: {failed:#?}"
        );
    }
    assert!(
        failed
            .iter()
            .any(|f| f.payload.payload == "\u{fffd}\0\u{fffd}B"),
        "the binary payload, as lossy text: {failed:#?}"
    );
    for f in &failed {
        assert_eq!(f.queue, "events", "failed records keep their queue: {f:#?}");
        assert!(f.reason.starts_with("job row "), "{}", f.reason);
    }
    // The readable envelopes were kept whole: `queue:retry` runs them.
    assert_eq!(attempts.payload.payload["n"], 10);
    retry_runs(&url, attempts, 10).await;
    let blob = failed
        .iter()
        .find(|f| f.payload.payload["n"] == 11)
        .expect("the BLOB envelope is kept");
    retry_runs(&url, blob, 11).await;
}

/// A failed-jobs row another program wrote is still listed, and can be forgotten.
#[tokio::test]
async fn sqlite_failed_store_lists_rows_it_cannot_read() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("jobs.db");
    let url = format!("sqlite://{}", path.display());
    let store = FailedJobs::open(&url).await.expect("store");
    let conn = rusqlite::Connection::open(&path).expect("open sqlite");
    conn.execute(
        "INSERT INTO event_failed_jobs (id, queue, payload, reason, attempts, failed_at)
         VALUES ('odd', 'events', ?1, 'written by hand', 'many', 0)",
        [rusqlite::types::Value::Blob(vec![0xff, 0xfe])],
    )
    .expect("insert");
    let listed = store.list().await.expect("list");
    assert_eq!(listed.len(), 1, "{listed:#?}");
    assert_eq!(listed[0].reason, "written by hand");
    assert!(store.forget("odd").await.expect("forget"));
    assert!(store.list().await.expect("list").is_empty());
}

// ----- postgres ---------------------------------------------------------------

/// Rows another program wrote whose payload is not an envelope (a truncated
/// one, another system's job, plain text) reach the failed store with their
/// text whole, and the good jobs run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_rows_a_fetch_cannot_read_keep_their_text() {
    let Some(schema) = postgres_common::Schema::new() else {
        return;
    };
    let texts = [
        r#"{"id":"01J","event":"TestJob","payload":{"n":"#,
        FOREIGN,
        "SOMETHING, not JSON",
    ];
    let poison = async || {
        let client = postgres_common::sql(&schema.base).await;
        for (i, text) in texts.iter().enumerate() {
            client
                .execute(
                    &format!(
                        "INSERT INTO {} (id, queue, priority, available_at, payload)
                         VALUES ($1, 'events', 0, 0, $2)",
                        schema.table("event_jobs")
                    ),
                    &[&format!("foreign-{i}"), text],
                )
                .await
                .expect("insert a foreign row");
        }
    };
    let (_, failed) = run_beside_poison(&schema.url, poison, texts.len()).await;
    for text in texts {
        let kept = failed
            .iter()
            .find(|f| f.payload.payload == text)
            .unwrap_or_else(|| panic!("no failed record keeps {text}: {failed:#?}"));
        assert!(kept.reason.contains("is not a job envelope"), "{kept:#?}");
        assert_eq!(kept.queue, "events", "{kept:#?}");
    }
}

// ----- redis ------------------------------------------------------------------

fn redis_url() -> Option<(String, String)> {
    let base = test_support::redis_url()?;
    let prefix = test_support::unique("test-poison");
    Some((test_support::with_query(&base, "prefix", &prefix), prefix))
}

async fn raw_redis() -> redis::aio::MultiplexedConnection {
    let base = std::env::var("EVENTS_TEST_REDIS_URL").expect("EVENTS_TEST_REDIS_URL");
    let base = base.split('?').next().unwrap_or(&base).to_string();
    redis::Client::open(base)
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("connect")
}

async fn clean(url: &str) {
    let queue = Queue::open(url).await.expect("open");
    queue.clear().await.expect("clear");
    queue.failed().expect("store").purge().await.expect("purge");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_records_a_fetch_cannot_read_go_to_the_failed_store() {
    let Some((url, prefix)) = redis_url() else {
        return;
    };
    let tag = format!("{{{prefix}}}");
    let bare = serde_json::to_string(&envelope(20)).expect("json");
    let due = chrono::Utc::now().timestamp_millis() - 1_000;
    let poison = async || {
        let mut conn = raw_redis().await;
        let delayed = format!("{tag}:delayed");
        let stream = format!("{tag}:s:events:0");
        let mut pipe = redis::pipe();
        // Delayed members without their `<queue>\n<priority>\n` header.
        pipe.zadd(&delayed, "just some text", due).ignore();
        pipe.zadd(&delayed, &bare, due).ignore();
        pipe.zadd(&delayed, format!("events\nhigh\n{bare}"), due)
            .ignore();
        // Stream entries without a job, with bytes that are not text, with
        // another system's job.
        pipe.cmd("XADD")
            .arg(&stream)
            .arg("*")
            .arg("foo")
            .arg("bar")
            .ignore();
        pipe.cmd("XADD")
            .arg(&stream)
            .arg("*")
            .arg("job")
            .arg(&[0xffu8, 0xfe, 0x00][..])
            .ignore();
        pipe.cmd("XADD")
            .arg(&stream)
            .arg("*")
            .arg("job")
            .arg(FOREIGN)
            .ignore();
        // A priority that is not a number.
        pipe.zadd(format!("{tag}:p:events"), "five", 5).ignore();
        pipe.query_async::<()>(&mut conn)
            .await
            .expect("write poison");
    };
    let (_, failed) = run_beside_poison(&url, poison, 6).await;

    let no_header = failed
        .iter()
        .filter(|f| {
            f.reason
                .contains("a member of the delayed set has no `<queue>\\n<priority>\\n` header")
        })
        .count();
    assert_eq!(no_header, 2, "{failed:#?}");
    reason_of(
        &failed,
        "a member of the delayed set has priority \"high\", expected an integer",
    );
    reason_of(&failed, "has no `job` field (it has: foo)");
    let not_envelopes = failed
        .iter()
        .filter(|f| f.reason.contains("of queue `events` is not a job envelope"))
        .count();
    assert_eq!(
        not_envelopes, 2,
        "the binary entry and the foreign job: {failed:#?}"
    );
    for f in failed
        .iter()
        .filter(|f| f.reason.starts_with("stream entry"))
    {
        assert_eq!(f.queue, "events", "failed records keep their queue: {f:#?}");
    }
    // A bare envelope in the delayed set is kept whole: `queue:retry` runs it.
    let kept = failed
        .iter()
        .find(|f| f.payload.payload["n"] == 20 && f.reason.contains("no `<queue>"))
        .expect("the bare envelope is kept");
    assert_eq!(kept.queue, "events");
    retry_runs(&url, kept, 20).await;
    clean(&url).await;
    let mut conn = raw_redis().await;
    let _: () = redis::cmd("DEL")
        .arg(format!("{tag}:p:events"))
        .query_async(&mut conn)
        .await
        .expect("del");
}

/// Stream entries another program wrote (`XADD <stream> * data ...`, several
/// fields, a `job` field that is not JSON, a `job` field beside others) reach
/// the failed store with every field and value in the payload's text (a JSON
/// array of `[field, value]` pairs; a lone `job` field keeps its own text),
/// and the good jobs run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_foreign_stream_entries_keep_every_field_and_value() {
    let Some((url, prefix)) = redis_url() else {
        return;
    };
    let stream = format!("{{{prefix}}}:s:events:0");
    let truncated = r#"{"id":"01J","event":"TestJob","payload":{"n":"#;
    let entries: [&[&str]; 5] = [
        &["data", "SOMETHING"],
        &[
            "to",
            "ops@example.com",
            "subject",
            "Hi \"you\"\nthere",
            "to",
            "again",
        ],
        &["job", truncated],
        &["job", "not json", "source", "billing"],
        &["job", "{}", "body", ""],
    ];
    let poison = async || {
        let mut conn = raw_redis().await;
        let mut pipe = redis::pipe();
        for fields in entries {
            pipe.cmd("XADD").arg(&stream).arg("*").arg(fields).ignore();
        }
        pipe.query_async::<()>(&mut conn)
            .await
            .expect("write foreign entries");
    };
    let (_, failed) = run_beside_poison(&url, poison, entries.len()).await;

    let pairs = |fields: &[&str]| {
        serde_json::Value::Array(
            fields
                .chunks(2)
                .map(|p| serde_json::json!([p[0], p[1]]))
                .collect(),
        )
        .to_string()
    };
    let kept = |text: &str| {
        failed
            .iter()
            .find(|f| f.payload.payload == text)
            .unwrap_or_else(|| panic!("no failed record keeps {text}: {failed:#?}"))
    };
    let data = kept(&pairs(entries[0]));
    assert_eq!(data.payload.payload, r#"[["data","SOMETHING"]]"#);
    assert!(
        data.reason.contains("has no `job` field (it has: data)"),
        "{data:#?}"
    );
    let several = kept(&pairs(entries[1]));
    assert!(
        several
            .reason
            .contains("has no `job` field (it has: to, subject, to)"),
        "{several:#?}"
    );
    // A lone `job` field keeps its text as it is, as a row's payload does.
    let lone = kept(truncated);
    assert!(lone.reason.contains("is not a job envelope"), "{lone:#?}");
    for fields in &entries[3..] {
        let beside = kept(&pairs(fields));
        assert!(
            beside.reason.contains("is not a job envelope")
                && beside
                    .reason
                    .contains(&format!("(it has: job, {})", fields[2])),
            "{beside:#?}"
        );
    }
    for f in &failed {
        assert_eq!(f.queue, "events", "failed records keep their queue: {f:#?}");
        assert!(f.reason.starts_with("stream entry "), "{f:#?}");
    }
    clean(&url).await;
}
