//! Finding failed jobs on the memory connection: its failed store is a
//! list in this process, filtered in place (a development connection; the
//! stored ones answer from indexes), its groups counted as jobs fail.

use async_trait::async_trait;

use super::MemoryBackend;
use crate::QueueError;
use crate::backend::FailedSearch;
use crate::failed::query::{FailedCursor, FailedPage, FailedQuery, FailureGroup};

#[async_trait]
impl FailedSearch for MemoryBackend {
    async fn failed_search(&self, query: &FailedQuery) -> Result<FailedPage, QueueError> {
        let state = self.store.state();
        let mut found: Vec<_> = state.failed.iter().filter(|j| query.matches(j)).collect();
        found.sort_by(|a, b| (b.failed_at, &b.id).cmp(&(a.failed_at, &a.id)));
        let size = query.page_size();
        let more = found.len() > size;
        let jobs: Vec<_> = found.into_iter().take(size).cloned().collect();
        let next = more.then(|| jobs.last().map(FailedCursor::after)).flatten();
        Ok(FailedPage { jobs, next })
    }

    async fn failed_count(&self, query: &FailedQuery) -> Result<u64, QueueError> {
        let query = FailedQuery {
            after: None,
            ..query.clone()
        };
        let state = self.store.state();
        Ok(state.failed.iter().filter(|j| query.matches(j)).count() as u64)
    }

    async fn failed_groups(&self) -> Result<Vec<FailureGroup>, QueueError> {
        let mut groups: Vec<FailureGroup> = self.store.state().groups.values().cloned().collect();
        groups.sort_by_key(|g| std::cmp::Reverse(g.last_seen_ms));
        Ok(groups)
    }
}
