//! The Lua scripts of the `redis` connection: each one step that must be
//! atomic (claim, reclaim, requeue, fail, count), and the Lua functions
//! they share, prepended to a script when it is built.

/// The priorities of a queue, highest first, always including the default 0;
/// shared by the scripts that walk a queue's streams.
pub(super) const PRIORITIES_LUA: &str = r#"
local function priorities(tag, queue)
  local listed = redis.pcall('ZREVRANGE', tag .. ':p:' .. queue, 0, -1)
  local prios = {}
  local has_default = false
  if type(listed) == 'table' and not listed.err then
    for _, p in ipairs(listed) do
      if string.match(p, '^%-?%d+$') then
        prios[#prios + 1] = p
        if p == '0' then has_default = true end
      end
    end
  end
  if not has_default then
    prios[#prios + 1] = '0'
    table.sort(prios, function(a, b) return tonumber(a) > tonumber(b) end)
  end
  return prios
end
"#;

/// Appends a claimed stream entry to the reply: `job` and its JSON when the
/// entry is the one `job` field this crate writes; otherwise `fields`, the
/// number of field names and values, and then each of them, in the entry's
/// order (so a record another program wrote reaches the failed store whole).
pub(super) const ENTRY_LUA: &str = r#"
local function push_entry(out, stream, entry, deliveries)
  local fields = entry[2]
  if type(fields) ~= 'table' then fields = {} end
  if #fields == 2 and fields[1] == 'job' then
    out[#out + 1] = 'job'
    out[#out + 1] = stream
    out[#out + 1] = entry[1]
    out[#out + 1] = fields[2]
    out[#out + 1] = deliveries
  else
    out[#out + 1] = 'fields'
    out[#out + 1] = stream
    out[#out + 1] = entry[1]
    out[#out + 1] = tostring(#fields)
    out[#out + 1] = deliveries
    for k = 1, #fields do out[#out + 1] = fields[k] end
  end
end
"#;

/// Moves due delayed jobs into their streams, then claims new entries.
/// Replies with five values per item: kind (`job`, `fields` for an entry
/// that is not one `job` field, `delayed` for a member it cannot place,
/// `badkey` for a key it cannot read), stream, entry id, data, deliveries;
/// a `fields` item is followed by the entry's fields and values (`data`
/// says how many).
pub(super) const FETCH: &str = r#"
local tag, consumer, now, max = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local function stream_of(queue, prio) return tag .. ':s:' .. queue .. ':' .. prio end
local out = {}
local moved = {}
local due = redis.call('ZRANGEBYSCORE', tag .. ':delayed', '-inf', now, 'LIMIT', 0, 1000)
for _, member in ipairs(due) do
  local a = string.find(member, '\n', 1, true)
  local b = a and string.find(member, '\n', a + 1, true)
  local prio = b and string.sub(member, a + 1, b - 1)
  if a and a > 1 and prio and string.match(prio, '^%-?%d+$') then
    local queue = string.sub(member, 1, a - 1)
    local added = redis.pcall('XADD', stream_of(queue, prio), '*', 'job', string.sub(member, b + 1))
    if type(added) == 'table' and added.err then
      out[#out + 1] = 'badkey'
      out[#out + 1] = stream_of(queue, prio)
      out[#out + 1] = ''
      out[#out + 1] = added.err
      out[#out + 1] = '0'
    else
      redis.call('ZADD', tag .. ':p:' .. queue, 'NX', prio, prio)
      redis.call('ZREM', tag .. ':delayed', member)
      moved[queue] = (moved[queue] or 0) + 1
    end
  else
    out[#out + 1] = 'delayed'
    out[#out + 1] = ''
    out[#out + 1] = ''
    out[#out + 1] = member
    out[#out + 1] = '0'
  end
end
for queue, n in pairs(moved) do redis.call('HINCRBY', tag .. ':delayed:n', queue, -n) end
local left = max
for i = 5, #ARGV do
  if left <= 0 then break end
  local prios = priorities(tag, ARGV[i])
  for _, prio in ipairs(prios) do
    if left <= 0 then break end
    local stream = stream_of(ARGV[i], prio)
    local res = redis.pcall('XREADGROUP', 'GROUP', 'workers', consumer, 'COUNT', left, 'STREAMS', stream, '>')
    if type(res) == 'table' and res.err then
      redis.pcall('XGROUP', 'CREATE', stream, 'workers', '0', 'MKSTREAM')
      res = redis.pcall('XREADGROUP', 'GROUP', 'workers', consumer, 'COUNT', left, 'STREAMS', stream, '>')
    end
    if type(res) == 'table' and res.err then
      out[#out + 1] = 'badkey'
      out[#out + 1] = stream
      out[#out + 1] = ''
      out[#out + 1] = res.err
      out[#out + 1] = '0'
    elseif res then
      for _, entry in ipairs(res[1][2]) do
        push_entry(out, stream, entry, '1')
        left = left - 1
      end
    end
  end
end
return out
"#;

/// Claims the entries pending longer than the visibility timeout, whatever
/// became of their consumer (XPENDING IDLE + XCLAIM), and deletes idle
/// consumers with nothing pending. Replies as [`FETCH`] does.
pub(super) const RECLAIM: &str = r#"
local tag, consumer, min_idle, max = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local out = {}
local left = max
for i = 5, #ARGV do
  local prios = priorities(tag, ARGV[i])
  for _, prio in ipairs(prios) do
    local stream = tag .. ':s:' .. ARGV[i] .. ':' .. prio
    if left > 0 then
      local pending = redis.pcall('XPENDING', stream, 'workers', 'IDLE', min_idle, '-', '+', left)
      if type(pending) == 'table' and not pending.err and #pending > 0 then
        local ids, counts = {}, {}
        for _, p in ipairs(pending) do
          ids[#ids + 1] = p[1]
          counts[p[1]] = p[4]
        end
        local claimed = redis.call('XCLAIM', stream, 'workers', consumer, min_idle, unpack(ids))
        for _, entry in ipairs(claimed) do
          if type(entry) == 'table' then
            push_entry(out, stream, entry, tostring(counts[entry[1]] + 1))
            left = left - 1
          end
        end
      end
    end
    -- Consumers with nothing pending hold nothing: forget the idle ones.
    local consumers = redis.pcall('XINFO', 'CONSUMERS', stream, 'workers')
    if type(consumers) == 'table' and not consumers.err then
      for _, c in ipairs(consumers) do
        local f = {}
        for k = 1, #c, 2 do f[c[k]] = c[k + 1] end
        if f['pending'] == 0 and f['idle'] > min_idle * 2 and f['name'] ~= consumer then
          redis.call('XGROUP', 'DELCONSUMER', stream, 'workers', f['name'])
        end
      end
    end
  end
end
return out
"#;

/// Puts a claimed job back (retry or release), only if the claim still holds.
pub(super) const REQUEUE: &str = r#"
local tag, stream, id, queue, prio, at, now, job = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8]
if redis.call('XACK', stream, 'workers', id) == 1 then
  redis.call('XDEL', stream, id)
  if at > now then
    redis.call('ZADD', tag .. ':delayed', at, queue .. '\n' .. prio .. '\n' .. job)
    redis.call('HINCRBY', tag .. ':delayed:n', queue, 1)
  else
    redis.call('XADD', stream, '*', 'job', job)
  end
  return 1
end
return 0
"#;

/// The failed store's search index: per record, its id in a sorted set
/// (score: when it failed) per filter value (`{p}:fi:<q|n|s|t|e|c|f|w>:<value>`),
/// the list of those sets in `{p}:fi:of` (id -> JSON), and its failure group
/// (`{p}:fg`: fingerprint -> JSON counts, `{p}:fg:recent` by last seen).
/// `index_of(i)` reads what the caller computed from `ARGV[i]` on:
/// fingerprint, name, kind, message, then the sets.
pub(super) const FAILED_INDEX_LUA: &str = r#"
local function index_of(from)
  if not ARGV[from] then return nil end
  local keys = {}
  for i = from + 4, #ARGV do keys[#keys + 1] = ARGV[i] end
  return {fp = ARGV[from], name = ARGV[from + 1], kind = ARGV[from + 2], message = ARGV[from + 3], keys = keys}
end
local function unindex(tag, fid)
  local of = redis.call('HGET', tag .. ':fi:of', fid)
  if not of then return end
  redis.call('HDEL', tag .. ':fi:of', fid)
  local ok, rec = pcall(cjson.decode, of)
  if not ok or type(rec) ~= 'table' then return end
  if type(rec['k']) == 'table' then
    for _, k in ipairs(rec['k']) do redis.call('ZREM', k, fid) end
  end
  local fp = rec['f']
  if type(fp) ~= 'string' then return end
  local g = redis.call('HGET', tag .. ':fg', fp)
  local gok, group = pcall(cjson.decode, g or '')
  if not gok or type(group) ~= 'table' or (tonumber(group['count']) or 0) <= 1 then
    redis.call('HDEL', tag .. ':fg', fp)
    redis.call('ZREM', tag .. ':fg:recent', fp)
  else
    group['count'] = group['count'] - 1
    redis.call('HSET', tag .. ':fg', fp, cjson.encode(group))
  end
end
local function index(tag, fid, at, idx)
  if not idx then return end
  for _, k in ipairs(idx.keys) do redis.call('ZADD', k, at, fid) end
  redis.call('HSET', tag .. ':fi:of', fid, cjson.encode({f = idx.fp, k = idx.keys}))
  local g = redis.call('HGET', tag .. ':fg', idx.fp)
  local ok, group = pcall(cjson.decode, g or '')
  if not ok or type(group) ~= 'table' then
    group = {name = idx.name, kind = idx.kind, message = idx.message, count = 0, first = at, last = at}
  end
  group['count'] = (tonumber(group['count']) or 0) + 1
  if at < (tonumber(group['first']) or at) then group['first'] = at end
  if at > (tonumber(group['last']) or at) then group['last'] = at end
  redis.call('HSET', tag .. ':fg', idx.fp, cjson.encode(group))
  redis.call('ZADD', tag .. ':fg:recent', group['last'], idx.fp)
end
"#;

/// Writes a failed record and drops the oldest beyond the cap, keeping
/// the per-queue count of the failed store (`{p}:failed:n`) right: a
/// record it replaces or drops is uncounted from its own queue.
pub(super) const STORE_FAILED_LUA: &str = r#"
local function failed_queue(record)
  local ok, rec = pcall(cjson.decode, record)
  if ok and type(rec) == 'table' and type(rec['queue']) == 'string' then return rec['queue'] end
  return ''
end
local function store_failed(tag, fid, record, at, cap, queue, idx)
  local old = redis.call('HGET', tag .. ':failed', fid)
  if old then redis.call('HINCRBY', tag .. ':failed:n', failed_queue(old), -1) end
  unindex(tag, fid)
  redis.call('HSET', tag .. ':failed', fid, record)
  redis.call('HINCRBY', tag .. ':failed:n', queue, 1)
  redis.call('ZADD', tag .. ':failed:at', at, fid)
  index(tag, fid, at, idx)
  local n = redis.call('ZCARD', tag .. ':failed:at')
  if n > cap then
    local gone = redis.call('ZRANGE', tag .. ':failed:at', 0, n - cap - 1)
    for _, o in ipairs(gone) do
      local v = redis.call('HGET', tag .. ':failed', o)
      if v then
        redis.call('HINCRBY', tag .. ':failed:n', failed_queue(v), -1)
        redis.call('HDEL', tag .. ':failed', o)
      end
      unindex(tag, o)
    end
    redis.call('ZREMRANGEBYRANK', tag .. ':failed:at', 0, n - cap - 1)
  end
end
"#;

/// Moves a claimed entry to the failed store, only if the claim still holds.
pub(super) const FAIL: &str = r#"
local tag, stream, id, fid, record, at, cap, queue = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8]
if redis.call('XACK', stream, 'workers', id) == 1 then
  redis.call('XDEL', stream, id)
  store_failed(tag, fid, record, at, cap, queue, index_of(9))
  return 1
end
return 0
"#;

/// Moves a delayed member to the failed store, only if no other worker did.
pub(super) const FAIL_DELAYED: &str = r#"
local tag, member, fid, record, at, cap, queue = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
if redis.call('ZREM', tag .. ':delayed', member) == 1 then
  local counted = string.match(member, '^([^\n]+)\n')
  if counted then redis.call('HINCRBY', tag .. ':delayed:n', counted, -1) end
  store_failed(tag, fid, record, at, cap, queue, index_of(8))
  return 1
end
return 0
"#;

/// Per stream (KEYS but the last) its entries no worker has claimed (XLEN
/// minus the group's pending count), then `<queue>`, `<count>` pairs for
/// the delayed set (the last KEY), counted by each member's header. A key
/// of the wrong type counts 0.
pub(super) const SIZES: &str = r#"
local out = {}
for i = 1, #KEYS - 1 do
  local len = redis.pcall('XLEN', KEYS[i])
  local pending = redis.pcall('XPENDING', KEYS[i], 'workers')
  local n = 0
  if type(len) == 'number' then
    n = len
    if type(pending) == 'table' and tonumber(pending[1]) then n = n - tonumber(pending[1]) end
  end
  out[#out + 1] = tostring(n)
end
local delayed = redis.pcall('ZRANGE', KEYS[#KEYS], 0, -1)
if type(delayed) == 'table' and not delayed.err then
  local counts = {}
  for _, member in ipairs(delayed) do
    local queue = string.match(member, '^([^\n]*)\n')
    if queue then counts[queue] = (counts[queue] or 0) + 1 end
  end
  for queue, n in pairs(counts) do
    out[#out + 1] = queue
    out[#out + 1] = tostring(n)
  end
end
return out
"#;

/// Removes a record from the failed store and returns it (KEYS: the
/// records, their times, the per-queue counts).
pub(super) const TAKE_FAILED: &str = r#"
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('HINCRBY', KEYS[3], failed_queue(v), -1)
  unindex(ARGV[2], ARGV[1])
end
return v
"#;

/// Puts a record back in the failed store (no cap: it was there before).
pub(super) const RESTORE_FAILED: &str = r#"
local tag, fid, record, at, queue = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
store_failed(tag, fid, record, at, math.huge, queue, index_of(6))
return 1
"#;
