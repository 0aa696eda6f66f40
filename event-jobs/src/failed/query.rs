//! Finding failed jobs: filters that every connection answers from an
//! index it keeps as jobs fail (never by reading every failed job), newest
//! first, paged by a key (the last row seen), not by an offset.

use serde::{Deserialize, Serialize};

use crate::job::FailedJob;

/// Which failed jobs; every filter given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FailedQuery {
    /// On this queue.
    pub queue: Option<String>,
    /// Of this job name: the listener's (`app::listeners::SendMail`, or
    /// just its last segment `SendMail`), or the event's for a queued event.
    pub name: Option<String>,
    /// Carrying this tag.
    pub tag: Option<String>,
    /// Of this event (the event store's id).
    pub event_id: Option<String>,
    /// Of this correlation chain.
    pub correlation_id: Option<String>,
    /// In this failure group ([`FailureGroup::fingerprint`]).
    pub fingerprint: Option<String>,
    /// Whose error holds every word of this text (case-insensitive).
    pub text: Option<String>,
    /// After this row, newest first (the `next` of the page before).
    pub after: Option<FailedCursor>,
    /// At most this many (50 when 0; at most 1,000).
    pub limit: usize,
}

impl FailedQuery {
    /// The page size to use.
    pub fn page_size(&self) -> usize {
        match self.limit {
            0 => 50,
            n => n.min(1_000),
        }
    }

    /// The words `text` must hold, lower-cased (letters and digits).
    pub fn words(&self) -> Vec<String> {
        self.text.as_deref().map(words).unwrap_or_default()
    }

    /// True when `job` passes every filter but the cursor: the one home of
    /// the rule, for connections that check a row after an index found it.
    pub fn matches(&self, job: &FailedJob) -> bool {
        let envelope = &job.payload;
        let name = envelope.listener.as_deref().unwrap_or(&envelope.event);
        self.queue.as_ref().is_none_or(|q| *q == job.queue)
            && self.name.as_ref().is_none_or(|n| names_match(n, name))
            && self
                .tag
                .as_ref()
                .is_none_or(|t| envelope.settings.tags.iter().any(|x| x == t))
            && self
                .event_id
                .as_ref()
                .is_none_or(|e| envelope.event_id.as_ref() == Some(e))
            && self
                .correlation_id
                .as_ref()
                .is_none_or(|c| envelope.correlation_id.as_ref() == Some(c))
            && self
                .fingerprint
                .as_ref()
                .is_none_or(|f| *f == super::fingerprint::fingerprint(job))
            && {
                let have = words(&job.reason);
                self.words().iter().all(|w| have.contains(w))
            }
            && self.after.as_ref().is_none_or(|c| c.is_before(job))
    }
}

/// A name filter matches the full name or its last `::` segment.
pub(crate) fn names_match(wanted: &str, name: &str) -> bool {
    wanted == name || name.rsplit("::").next() == Some(wanted)
}

/// The words of a text, lower-cased: what text search indexes and matches.
pub(crate) fn words(text: &str) -> Vec<String> {
    let mut words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    words.sort();
    words.dedup();
    words
}

/// Where a page ended: the last row's time and id. Written as
/// `<failed_at>:<id>` on the command line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedCursor {
    /// The row's `failed_at` (ms).
    pub failed_at: i64,
    /// The row's id.
    pub id: String,
}

impl FailedCursor {
    /// The cursor after `job`.
    pub fn after(job: &FailedJob) -> Self {
        Self {
            failed_at: job.failed_at,
            id: job.id.clone(),
        }
    }

    /// True when `job` comes after this cursor, newest first.
    pub fn is_before(&self, job: &FailedJob) -> bool {
        (job.failed_at, job.id.as_str()) < (self.failed_at, self.id.as_str())
    }
}

impl std::fmt::Display for FailedCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.failed_at, self.id)
    }
}

impl std::str::FromStr for FailedCursor {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (at, id) = text.split_once(':').ok_or_else(|| {
            format!("`{text}` is not a page cursor (`<failed_at>:<id>`, as `next` prints it)")
        })?;
        Ok(Self {
            failed_at: at
                .parse()
                .map_err(|_| format!("`{text}` is not a page cursor: `{at}` is not a time"))?,
            id: id.to_string(),
        })
    }
}

/// One page of failed jobs, newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FailedPage {
    /// The jobs.
    pub jobs: Vec<FailedJob>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<FailedCursor>,
}

/// Failures that share a fingerprint: the same job name, kind of error and
/// message once numbers, ids and quoted values are taken out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureGroup {
    /// The group's key (hex).
    pub fingerprint: String,
    /// The job's name.
    pub name: String,
    /// `error`, `timeout`, `panic`, `unreadable`, `middleware`.
    pub kind: String,
    /// The message, normalised (`card declined for order #`).
    pub message: String,
    /// Failed jobs in the group now (retried and forgotten ones leave it).
    pub count: u64,
    /// When the first of them failed (ms).
    pub first_seen_ms: i64,
    /// When the last of them failed (ms).
    pub last_seen_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_junk() {
        let c: FailedCursor = "1700000000000:01J9Z".parse().unwrap();
        assert_eq!(c.to_string(), "1700000000000:01J9Z");
        assert!(
            "nope"
                .parse::<FailedCursor>()
                .unwrap_err()
                .contains("not a page cursor")
        );
    }

    #[test]
    fn words_are_lowercase_and_unique() {
        assert_eq!(
            words("Card DECLINED: card 42"),
            vec!["42", "card", "declined"]
        );
    }

    #[test]
    fn a_short_name_matches_the_last_segment() {
        assert!(names_match("SendMail", "app::listeners::SendMail"));
        assert!(names_match(
            "app::listeners::SendMail",
            "app::listeners::SendMail"
        ));
        assert!(!names_match("Mail", "app::listeners::SendMail"));
    }
}
