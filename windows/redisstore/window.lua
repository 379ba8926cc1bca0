-- One window of one key, updated and read atomically. The semantics are
-- the embedded store's (package windows): up to EXACT live events kept
-- exactly, then time buckets of over/NB (count, sum, avg, min, max) or
-- HyperLogLog sketches per over/NS slice (count_distinct).
--
-- KEYS[1]      the window key's hash: m (mode), e (exact events), b<idx> (buckets)
-- KEYS[2..]    count_distinct only: the sketch keys of slices lo..lo+NS
-- ARGV         add (1/0), t, value (number, or the value's hash for
--              count_distinct), over, agg, ttl_ms, EXACT, NB, NS, lo
local k = KEYS[1]
local add = ARGV[1] == '1'
local t = tonumber(ARGV[2])
local v = ARGV[3]
local over = tonumber(ARGV[4])
local agg = ARGV[5]
local ttl = tonumber(ARGV[6])
local EXACT, NB, NS = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local lo = tonumber(ARGV[10])
local cutoff = t - over
local function fmt(x) return string.format('%.17g', x) end

local mode = redis.call('HGET', k, 'm')

-- exact events, dropping those at or before the cutoff
local ev = {}
if mode ~= 'b' and mode ~= 's' then
  local cur = redis.call('HGET', k, 'e')
  if cur then
    for et, ex in string.gmatch(cur, '([^|;]+)|([^;]+)') do
      local tt = tonumber(et)
      if tt > cutoff then ev[#ev + 1] = {tt, ex} end
    end
  end
end

local function saveExact()
  local parts = {}
  for i, e in ipairs(ev) do parts[i] = fmt(e[1]) .. '|' .. e[2] end
  if #parts == 0 then
    redis.call('HDEL', k, 'e')
  else
    redis.call('HSET', k, 'e', table.concat(parts, ';'))
  end
  redis.call('PEXPIRE', k, ttl)
end

if agg == 'count_distinct' then
  local w = over / NS
  local function sketchAdd(tt, h)
    local sk = KEYS[2 + math.floor(tt / w) - lo]
    if sk then
      redis.call('PFADD', sk, h)
      redis.call('PEXPIRE', sk, ttl)
    end
  end
  if mode ~= 's' then
    if add then
      local found = false
      for _, e in ipairs(ev) do
        if e[2] == v then
          found = true
          if t > e[1] then e[1] = t end
        end
      end
      if not found and #ev >= EXACT then
        mode = 's'
        redis.call('HSET', k, 'm', 's')
        redis.call('HDEL', k, 'e')
        redis.call('PEXPIRE', k, ttl)
        for _, e in ipairs(ev) do sketchAdd(e[1], e[2]) end
      elseif not found then
        ev[#ev + 1] = {t, v}
      end
    end
    if mode ~= 's' then
      if add then saveExact() end
      local n = 0
      for _, e in ipairs(ev) do if e[1] <= t then n = n + 1 end end
      return tostring(n)
    end
  end
  if add then sketchAdd(t, v) end
  local live = {}
  for i = 2, #KEYS do live[#live + 1] = KEYS[i] end
  return tostring(redis.call('PFCOUNT', unpack(live)))
end

local w = over / NB
local idx = math.floor(t / w)
local function bucketAdd(tt, x)
  local f = 'b' .. math.floor(tt / w)
  local cur = redis.call('HGET', k, f)
  local n, s, mn, mx = 1, x, x, x
  if cur then
    local a, b, c, d = string.match(cur, '(%S+) (%S+) (%S+) (%S+)')
    n, s, mn, mx = tonumber(a) + 1, tonumber(b) + x, math.min(tonumber(c), x), math.max(tonumber(d), x)
  end
  redis.call('HSET', k, f, n .. ' ' .. fmt(s) .. ' ' .. fmt(mn) .. ' ' .. fmt(mx))
end

local function result(n, s, mn, mx)
  if agg == 'count' then return tostring(n) end
  if n == 0 then return '0' end
  if agg == 'sum' then return fmt(s) end
  if agg == 'avg' then return fmt(s / n) end
  if agg == 'min' then return fmt(mn) end
  return fmt(mx)
end

if mode ~= 'b' then
  if add then
    if #ev < EXACT then
      ev[#ev + 1] = {t, v}
    else
      mode = 'b'
      redis.call('HSET', k, 'm', 'b')
      redis.call('HDEL', k, 'e')
      for _, e in ipairs(ev) do bucketAdd(e[1], tonumber(e[2])) end
    end
  end
  if mode ~= 'b' then
    if add then saveExact() end
    local n, s, mn, mx = 0, 0, math.huge, -math.huge
    for _, e in ipairs(ev) do
      if e[1] <= t then
        local x = tonumber(e[2])
        n, s, mn, mx = n + 1, s + x, math.min(mn, x), math.max(mx, x)
      end
    end
    return result(n, s, mn, mx)
  end
end

if add then
  bucketAdd(t, tonumber(v))
  redis.call('PEXPIRE', k, ttl)
end
local all = redis.call('HGETALL', k)
local n, s, mn, mx = 0, 0, math.huge, -math.huge
for i = 1, #all, 2 do
  local f = all[i]
  if string.sub(f, 1, 1) == 'b' then
    local bi = tonumber(string.sub(f, 2))
    if bi < idx - NB then
      redis.call('HDEL', k, f)
    elseif bi <= idx then
      local a, b, c, d = string.match(all[i + 1], '(%S+) (%S+) (%S+) (%S+)')
      n, s = n + tonumber(a), s + tonumber(b)
      mn, mx = math.min(mn, tonumber(c)), math.max(mx, tonumber(d))
    end
  end
end
return result(n, s, mn, mx)
