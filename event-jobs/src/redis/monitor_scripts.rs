//! The Lua scripts of the `redis` connection's monitoring: counting what
//! a prefix already holds (once, when the counters are first made), the
//! gauges read, and clearing one queue's waiting jobs. See
//! [`super::monitoring`] for the keys and what each figure means.

/// `redis.pcall` that answers `nil` for an error (a key of the wrong type
/// counts as empty), and a reply of field/value pairs as a table.
pub(super) const CALL_LUA: &str = r#"
local function call(...)
  local r = redis.pcall(...)
  if type(r) == 'table' and r.err then return nil end
  return r
end
local function fields(list)
  local f = {}
  for k = 1, #list, 2 do f[list[k]] = list[k + 1] end
  return f
end
local function group_of(stream)
  local groups = call('XINFO', 'GROUPS', stream)
  if type(groups) ~= 'table' then return nil end
  for _, g in ipairs(groups) do
    local f = fields(g)
    if f['name'] == 'workers' then return f end
  end
  return nil
end
"#;

/// Runs once per prefix (the `{p}:counted` marker): counts the delayed set
/// per queue and the failed store per queue, so a prefix that held jobs
/// before monitoring existed starts with right counters. Replies 1 when it
/// counted (the caller then lists the queues of the existing streams), 0
/// when the counters already existed. Needs `failed_queue` (from
/// `STORE_FAILED_LUA`).
pub(super) const COUNT_ONCE: &str = r#"
local tag = ARGV[1]
if not redis.call('SET', tag .. ':counted', '1', 'NX') then return 0 end
local delayed = {}
local n = call('ZCARD', tag .. ':delayed') or 0
for start = 0, n - 1, 1000 do
  for _, m in ipairs(call('ZRANGE', tag .. ':delayed', start, start + 999) or {}) do
    local q = string.match(m, '^([^\n]+)\n')
    if q then delayed[q] = (delayed[q] or 0) + 1 end
  end
end
redis.call('DEL', tag .. ':delayed:n')
for q, c in pairs(delayed) do
  redis.call('HSET', tag .. ':delayed:n', q, c)
  redis.call('SADD', tag .. ':queues', q)
end
local failed = {}
for _, v in ipairs(call('HVALS', tag .. ':failed') or {}) do
  local q = failed_queue(v)
  failed[q] = (failed[q] or 0) + 1
end
redis.call('DEL', tag .. ':failed:n')
for q, c in pairs(failed) do redis.call('HSET', tag .. ':failed:n', q, c) end
return 1
"#;

/// Every queue's gauges, seven values per queue: name, pending, delayed,
/// running, failed, paused (0/1), age of the oldest ready job (ms).
/// ARGV: tag, the time now (ms, the clients' clock, as delayed scores).
/// Reads counters and O(1)/O(log n) stream facts only (XLEN, the group's
/// pending count and last delivered id, the first entry after it), and at
/// most 1000 due members of the delayed set (the oldest): no key listing,
/// nothing that grows with the jobs.
pub(super) const GAUGES: &str = r#"
local tag, now = ARGV[1], tonumber(ARGV[2])
local t = redis.call('TIME')
local server_now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local names = {}
local function add(q) if q ~= '' then names[q] = true end end
for _, q in ipairs(call('SMEMBERS', tag .. ':queues') or {}) do add(q) end
local paused = {}
for _, q in ipairs(call('SMEMBERS', tag .. ':paused') or {}) do add(q); paused[q] = true end
local failed = fields(call('HGETALL', tag .. ':failed:n') or {})
for q, n in pairs(failed) do if tonumber(n) and tonumber(n) > 0 then add(q) end end
local delayed = fields(call('HGETALL', tag .. ':delayed:n') or {})
-- Due members no worker has moved yet are ready: the oldest 1000.
local due, due_first = {}, {}
local members = call('ZRANGEBYSCORE', tag .. ':delayed', '-inf', now, 'WITHSCORES', 'LIMIT', 0, 1000) or {}
for k = 1, #members, 2 do
  local q = string.match(members[k], '^([^\n]+)\n')
  if q then
    due[q] = (due[q] or 0) + 1
    if not due_first[q] then due_first[q] = tonumber(members[k + 1]) end
  end
end
local out = {}
for q in pairs(names) do
  local pending, running, oldest = 0, 0, 0
  for _, prio in ipairs(priorities(tag, q)) do
    local s = tag .. ':s:' .. q .. ':' .. prio
    local len = call('XLEN', s)
    if type(len) == 'number' and len > 0 then
      local g = group_of(s)
      local pel = 0
      if g and tonumber(g['pending']) then pel = tonumber(g['pending']) end
      running = running + pel
      if len > pel then
        pending = pending + len - pel
        local first
        if g then
          first = call('XRANGE', s, '(' .. g['last-delivered-id'], '+', 'COUNT', 1)
        else
          first = call('XRANGE', s, '-', '+', 'COUNT', 1)
        end
        if type(first) == 'table' and first[1] then
          local ms = tonumber(string.match(first[1][1], '^(%d+)'))
          if ms and server_now - ms > oldest then oldest = server_now - ms end
        end
      end
    end
  end
  local waiting = math.max(0, tonumber(delayed[q]) or 0)
  local ready = math.min(due[q] or 0, waiting)
  pending = pending + (due[q] or 0)
  if due_first[q] and now - due_first[q] > oldest then oldest = now - due_first[q] end
  out[#out + 1] = q
  out[#out + 1] = tostring(pending)
  out[#out + 1] = tostring(waiting - ready)
  out[#out + 1] = tostring(running)
  out[#out + 1] = tostring(math.max(0, tonumber(failed[q]) or 0))
  out[#out + 1] = paused[q] and '1' or '0'
  out[#out + 1] = string.format('%d', oldest)
end
return out
"#;

/// Removes the jobs of one queue no worker has claimed: the stream entries
/// after the group's last delivered id (all of them without a group) and
/// the queue's members of the delayed set, whose count it zeroes. Entries
/// a worker holds (the group's pending list) stay. ARGV: tag, queue.
/// Replies how many it removed.
pub(super) const CLEAR_QUEUE: &str = r#"
local tag, queue = ARGV[1], ARGV[2]
local removed = 0
for _, prio in ipairs(priorities(tag, queue)) do
  local s = tag .. ':s:' .. queue .. ':' .. prio
  local len = call('XLEN', s)
  if type(len) == 'number' and len > 0 then
    local g = group_of(s)
    local from = g and ('(' .. g['last-delivered-id']) or '-'
    while true do
      local batch = call('XRANGE', s, from, '+', 'COUNT', 1000)
      if type(batch) ~= 'table' or #batch == 0 then break end
      local ids = {}
      for _, e in ipairs(batch) do ids[#ids + 1] = e[1] end
      removed = removed + redis.call('XDEL', s, unpack(ids))
      from = '(' .. ids[#ids]
      if #batch < 1000 then break end
    end
  end
end
local prefix = queue .. '\n'
local at = 0
while true do
  local members = call('ZRANGE', tag .. ':delayed', at, at + 999)
  if type(members) ~= 'table' or #members == 0 then break end
  local mine = {}
  for _, m in ipairs(members) do
    if string.sub(m, 1, #prefix) == prefix then mine[#mine + 1] = m end
  end
  if #mine > 0 then removed = removed + redis.call('ZREM', tag .. ':delayed', unpack(mine)) end
  at = at + #members - #mine
  if #members < 1000 then break end
end
redis.call('HDEL', tag .. ':delayed:n', queue)
return removed
"#;
