--[[
  churnfeat Redis Functions: the online feature store's write and read paths.
  This file is a template: function-library.ts puts in front of it the library name, the
  constants rendered from store-protocol.ts (op codes, field grammar, argument positions:
  every UPPER_CASE name below) and, per feature registry, APPLY_FUNCTION, READ_FUNCTION and
  REGISTRY (the features the read path needs). Write no protocol letter or position here.
  Both functions touch only the keys of one user, which share a hash tag, so they run
  unchanged on Redis Cluster.
]]

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
  local ms, len, rest = string.match(text, LAST_VALUE_PATTERN)
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
  if op == OP_ADD then
    redis.call('HINCRBY', state, field, value)
  elseif op == OP_MIN or op == OP_MAX or op == OP_DISTINCT or op == OP_LATEST then
    local current = redis.call('HGET', state, field)
    local v = tonumber(value)
    if not current
      or (op == OP_MIN and v < tonumber(current))
      or (op ~= OP_MIN and v > tonumber(current)) then
      redis.call('HSET', state, field, value)
    end
  elseif op == OP_LAST then
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
  for id, idx in string.gmatch(spec, PRUNE_SPEC_PATTERN) do oldest[id] = tonumber(idx) end
  local all = redis.call('HGETALL', state)
  for j = 1, #all, 2 do
    local field, value = all[j], all[j + 1]
    local kind = string.sub(field, 1, 1)
    if kind == FIELD_TILE then
      local id, idx = string.match(field, TILE_FIELD_PATTERN)
      if id and oldest[id] and tonumber(idx) < oldest[id] then redis.call('HDEL', state, field) end
    elseif kind == FIELD_DISTINCT then
      local id = string.match(field, DISTINCT_FIELD_PATTERN)
      if id and oldest[id] and tonumber(value) < oldest[id] then redis.call('HDEL', state, field) end
    end
  end
end

-- whether a packed dedup tile holds member: only a match at a multiple of the member width counts
local function dedup_seen(packed, member)
  local at = string.find(packed, member, 1, true)
  while at do
    if (at - 1) % DEDUP_MEMBER_BYTES == 0 then return true end
    at = string.find(packed, member, at + 1, true)
  end
  return false
end

