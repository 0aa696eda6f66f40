//! Finding failed jobs on the `redis` connection, from the index the
//! failed-store scripts keep as records are written, replaced, dropped
//! beyond the cap and taken (`FAILED_INDEX_LUA`): one sorted set per filter
//! value (score: when the job failed), and the failure groups. A search
//! walks the smallest set the filters name, newest first, checks the
//! others' membership (ZSCORE) and stops at a page: it never reads every
//! record, never lists keys.

use async_trait::async_trait;
use redis::{AsyncCommands, Script};

use super::RedisBackend;
use super::scripts::FAILED_INDEX_LUA;
use crate::QueueError;
use crate::backend::FailedSearch;
use crate::failed::fingerprint;
use crate::failed::query::{FailedCursor, FailedPage, FailedQuery, FailureGroup, words};
use crate::job::FailedJob;

/// At most this many words of an error are indexed.
const WORDS_INDEXED: usize = 200;

/// Walks ARGV[1] (a sorted set) from score ARGV[2] down, skipping what is
/// not after the cursor (ARGV[3]: its id, '' for none), keeping the ids in
/// every set ARGV[5..]; replies id, score pairs, at most ARGV[4] of them.
const SEARCH: &str = r"
local drive, max, after, want = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local at_max = tonumber(max)
local out, offset = {}, 0
while #out < want * 2 do
  local batch = redis.call('ZRANGE', drive, max, '-inf', 'BYSCORE', 'REV', 'LIMIT', offset, 500, 'WITHSCORES')
  if #batch == 0 then break end
  for i = 1, #batch, 2 do
    local id = batch[i]
    local keep = not (after ~= '' and tonumber(batch[i + 1]) == at_max and id >= after)
    if keep then
      for k = 5, #ARGV do
        if not redis.call('ZSCORE', ARGV[k], id) then keep = false; break end
      end
    end
    if keep then
      out[#out + 1] = id
      out[#out + 1] = batch[i + 1]
      if #out >= want * 2 then break end
    end
  end
  offset = offset + 500
end
return out
";

/// Indexes a record an older build wrote (once per prefix: `{p}:fi:v1`),
/// unless it is indexed already. ARGV: tag, id, failed at, then as
/// `index_of(4)` reads.
const INDEX_OLD: &str = r"
local tag, fid = ARGV[1], ARGV[2]
if redis.call('HEXISTS', tag .. ':failed', fid) == 1 and redis.call('HEXISTS', tag .. ':fi:of', fid) == 0 then
  index(tag, fid, tonumber(ARGV[3]), index_of(4))
end
return 1
";

/// Deletes the whole index (the failed store is purged).
const PURGE_INDEX: &str = r"
local tag = ARGV[1]
for _, of in ipairs(redis.call('HVALS', tag .. ':fi:of')) do
  local ok, rec = pcall(cjson.decode, of)
  if ok and type(rec) == 'table' and type(rec['k']) == 'table' then
    for _, k in ipairs(rec['k']) do redis.call('DEL', k) end
  end
end
redis.call('DEL', tag .. ':fi:of', tag .. ':fg', tag .. ':fg:recent')
return 1
";

impl RedisBackend {
    fn index_key(&self, kind: char, value: &str) -> String {
        self.key(&format!("fi:{kind}:{value}"))
    }

    /// What the failed-store scripts index a record by: fingerprint, name,
    /// kind, message, then the sets it belongs to.
    pub(super) fn index_args(&self, failed: &FailedJob) -> Vec<String> {
        let name = fingerprint::name_of(failed);
        let envelope = &failed.payload;
        let mut args = vec![
            fingerprint::fingerprint(failed),
            name.to_string(),
            fingerprint::kind(&failed.reason).to_string(),
            fingerprint::normalise(&failed.reason),
            self.index_key('q', &failed.queue),
            self.index_key('n', name),
            self.index_key('s', name.rsplit("::").next().unwrap_or(name)),
        ];
        args.push(self.index_key('f', &args[0].clone()));
        args.extend(
            envelope
                .settings
                .tags
                .iter()
                .map(|t| self.index_key('t', t)),
        );
        args.extend(envelope.event_id.iter().map(|e| self.index_key('e', e)));
        args.extend(
            envelope
                .correlation_id
                .iter()
                .map(|c| self.index_key('c', c)),
        );
        args.extend(
            words(&failed.reason)
                .iter()
                .take(WORDS_INDEXED)
                .map(|w| self.index_key('w', w)),
        );
        args
    }

    /// The sets `query`'s filters name (empty: no filter).
    fn filter_sets(&self, query: &FailedQuery) -> Vec<String> {
        let mut sets = Vec::new();
        if let Some(q) = &query.queue {
            sets.push(self.index_key('q', q));
        }
        if let Some(n) = &query.name {
            let kind = if n.contains("::") { 'n' } else { 's' };
            sets.push(self.index_key(kind, n));
        }
        for (kind, value) in [
            ('t', &query.tag),
            ('e', &query.event_id),
            ('c', &query.correlation_id),
            ('f', &query.fingerprint),
        ] {
            if let Some(v) = value {
                sets.push(self.index_key(kind, v));
            }
        }
        sets.extend(query.words().iter().map(|w| self.index_key('w', w)));
        sets
    }

    /// Ids (and when they failed) `query` matches, newest first, at most
    /// `want`, walking the smallest set.
    async fn matching(
        &self,
        query: &FailedQuery,
        want: usize,
    ) -> Result<Vec<(String, i64)>, QueueError> {
        let mut sets = self.filter_sets(query);
        if sets.is_empty() {
            sets.push(self.key("failed:at"));
        }
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        for s in &sets {
            pipe.zcard(s);
        }
        let sizes: Vec<u64> = pipe
            .query_async(&mut conn)
            .await
            .map_err(self.redis("search failed jobs"))?;
        let smallest = (0..sets.len()).min_by_key(|&i| sizes[i]).unwrap_or(0);
        if sizes[smallest] == 0 {
            return Ok(Vec::new());
        }
        let drive = sets.remove(smallest);
        let (max, after) = match &query.after {
            Some(c) => (c.failed_at.to_string(), c.id.clone()),
            None => ("+inf".to_string(), String::new()),
        };
        let flat: Vec<String> = Script::new(SEARCH)
            .arg(drive)
            .arg(max)
            .arg(after)
            .arg(want)
            .arg(sets)
            .invoke_async(&mut conn)
            .await
            .map_err(self.redis("search failed jobs"))?;
        Ok(flat
            .chunks_exact(2)
            .map(|p| (p[0].clone(), p[1].parse::<f64>().unwrap_or(0.0) as i64))
            .collect())
    }

    /// Indexes the failed records a build before search wrote, once.
    pub(super) async fn index_old_failed(&self) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let first: bool = conn
            .set_nx(self.key("fi:v1"), 1)
            .await
            .map_err(self.redis("index the failed jobs"))?;
        if !first {
            return Ok(());
        }
        let script = Script::new(&format!("{FAILED_INDEX_LUA}{INDEX_OLD}"));
        for failed in crate::backend::FailedStore::failed_list(self).await? {
            let _: i64 = script
                .arg(&self.tag)
                .arg(&failed.id)
                .arg(failed.failed_at)
                .arg(self.index_args(&failed))
                .invoke_async(&mut conn)
                .await
                .map_err(self.redis("index the failed jobs"))?;
        }
        Ok(())
    }

    /// Deletes the failed store's index (with the store).
    pub(super) async fn purge_index(&self) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let _: i64 = Script::new(PURGE_INDEX)
            .arg(&self.tag)
            .invoke_async(&mut conn)
            .await
            .map_err(self.redis("purge failed jobs"))?;
        Ok(())
    }
}

