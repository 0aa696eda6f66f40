//! `EventStore::query()`: the history, filtered, paged by position.

use chrono::{DateTime, Utc};

use super::EventStore;
use super::error::StoreError;
use super::record::EventRecord;

/// What a query selects. Build it through [`EventStore::query`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// Only events of this name (exact match).
    pub name: Option<String>,
    /// Only events carrying this tag.
    pub tag: Option<String>,
    /// Only events of this chain (its top-level event's id).
    pub correlation: Option<String>,
    /// Only events of this stream.
    pub stream: Option<String>,
    /// Only events dispatched at or after this.
    pub since: Option<DateTime<Utc>>,
    /// Only positions above this (the page cursor).
    pub after: Option<i64>,
    /// Rows per page (0: the default, 100).
    pub limit: usize,
    /// Include replay records (`replay_of` set); off by default.
    pub replays: bool,
}

/// A bound parameter of a query.
#[derive(Debug, Clone)]
pub(crate) enum Param {
    Text(String),
    Int(i64),
    Time(DateTime<Utc>),
}

impl Filter {
    /// The WHERE clause (without `WHERE`, `TRUE` when empty) and its
    /// parameters; `placeholder(n)` spells parameter n (1-based), `tag` the
    /// backend's test for one tag.
    pub(crate) fn to_sql(
        &self,
        placeholder: impl Fn(usize) -> String,
        tag: impl Fn(&str) -> String,
    ) -> (String, Vec<Param>) {
        let mut clauses = Vec::new();
        let mut params = Vec::new();
        let mut add = |clause: &dyn Fn(&str) -> String, param: Param| {
            params.push(param);
            clauses.push(clause(&placeholder(params.len())));
        };
        if let Some(name) = &self.name {
            add(&|p| format!("name = {p}"), Param::Text(name.clone()));
        }
        if let Some(t) = &self.tag {
            add(&|p| tag(p), Param::Text(t.clone()));
        }
        if let Some(c) = &self.correlation {
            add(&|p| format!("correlation_id = {p}"), Param::Text(c.clone()));
        }
        if let Some(s) = &self.stream {
            add(&|p| format!("stream = {p}"), Param::Text(s.clone()));
        }
        if let Some(since) = self.since {
            add(&|p| format!("dispatched_at >= {p}"), Param::Time(since));
        }
        if let Some(after) = self.after {
            add(&|p| format!("position > {p}"), Param::Int(after));
        }
        if !self.replays {
            clauses.push("replay_of IS NULL".to_string());
        }
        if clauses.is_empty() {
            ("TRUE".to_string(), params)
        } else {
            (clauses.join(" AND "), params)
        }
    }

    pub(crate) fn page_size(&self) -> usize {
        if self.limit == 0 { 100 } else { self.limit }
    }
}

/// A query being built: `store.query().name("OrderProcessed").tag("order").limit(50).fetch().await?`.
#[derive(Clone)]
pub struct Query {
    store: EventStore,
    filter: Filter,
}

impl std::fmt::Debug for Query {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Query").finish_non_exhaustive()
    }
}

/// One page of results and where the next one starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The matching events, in position order.
    pub records: Vec<EventRecord>,
    /// Pass to [`Query::after`] for the next page; `None` when this page is
    /// not full (a full last page is followed by an empty one).
    pub next: Option<i64>,
}

impl Query {
    pub(crate) fn new(store: EventStore) -> Self {
        Self {
            store,
            filter: Filter::default(),
        }
    }

    /// Only events of this name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.filter.name = Some(name.into());
        self
    }

    /// Only events carrying this tag.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.filter.tag = Some(tag.into());
        self
    }

    /// Only events of this chain (its top-level event's id).
    pub fn correlation(mut self, correlation_id: impl Into<String>) -> Self {
        self.filter.correlation = Some(correlation_id.into());
        self
    }

    /// Only events of this stream.
    pub fn stream(mut self, stream: impl Into<String>) -> Self {
        self.filter.stream = Some(stream.into());
        self
    }

    /// Only events dispatched at or after `since`.
    pub fn since(mut self, since: DateTime<Utc>) -> Self {
        self.filter.since = Some(since);
        self
    }

    /// Only events after this position (the next page).
    pub fn after(mut self, position: i64) -> Self {
        self.filter.after = Some(position);
        self
    }

    /// At most `n` events per page (default 100).
    pub fn limit(mut self, n: usize) -> Self {
        self.filter.limit = n;
        self
    }

    /// Include replay records (rows with `replay_of`).
    pub fn include_replays(mut self) -> Self {
        self.filter.replays = true;
        self
    }

    /// What the query selects so far.
    pub fn filter(&self) -> &Filter {
        &self.filter
    }

    /// The first page, oldest first.
    pub async fn fetch(&self) -> Result<Vec<EventRecord>, StoreError> {
        Ok(self.page().await?.records)
    }

    /// The first page and the cursor of the next.
    pub async fn page(&self) -> Result<Page, StoreError> {
        let mut filter = self.filter.clone();
        filter.limit = filter.page_size();
        let records = self.store.backend().query(&filter).await?;
        let next = (records.len() == filter.limit)
            .then(|| records.last().map(|r| r.position))
            .flatten();
        Ok(Page { records, next })
    }

    /// Every matching event, page by page (`visit` sees each page; the
    /// whole result is never held in memory).
    pub async fn for_each_page<F>(&self, mut visit: F) -> Result<usize, StoreError>
    where
        F: FnMut(Vec<EventRecord>) -> Result<(), StoreError>,
    {
        let mut query = self.clone();
        let mut seen = 0;
        loop {
            let page = query.page().await?;
            seen += page.records.len();
            visit(page.records)?;
            match page.next {
                Some(next) => query = query.after(next),
                None => return Ok(seen),
            }
        }
    }
}
