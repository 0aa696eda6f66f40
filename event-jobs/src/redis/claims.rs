//! Claiming jobs on the `redis` connection: running the fetch or reclaim
//! script, reading its reply, and sorting it into claimed jobs and records
//! that are not jobs (moved to the failed store, see [`super::poison`]).

use redis::Script;

use super::RedisBackend;
use crate::QueueError;
use crate::backend::Backend;
use crate::job::{Claimed, FailedJob, Job, JobEnvelope, Receipt};

/// One item of the fetch or reclaim script's reply.
enum Fetched {
    /// A claimed entry and its `job` field (not yet known to be an envelope).
    Entry {
        stream: String,
        id: String,
        job: Vec<u8>,
        deliveries: u32,
    },
    /// A claimed entry that is not one `job` field: its fields and values.
    Fields {
        stream: String,
        id: String,
        fields: Vec<(Vec<u8>, Vec<u8>)>,
        deliveries: u32,
    },
    /// A delayed member without a readable `<queue>\n<priority>\n` header.
    Delayed { member: Vec<u8> },
    /// A key of the wrong type, and Redis's complaint.
    BadKey { key: String, error: String },
}

/// What to do with each item of a claim reply.
struct Claims {
    claimed: Vec<Claimed>,
    /// Claimed entries that are not jobs.
    entries: Vec<(Receipt, FailedJob)>,
    /// Delayed members that are not jobs.
    delayed: Vec<(Vec<u8>, FailedJob)>,
    bad_keys: Vec<(String, String)>,
}

impl RedisBackend {
    /// Runs the fetch or reclaim script (`ARGV[3]` is the time now, or the
    /// minimum idle time) and moves what is not a job to the failed store.
    pub(super) async fn run_claims(
        &self,
        script: &Script,
        queues: &[String],
        max: usize,
        consumer: &str,
        now_or_idle: i64,
    ) -> Result<Vec<Claimed>, QueueError> {
        let mut invocation = script.key(self.key("delayed"));
        invocation
            .arg(&self.tag)
            .arg(consumer)
            .arg(now_or_idle)
            .arg(max);
        for q in queues {
            invocation.arg(q);
        }
        let mut conn = self.conn.clone();
        let flat: Vec<Vec<u8>> = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(self.redis("claim jobs"))?;
        let claims = self.sort_claims(Self::read_reply(flat));
        for (key, error) in claims.bad_keys {
            tracing::error!(url = %self.url, %key, %error, "a queue key holds something other than a stream; its jobs cannot be read");
        }
        for (receipt, failed) in claims.entries {
            tracing::error!(url = %self.url, job = %failed.id, reason = %failed.reason, "moving an unreadable entry to the failed store");
            self.fail(receipt, failed).await?;
        }
        for (member, failed) in claims.delayed {
            tracing::error!(url = %self.url, job = %failed.id, reason = %failed.reason, "moving an unreadable delayed job to the failed store");
            self.fail_delayed(member, failed).await?;
        }
        Ok(claims.claimed)
    }

    /// Reads the script's reply: five values per item, and after a `fields`
    /// item the entry's fields and values.
    fn read_reply(flat: Vec<Vec<u8>>) -> Vec<Fetched> {
        let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
        let mut items = Vec::with_capacity(flat.len() / 5);
        let mut it = flat.into_iter();
        while let (Some(kind), Some(stream), Some(id), Some(data), Some(count)) =
            (it.next(), it.next(), it.next(), it.next(), it.next())
        {
            let deliveries = text(count).parse().unwrap_or(1);
            items.push(match kind.as_slice() {
                b"job" => Fetched::Entry {
                    stream: text(stream),
                    id: text(id),
                    job: data,
                    deliveries,
                },
                b"fields" => {
                    let n: usize = text(data).parse().unwrap_or(0);
                    let mut fields = Vec::with_capacity(n / 2);
                    let mut values = it.by_ref().take(n);
                    while let Some(name) = values.next() {
                        fields.push((name, values.next().unwrap_or_default()));
                    }
                    Fetched::Fields {
                        stream: text(stream),
                        id: text(id),
                        fields,
                        deliveries,
                    }
                }
                b"delayed" => Fetched::Delayed { member: data },
                _ => Fetched::BadKey {
                    key: text(stream),
                    error: text(data),
                },
            });
        }
        items
    }

    /// Sorts a reply into claimed jobs and records for the failed store.
    fn sort_claims(&self, items: Vec<Fetched>) -> Claims {
        let mut claims = Claims {
            claimed: Vec::with_capacity(items.len()),
            entries: Vec::new(),
            delayed: Vec::new(),
            bad_keys: Vec::new(),
        };
        for item in items {
            match item {
                Fetched::Entry {
                    stream,
                    id,
                    job,
                    deliveries,
                } => match serde_json::from_slice::<JobEnvelope>(&job) {
                    Ok(envelope) => claims.claimed.push(Claimed {
                        attempt: envelope.attempts + deliveries,
                        job: Job::from_envelope(envelope),
                        receipt: Receipt {
                            key: stream,
                            token: id,
                        },
                    }),
                    Err(e) => {
                        let queue = self.queue_of(&stream);
                        let reason = format!(
                            "stream entry {id} of queue `{queue}` is not a job envelope: {e}"
                        );
                        let raw = String::from_utf8_lossy(&job).into_owned();
                        let failed = FailedJob::new(
                            JobEnvelope::unreadable(format!("{queue}-{id}"), queue, &raw),
                            reason,
                            deliveries,
                        );
                        claims.entries.push((
                            Receipt {
                                key: stream,
                                token: id,
                            },
                            failed,
                        ));
                    }
                },
                Fetched::Fields {
                    stream,
                    id,
                    fields,
                    deliveries,
                } => {
                    // A `job` field beside others is still a job if it holds one.
                    let job = fields.iter().find(|(name, _)| name == b"job");
                    let parsed = job.map(|(_, job)| serde_json::from_slice::<JobEnvelope>(job));
                    if let Some(Ok(envelope)) = parsed {
                        claims.claimed.push(Claimed {
                            attempt: envelope.attempts + deliveries,
                            job: Job::from_envelope(envelope),
                            receipt: Receipt {
                                key: stream,
                                token: id,
                            },
                        });
                        continue;
                    }
                    let queue = self.queue_of(&stream);
                    let names = fields
                        .iter()
                        .map(|(name, _)| String::from_utf8_lossy(name))
                        .collect::<Vec<_>>()
                        .join(", ");
                    let reason = match parsed {
                        Some(Err(e)) => format!(
                            "stream entry {id} of queue `{queue}` is not a job envelope: {e} (it has: {names})"
                        ),
                        _ if fields.is_empty() => {
                            format!("stream entry {id} of queue `{queue}` has no `job` field")
                        }
                        _ => format!(
                            "stream entry {id} of queue `{queue}` has no `job` field (it has: {names})"
                        ),
                    };
                    // Every field and value is kept, as the payload's text.
                    let failed = FailedJob::new(
                        JobEnvelope::unreadable(
                            format!("{queue}-{id}"),
                            queue,
                            &super::poison::entry_text(&fields),
                        ),
                        reason,
                        deliveries,
                    );
                    claims.entries.push((
                        Receipt {
                            key: stream,
                            token: id,
                        },
                        failed,
                    ));
                }
                Fetched::Delayed { member } => {
                    let failed = self.unreadable_delayed(&member);
                    claims.delayed.push((member, failed));
                }
                Fetched::BadKey { key, error } => claims.bad_keys.push((key, error)),
            }
        }
        claims
    }
}