#[async_trait]
impl FailedSearch for RedisBackend {
    async fn failed_search(&self, query: &FailedQuery) -> Result<FailedPage, QueueError> {
        let size = query.page_size();
        let found = self.matching(query, size + 1).await?;
        let mut jobs = Vec::with_capacity(found.len());
        if !found.is_empty() {
            let ids: Vec<&str> = found.iter().map(|(id, _)| id.as_str()).collect();
            let mut conn = self.conn.clone();
            let records: Vec<Option<Vec<u8>>> = redis::cmd("HMGET")
                .arg(self.key("failed"))
                .arg(&ids)
                .query_async(&mut conn)
                .await
                .map_err(self.redis("search failed jobs"))?;
            for ((id, _), record) in found.into_iter().zip(records) {
                if let Some(record) = record {
                    jobs.push(super::failed_record(id, &record));
                }
            }
        }
        let next = (jobs.len() > size).then(|| {
            jobs.truncate(size);
            jobs.last().map(FailedCursor::after)
        });
        Ok(FailedPage {
            jobs,
            next: next.flatten(),
        })
    }

    async fn failed_count(&self, query: &FailedQuery) -> Result<u64, QueueError> {
        let query = FailedQuery {
            after: None,
            limit: 0,
            ..query.clone()
        };
        let sets = self.filter_sets(&query);
        let mut conn = self.conn.clone();
        match sets.as_slice() {
            // Kept by the counters and the index: no record is read.
            [] => conn
                .zcard(self.key("failed:at"))
                .await
                .map_err(self.redis("count failed jobs")),
            [one] => conn
                .zcard(one)
                .await
                .map_err(self.redis("count failed jobs")),
            _ => Ok(self.matching(&query, usize::MAX / 4).await?.len() as u64),
        }
    }

    async fn failed_groups(&self) -> Result<Vec<FailureGroup>, QueueError> {
        let mut conn = self.conn.clone();
        let prints: Vec<String> = conn
            .zrevrange(self.key("fg:recent"), 0, 999)
            .await
            .map_err(self.redis("list failure groups"))?;
        if prints.is_empty() {
            return Ok(Vec::new());
        }
        let groups: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(self.key("fg"))
            .arg(&prints)
            .query_async(&mut conn)
            .await
            .map_err(self.redis("list failure groups"))?;
        Ok(prints
            .into_iter()
            .zip(groups)
            .filter_map(|(fingerprint, json)| {
                let g: serde_json::Value = serde_json::from_str(&json?).ok()?;
                let text = |k: &str| g[k].as_str().unwrap_or_default().to_string();
                let number = |k: &str| g[k].as_f64().unwrap_or(0.0) as i64;
                Some(FailureGroup {
                    fingerprint,
                    name: text("name"),
                    kind: text("kind"),
                    message: text("message"),
                    count: number("count").max(0) as u64,
                    first_seen_ms: number("first"),
                    last_seen_ms: number("last"),
                })
            })
            .collect())
    }
}
