#!lua name=churnfeat___FP__
--[[
  churnfeat Redis Functions: the online feature store's write and read paths.
  Key layout and field names: sidecar/src/store/redis-layout.ts (the one place they are defined).
  Generated per feature registry: __FP__ is the registry fingerprint, REGISTRY below the
  features the read path needs. Both functions touch only the keys of one user, which share
  a hash tag, so they run unchanged on Redis Cluster.
]]

local REGISTRY = __REGISTRY__

-- byte-wise a < b (independent of the server's collation locale)
local function bytes_less(a, b)
  local n = math.min(#a, #b)
  for k = 1, n do
    local x, y = string.byte(a, k), string.byte(b, k)
    if x ~= y then return x < y end
  end
  return #a < #b
end

-- a `last` value is "<event_ms>|<key length>|<key><value>"
local function parse_last(text)
  local ms, len, rest = string.match(text, '^(%d+)|(%d+)|(.*)$')
  len = tonumber(len)
  return tonumber(ms), string.sub(rest, 1, len), string.sub(rest, len + 1)
end

local function last_is_newer(candidate, current)
  local cms, ckey = parse_last(candidate)
  local oms, okey = parse_last(current)
  if cms ~= oms then return cms > oms end
  return bytes_less(okey, ckey)
end

local function apply_op(state, op, field, value)
  if op == 'c' then
    redis.call('HINCRBY', state, field, value)
  elseif op == 'n' or op == 'x' or op == 'd' or op == 'e' then
    local current = redis.call('HGET', state, field)
    local v = tonumber(value)
    if not current
      or (op == 'n' and v < tonumber(current))
      or (op ~= 'n' and v > tonumber(current)) then
      redis.call('HSET', state, field, value)
    end
  elseif op == 'l' then
    local current = redis.call('HGET', state, field)
    if not current or last_is_newer(value, current) then
      redis.call('HSET', state, field, value)
    end
  else
    return redis.error_reply('churnfeat: unknown op ' .. tostring(op))
  end
end

-- drops tiles and distinct values that no future read can count: spec is "id=minIndex,..."
local function prune(state, spec)
  local oldest = {}
  for id, idx in string.gmatch(spec, '([^=,]+)=(%d+)') do oldest[id] = tonumber(idx) end
  local all = redis.call('HGETALL', state)
  for j = 1, #all, 2 do
    local field, value = all[j], all[j + 1]
    local kind = string.sub(field, 1, 1)
    if kind == 't' then
      local id, idx = string.match(field, '^t:([^:]+):(%d+)$')
      if id and oldest[id] and tonumber(idx) < oldest[id] then redis.call('HDEL', state, field) end
    elseif kind == 'd' then
      local id = string.match(field, '^d:([^:]+):')
      if id and oldest[id] and tonumber(value) < oldest[id] then redis.call('HDEL', state, field) end
    end
  end
end

--[[
  cf_apply___FP__  KEYS: state, dedup (the dedup set of the one source all events of the call come from)
  ARGV: ttl ("<state ttl ms>/<dedup ttl ms>", or one number for both), dedup_prune_before_s,
        prune_spec, prune_above_fields, n_events,
        then per event: source_field, partition_key, offset, dedup_member, dedup_score_s,
        ingest_ms, n_ops, then n_ops triples (op, field, value).
  Returns one verdict letter per event: a = applied, d = duplicate, r = replayed (skipped).
]]
local function apply(keys, args)
  local state, dedup = keys[1], keys[2]
  local ttl, dedup_ttl = string.match(args[1], '^(%d+)/(%d+)$')
  if ttl then ttl, dedup_ttl = tonumber(ttl), tonumber(dedup_ttl) else ttl = tonumber(args[1]); dedup_ttl = ttl end
  local dedup_before = tonumber(args[2])
  local prune_spec = args[3]
  local prune_above = tonumber(args[4])
  local n = tonumber(args[5])
  local i = 6
  local verdicts = {}
  for e = 1, n do
    local source_field, partition_key, offset = args[i], args[i + 1], tonumber(args[i + 2])
    local member, score, ingest, nops = args[i + 3], args[i + 4], tonumber(args[i + 5]), tonumber(args[i + 6])
    i = i + 7
    local applied_offset, applied_ingest = nil, 0
    local current = redis.call('HGET', state, source_field)
    if current then
      local p, o, ing = string.match(current, '^(.*)|(%d+)|(%d+)$')
      if p == partition_key then applied_offset = tonumber(o) end
      applied_ingest = tonumber(ing)
    end
    local verdict = 'a'
    if applied_offset and offset <= applied_offset then
      verdict = 'r'
    elseif redis.call('ZADD', dedup, 'NX', score, member) == 0 then
      verdict = 'd'
    end
    if verdict == 'a' then
      for k = 0, nops - 1 do
        local err = apply_op(state, args[i + 3 * k], args[i + 3 * k + 1], args[i + 3 * k + 2])
        if err then return err end
      end
    end
    if verdict ~= 'r' then
      redis.call('HSET', state, source_field,
        partition_key .. '|' .. string.format('%d', offset) .. '|' .. string.format('%d', math.max(applied_ingest, ingest)))
    end
    i = i + 3 * nops
    verdicts[#verdicts + 1] = verdict
  end
  redis.call('ZREMRANGEBYSCORE', dedup, '-inf', '(' .. dedup_before)
  -- prune once the hash outgrew its size after the last prune by 64 fields, not on every call
  -- (a user with many live distinct values would otherwise rescan the whole hash each time)
  if prune_spec ~= '' then
    local size = redis.call('HLEN', state)
    local after_last = tonumber(redis.call('HGET', state, 'p') or '0')
    if size > prune_above and size > after_last + 64 then
      prune(state, prune_spec)
      redis.call('HSET', state, 'p', redis.call('HLEN', state))
    end
  end
  redis.call('PEXPIRE', state, ttl)
  -- the dedup set only matters within the dedup horizon of the newest write
  redis.call('PEXPIRE', dedup, dedup_ttl)
  return table.concat(verdicts)
end

local function fixed_to_text(total, scale)
  if scale == 0 then return string.format('%d', total) end
  local sign = ''
  if total < 0 then sign = '-'; total = -total end
  local unit = 10 ^ scale
  local whole = math.floor(total / unit)
  local frac = total - whole * unit
  return sign .. string.format('%d', whole) .. '.' .. string.format('%0' .. scale .. 'd', frac)
end

--[[
  cf_read___FP__  KEYS: state   ARGV: [as_of_ms]  (default: the server's clock)
  Returns JSON: {"present":bool,"as_of_ms":t,"features":{name:{"value":v,"latest_event_ms":ms|null}},
                 "sources":{source:{"partition":p,"offset":o,"applied_ingest_ms":ms}}}
]]
local function read(keys, args)
  local state = keys[1]
  local t = tonumber(args[1])
  if not t then
    local now = redis.call('TIME')
    t = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
  end
  local acc = {}
  for _, f in ipairs(REGISTRY) do
    local hi = math.floor(t / f.g)
    acc[f.id] = { f = f, hi = hi, lo = hi - f.w / f.g, total = 0, n = 0, best = nil, besttext = nil, latest = nil, last = nil }
  end
  local all = redis.call('HGETALL', state)
  local sources = {}
  for j = 1, #all, 2 do
    local field, value = all[j], all[j + 1]
    local kind = string.sub(field, 1, 1)
    if kind == 't' then
      local id, idx = string.match(field, '^t:([^:]+):(%d+)$')
      local a = acc[id]
      idx = tonumber(idx)
      if a and idx >= a.lo and idx <= a.hi then
        local fn = a.f.fn
        if fn == 'min' or fn == 'max' then
          local v = tonumber(value)
          if a.best == nil or (fn == 'min' and v < a.best) or (fn == 'max' and v > a.best) then
            a.best = v; a.besttext = value
          end
        else
          a.total = a.total + tonumber(value)
        end
      end
    elseif kind == 'd' then
      local id = string.match(field, '^d:([^:]+):')
      local a = acc[id]
      local idx = tonumber(value)
      if a and idx >= a.lo and idx <= a.hi then a.n = a.n + 1 end
    elseif kind == 'e' then
      local a = acc[string.sub(field, 3)]
      local ms = tonumber(value)
      if a and ms <= t and math.floor(ms / a.f.g) >= a.lo then a.latest = ms end
    elseif kind == 'l' then
      local a = acc[string.sub(field, 3)]
      if a then
        local ms, _, text = parse_last(value)
        if ms <= t and math.floor(ms / a.f.g) >= a.lo then a.last = text end
      end
    elseif kind == 's' then
      local p, o, ing = string.match(value, '^(.*)|(%d+)|(%d+)$')
      local partition = string.match(p or '', ':(%d+)$') or '-1'
      sources[#sources + 1] = cjson.encode(string.sub(field, 3)) .. ':{"partition":' .. partition
        .. ',"offset":' .. o .. ',"applied_ingest_ms":' .. ing .. '}'
    end
  end
  local out = {}
  for _, f in ipairs(REGISTRY) do
    local a = acc[f.id]
    local value
    if f.fn == 'count' or f.fn == 'sum' then
      value = fixed_to_text(a.total, f.scale)
    elseif f.fn == 'count_distinct' then
      value = string.format('%d', a.n)
    elseif f.fn == 'min' or f.fn == 'max' then
      value = a.besttext or 'null'
    else
      value = a.last and cjson.encode(a.last) or 'null'
    end
    local latest = a.latest and string.format('%d', a.latest) or 'null'
    out[#out + 1] = '"' .. f.name .. '":{"value":' .. value .. ',"latest_event_ms":' .. latest .. '}'
  end
  return '{"present":' .. tostring(#all > 0) .. ',"as_of_ms":' .. string.format('%d', t)
    .. ',"features":{' .. table.concat(out, ',') .. '},"sources":{' .. table.concat(sources, ',') .. '}}'
end

redis.register_function('cf_apply___FP__', apply)
redis.register_function{ function_name = 'cf_read___FP__', callback = read, flags = { 'no-writes' } }