--[[
  APPLY_FUNCTION  KEYS: state, dedup (the dedup hash of the one source all events of the call come from)
  ARGV (positions: APPLY_ARGS, APPLY_EVENT_ARGS, APPLY_OP_ARGS of store-protocol.ts):
        ttl ("<state ttl ms>/<dedup ttl ms>", or one number for both), dedup_prune_before_s,
        prune_spec, prune_above_fields, n_events,
        then per event: source_field, partition_key, offset, dedup_member (DEDUP_MEMBER_BYTES bytes),
        dedup_score_s, ingest_ms, n_ops, then n_ops triples (op, field, value).
  Returns one verdict letter per event: applied, duplicate, or replayed (skipped).
  The dedup tiles and source positions the call touches are read once and written once.
]]
local function apply(keys, args)
  local state, dedup = keys[APPLY_KEY_STATE], keys[APPLY_KEY_DEDUP]
  local ttl, dedup_ttl = string.match(args[APPLY_ARG_TTL], TTL_PATTERN)
  if ttl then ttl, dedup_ttl = tonumber(ttl), tonumber(dedup_ttl) else ttl = tonumber(args[APPLY_ARG_TTL]); dedup_ttl = ttl end
  local dedup_before = tonumber(args[APPLY_ARG_DEDUP_PRUNE_BEFORE_S])
  local prune_spec = args[APPLY_ARG_PRUNE_SPEC]
  local prune_above = tonumber(args[APPLY_ARG_PRUNE_ABOVE_FIELDS])
  local n = tonumber(args[APPLY_ARG_N_EVENTS])
  local i = APPLY_FIRST_EVENT_ARG
  local verdicts = {}
  local tiles, tiles_changed, tile_opened = {}, {}, false
  local positions, positions_changed = {}, {}
  for e = 1, n do
    local source_field, partition_key = args[i + EVENT_ARG_SOURCE_FIELD], args[i + EVENT_ARG_PARTITION_KEY]
    local offset = tonumber(args[i + EVENT_ARG_OFFSET])
    local member, score = args[i + EVENT_ARG_DEDUP_MEMBER], tonumber(args[i + EVENT_ARG_DEDUP_SCORE_S])
    local ingest, nops = tonumber(args[i + EVENT_ARG_INGEST_MS]), tonumber(args[i + EVENT_ARG_N_OPS])
    if #member ~= DEDUP_MEMBER_BYTES then return redis.error_reply(BAD_DEDUP_MEMBER_ERROR) end
    i = i + EVENT_ARG_COUNT
    local applied_offset, applied_ingest = nil, 0
    local current = positions[source_field]
    if current == nil then
      current = redis.call('HGET', state, source_field)
      positions[source_field] = current
    end
    if current then
      local p, o, ing = string.match(current, SOURCE_VALUE_PATTERN)
      if p == partition_key then applied_offset = tonumber(o) end
      applied_ingest = tonumber(ing)
    end
    local verdict = VERDICT_APPLIED
    if applied_offset and offset <= applied_offset then
      verdict = VERDICT_REPLAYED
    else
      local field = string.format('%d', math.floor(score / DEDUP_TILE_S))
      local packed = tiles[field]
      if packed == nil then
        packed = redis.call('HGET', dedup, field)
        if not packed then packed = ''; tile_opened = true end
      end
      if dedup_seen(packed, member) then
        verdict = VERDICT_DUPLICATE
        tiles[field] = packed
      else
        tiles[field] = packed .. member
        tiles_changed[field] = true
      end
    end
    if verdict == VERDICT_APPLIED then
      for k = 0, nops - 1 do
        local at = i + OP_ARG_COUNT * k
        local err = apply_op(state, args[at + OP_ARG_OP], args[at + OP_ARG_FIELD], args[at + OP_ARG_VALUE])
        if err then return err end
      end
    end
    if verdict ~= VERDICT_REPLAYED then
      positions[source_field] = partition_key .. VALUE_SEPARATOR .. string.format('%d', offset) .. VALUE_SEPARATOR
        .. string.format('%d', math.max(applied_ingest, ingest))
      positions_changed[source_field] = true
    end
    i = i + OP_ARG_COUNT * nops
    verdicts[#verdicts + 1] = verdict
  end
  local flat = {}
  for field in pairs(positions_changed) do flat[#flat + 1] = field; flat[#flat + 1] = positions[field] end
  if #flat > 0 then redis.call('HSET', state, unpack(flat)) end
  flat = {}
  for field in pairs(tiles_changed) do flat[#flat + 1] = field; flat[#flat + 1] = tiles[field] end
  if #flat > 0 then redis.call('HSET', dedup, unpack(flat)) end
  -- a tile whose event times are all below the bound goes; looked for only when the call opened a tile
  if tile_opened then
    local old = {}
    for _, field in ipairs(redis.call('HKEYS', dedup)) do
      if (tonumber(field) + 1) * DEDUP_TILE_S <= dedup_before then old[#old + 1] = field end
    end
    if #old > 0 then redis.call('HDEL', dedup, unpack(old)) end
  end
  -- prune once the hash outgrew its size after the last prune by PRUNE_REGROWTH_FIELDS, not on every call
  -- (a user with many live distinct values would otherwise rescan the whole hash each time)
  if prune_spec ~= '' then
    local size = redis.call('HLEN', state)
    local after_last = tonumber(redis.call('HGET', state, FIELD_PRUNE_MARK) or '0')
    if size > prune_above and size > after_last + PRUNE_REGROWTH_FIELDS then
      prune(state, prune_spec)
      redis.call('HSET', state, FIELD_PRUNE_MARK, redis.call('HLEN', state))
    end
  end
  redis.call('PEXPIRE', state, ttl)
  -- the dedup hash only matters within the dedup horizon of the newest write
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
  READ_FUNCTION  KEYS: state   ARGV: [as_of_ms]  (default: the server's clock; decimal digits up to
  MAX_AS_OF_MS, anything else answers the error INVALID_AS_OF_MS_ERROR)
  Returns JSON: {"present":bool,"as_of_ms":t,"features":{name:{"value":v,"latest_event_ms":ms|null}},
                 "sources":{source:{"partition":p,"offset":o,"applied_ingest_ms":ms}}}
]]
local function read(keys, args)
  local state = keys[READ_KEY_STATE]
  local t
  local as_of = args[READ_ARG_AS_OF_MS]
  if as_of == nil then
    local now = redis.call('TIME')
    t = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
  else
    -- digits only: tonumber alone would take '0x10', 'inf', 'nan', '1e30', ' 5' and '-1'
    if not string.match(as_of, AS_OF_MS_PATTERN) or #as_of > MAX_AS_OF_DIGITS then return redis.error_reply(INVALID_AS_OF_MS_ERROR) end
    t = tonumber(as_of)
    if t > MAX_AS_OF_MS then return redis.error_reply(INVALID_AS_OF_MS_ERROR) end
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
    if kind == FIELD_TILE then
      local id, idx = string.match(field, TILE_FIELD_PATTERN)
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
    elseif kind == FIELD_DISTINCT then
      local id = string.match(field, DISTINCT_FIELD_PATTERN)
      local a = acc[id]
      local idx = tonumber(value)
      if a and idx >= a.lo and idx <= a.hi then a.n = a.n + 1 end
    elseif kind == FIELD_LATEST_EVENT then
      local a = acc[string.sub(field, FIELD_NAME_START)]
      local ms = tonumber(value)
      if a and ms <= t and math.floor(ms / a.f.g) >= a.lo then a.latest = ms end
    elseif kind == FIELD_LAST then
      local a = acc[string.sub(field, FIELD_NAME_START)]
      if a then
        local ms, _, text = parse_last(value)
        if ms <= t and math.floor(ms / a.f.g) >= a.lo then a.last = text end
      end
    elseif kind == FIELD_SOURCE then
      local p, o, ing = string.match(value, SOURCE_VALUE_PATTERN)
      local partition = string.match(p or '', PARTITION_KEY_PATTERN) or '-1'
      sources[#sources + 1] = cjson.encode(string.sub(field, FIELD_NAME_START)) .. ':{"partition":' .. partition
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

redis.register_function(APPLY_FUNCTION, apply)
redis.register_function{ function_name = READ_FUNCTION, callback = read, flags = { 'no-writes' } }
