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
    end
  else
    out[#out + 1] = 'delayed'
    out[#out + 1] = ''
    out[#out + 1] = ''
    out[#out + 1] = member
    out[#out + 1] = '0'
  end
end
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
  else
    redis.call('XADD', stream, '*', 'job', job)
  end
  return 1
end
return 0
"#;

/// Writes a failed record and drops the oldest beyond the cap.
pub(super) const STORE_FAILED_LUA: &str = r#"
local function store_failed(tag, fid, record, at, cap)
  redis.call('HSET', tag .. ':failed', fid, record)
  redis.call('ZADD', tag .. ':failed:at', at, fid)
  local n = redis.call('ZCARD', tag .. ':failed:at')
  if n > cap then
    local old = redis.call('ZRANGE', tag .. ':failed:at', 0, n - cap - 1)
    for _, o in ipairs(old) do redis.call('HDEL', tag .. ':failed', o) end
    redis.call('ZREMRANGEBYRANK', tag .. ':failed:at', 0, n - cap - 1)
  end
end
"#;

/// Moves a claimed entry to the failed store, only if the claim still holds.
pub(super) const FAIL: &str = r#"
local tag, stream, id, fid, record, at, cap = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7])
if redis.call('XACK', stream, 'workers', id) == 1 then
  redis.call('XDEL', stream, id)
  store_failed(tag, fid, record, at, cap)
  return 1
end
return 0
"#;

/// Moves a delayed member to the failed store, only if no other worker did.
pub(super) const FAIL_DELAYED: &str = r#"
local tag, member, fid, record, at, cap = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
if redis.call('ZREM', tag .. ':delayed', member) == 1 then
  store_failed(tag, fid, record, at, cap)
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

/// Removes a record from the failed store and returns it.
pub(super) const TAKE_FAILED: &str = r#"
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
end
return v
"#;
