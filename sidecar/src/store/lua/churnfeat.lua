--[[
  churnfeat Redis Functions: the online feature store's write and read paths.
  This file is a template: function-library.ts puts in front of it the library name, the
  constants rendered from store-protocol.ts (op codes, field grammar, argument positions:
  every UPPER_CASE name below) and, per feature registry, APPLY_FUNCTION, READ_FUNCTION and
  REGISTRY (the features the read path needs). Write no protocol letter or position here.
  Both functions touch only the keys of one user, which share a hash tag, so they run
  unchanged on Redis Cluster.
]]

-- the decimal text of an integer: concatenation (%.14g) is exact below 1e14 and much cheaper
-- than string.format, which takes the rest
local function int_text(x)
  if x > -1e14 and x < 1e14 then return x .. '' end
  return string.format('%d', x)
end

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

local function tile_field(id, idx)
  return FIELD_TILE .. FIELD_SEPARATOR .. id .. FIELD_SEPARATOR .. int_text(idx)
end

local function running_field(id)
  return FIELD_RUNNING .. FIELD_SEPARATOR .. id
end

local function parse_running(text)
  local base, total, top = string.match(text, RUNNING_VALUE_PATTERN)
  return tonumber(base), tonumber(total), tonumber(top)
end

local function format_running(base, total, top)
  return int_text(base) .. VALUE_SEPARATOR .. int_text(total) .. VALUE_SEPARATOR .. int_text(top)
end

-- sum of the stored tiles of feature id with an index in [a, b] (HMGET in slices of 1000)
local function sum_tiles(state, id, a, b)
  local total = 0
  local k = a
  while k <= b do
    local names = {}
    local last = math.min(b, k + 999)
    for j = k, last do names[#names + 1] = tile_field(id, j) end
    local values = redis.call('HMGET', state, unpack(names))
    for j = 1, #names do
      if values[j] then total = total + tonumber(values[j]) end
    end
    k = last + 1
  end
  return total
end

-- the running total of a feature within one apply call: read on first use, written at the end
local function running_of(state, running, id)
  local r = running[id]
  if r == nil then
    -- a feature the registry does not know (apply loads the registry's totals at its start)
    local text = redis.call('HGET', state, running_field(id))
    r = { stored = text }
    if text then r.base, r.total, r.top = parse_running(text) else r.total = 0 end
    running[id] = r
  end
  return r
end

-- a total created in this call covers every tile (base nil, low = the lowest tile it got);
-- its base is set at the end of the call
local function running_add(r, idx, delta)
  r.changed = true
  if r.base == nil then
    r.total = r.total + delta
    if r.low == nil or idx < r.low then r.low = idx end
    if r.top == nil or idx > r.top then r.top = idx end
    return
  end
  if idx >= r.base then r.total = r.total + delta end
  if idx > r.top then r.top = idx end
end

-- HMGET of any number of fields (in slices of 1000)
local function hmget_all(state, names)
  if #names <= 1000 then return redis.call('HMGET', state, unpack(names)) end
  local values = {}
  local k = 1
  while k <= #names do
    local last = math.min(#names, k + 999)
    local slice = redis.call('HMGET', state, unpack(names, k, last))
    for j = 1, last - k + 1 do values[k + j - 1] = slice[j] end
    k = last + 1
  end
  return values
end

-- the state fields one apply call reads and writes: read once (one HMGET of every field the
-- call's ops and sources name, HGET for the few it finds later) and written once after the
-- events (one HSET, one HDEL), so the hash ends exactly as if each op had been its own command
local function field_cache(state)
  local values, dirty = {}, {}
  local c = {}
  function c.prefetch(names)
    if #names == 0 then return end
    local got = hmget_all(state, names)
    for j = 1, #names do values[names[j]] = got[j] or false end
  end
  function c.get(field)
    local v = values[field]
    if v == nil then
      v = redis.call('HGET', state, field) or false
      values[field] = v
    end
    if v == false then return nil end
    return v
  end
  -- what the cache knows of a field: nil unknown, false absent, else the value
  function c.peek(field) return values[field] end
  -- a field written or read outside the cache (HSET of the running totals, the marks' HMGET)
  function c.remember(field, value) values[field] = value or false end
  -- forget everything (after the prune rewrote the hash)
  function c.reset() values = {}; dirty = {} end
  -- HMGET through the cache: only the fields it does not know are read
  function c.mget(names)
    local missing = {}
    for j = 1, #names do
      if values[names[j]] == nil then missing[#missing + 1] = names[j] end
    end
    c.prefetch(missing)
    local out = {}
    for j = 1, #names do out[j] = values[names[j]] or nil end
    return out
  end
  -- value false deletes the field
  function c.put(field, value)
    values[field] = value
    dirty[field] = true
  end
  function c.flush()
    local flat, gone = {}, {}
    for field in pairs(dirty) do
      local v = values[field]
      if v then flat[#flat + 1] = field; flat[#flat + 1] = v else gone[#gone + 1] = field end
    end
    if #gone > 0 then redis.call('HDEL', state, unpack(gone)) end
    if #flat > 0 then redis.call('HSET', state, unpack(flat)) end
    dirty = {}
  end
  return c
end

-- HINCRBY through the cache (the fields are integers; int_text prints them as HINCRBY does)
local function incr(c, field, delta)
  local next_value = tonumber(c.get(field) or '0') + delta
  c.put(field, int_text(next_value))
  return next_value
end

local function apply_op(state, c, op, field, value, running)
  if op == OP_ADD then
    incr(c, field, tonumber(value))
    local id, idx = string.match(field, TILE_FIELD_PATTERN)
    if id then running_add(running_of(state, running, id), tonumber(idx), tonumber(value)) end
  elseif op == OP_DISTINCT then
    -- the value's newest tile, and the count of values whose newest tile each tile is
    local current = c.get(field)
    local v = tonumber(value)
    if not current or v > tonumber(current) then
      c.put(field, value)
      local id = string.match(field, DISTINCT_FIELD_PATTERN)
      if id then
        local r = running_of(state, running, id)
        incr(c, tile_field(id, v), 1)
        running_add(r, v, 1)
        if current then
          local old = tonumber(current)
          if incr(c, tile_field(id, old), -1) == 0 then c.put(tile_field(id, old), false) end
          running_add(r, old, -1)
        end
      end
    end
  elseif op == OP_MIN or op == OP_MAX or op == OP_LATEST then
    local current = c.get(field)
    local v = tonumber(value)
    if not current
      or (op == OP_MIN and v < tonumber(current))
      or (op ~= OP_MIN and v > tonumber(current)) then
      c.put(field, value)
    end
  elseif op == OP_LAST then
    local current = c.get(field)
    if not current or last_is_newer(value, current) then
      c.put(field, value)
    end
  else
    return redis.error_reply('churnfeat: unknown op ' .. tostring(op))
  end
end

local function parse_prune_spec(spec)
  local oldest = {}
  for id, idx in string.gmatch(spec, PRUNE_SPEC_PATTERN) do oldest[id] = tonumber(idx) end
  return oldest
end

-- drops tiles and distinct values that no future read can count (oldest: id -> oldest tile);
-- a running total whose base is below the bound is rebased on the tiles that stay
local function prune(state, oldest)
  local all = redis.call('HGETALL', state)
  local kept, totals = {}, {}
  for j = 1, #all, 2 do
    local field, value = all[j], all[j + 1]
    local kind = string.sub(field, 1, 1)
    if kind == FIELD_TILE then
      local id, idx = string.match(field, TILE_FIELD_PATTERN)
      if id and oldest[id] then
        if tonumber(idx) < oldest[id] then redis.call('HDEL', state, field) else kept[id] = (kept[id] or 0) + (tonumber(value) or 0) end
      end
    elseif kind == FIELD_DISTINCT then
      local id = string.match(field, DISTINCT_FIELD_PATTERN)
      if id and oldest[id] and tonumber(value) < oldest[id] then redis.call('HDEL', state, field) end
    elseif kind == FIELD_RUNNING then
      totals[string.sub(field, FIELD_NAME_START)] = value
    end
  end
  for id, text in pairs(totals) do
    local base, _, top = parse_running(text)
    if oldest[id] and base and base < oldest[id] then
      redis.call('HSET', state, running_field(id), format_running(oldest[id], kept[id] or 0, top))
    end
  end
end

-- the features whose tiles add up (their reads use the running totals)
-- (plain loops: the library's top level runs where ipairs and pairs are not available)
local additive_fn = {}
for i = 1, #REGISTRY do
  local f = REGISTRY[i]
  if f.fn == 'count' or f.fn == 'sum' or f.fn == 'count_distinct' then additive_fn[f.id] = f.fn end
end
local additive_ids, additive_fields = {}, {}
for i = 1, #REGISTRY do
  local f = REGISTRY[i]
  if additive_fn[f.id] then
    additive_ids[#additive_ids + 1] = f.id
    additive_fields[#additive_fields + 1] = running_field(f.id)
  end
end

-- the running totals of the registry's additive features, as stored: id -> { base, total, top, stored }
local function load_running(values, first)
  local running = {}
  for k = 1, #additive_ids do
    local text = values[first + k - 1]
    local r = { stored = text }
    if text then r.base, r.total, r.top = parse_running(text) else r.total = 0 end
    running[additive_ids[k]] = r
  end
  return running
end

-- a state hash of store protocol 2 gets the layout of STATE_LAYOUT: per-tile counts of the
-- distinct values' newest tiles, and a running total per additive feature
local function migrate(state)
  local all = redis.call('HGETALL', state)
  local counts, tiles = {}, {}
  for j = 1, #all, 2 do
    local field, value = all[j], all[j + 1]
    local kind = string.sub(field, 1, 1)
    if kind == FIELD_DISTINCT then
      local id = string.match(field, DISTINCT_FIELD_PATTERN)
      if id then
        counts[id] = counts[id] or {}
        local idx = tonumber(value)
        counts[id][idx] = (counts[id][idx] or 0) + 1
      end
    elseif kind == FIELD_TILE then
      local id, idx = string.match(field, TILE_FIELD_PATTERN)
      if id and (additive_fn[id] == 'count' or additive_fn[id] == 'sum') then
        tiles[id] = tiles[id] or {}
        tiles[id][tonumber(idx)] = tonumber(value)
      end
    end
  end
  for id, by_tile in pairs(counts) do
    for idx, n in pairs(by_tile) do redis.call('HINCRBY', state, tile_field(id, idx), n) end
    tiles[id] = by_tile
  end
  for id, by_tile in pairs(tiles) do
    local base, top, total = nil, nil, 0
    for idx, v in pairs(by_tile) do
      if base == nil or idx < base then base = idx end
      if top == nil or idx > top then top = idx end
      total = total + v
    end
    redis.call('HSET', state, running_field(id), format_running(base, total, top))
  end
end

-- the dedup hash's field (bucket) names, printed once
local bucket_field = {}
for b = 0, DEDUP_BUCKETS - 1 do bucket_field[b] = int_text(b) end

-- whether a packed dedup bucket holds member: only a match at a multiple of the entry width counts
local function dedup_seen(packed, member)
  local at = string.find(packed, member, 1, true)
  while at do
    if (at - 1) % DEDUP_ENTRY_BYTES == 0 then return true end
    at = string.find(packed, member, at + 1, true)
  end
  return false
end

-- the 2-byte stamp of an entry: its event time's tile, within [bound - 1, bound + DEDUP_STAMP_AHEAD], modulo the stamp range
local function dedup_stamp(score, bound)
  local tile = math.floor(score / DEDUP_TILE_S)
  if tile < bound - 1 then tile = bound - 1 elseif tile > bound + DEDUP_STAMP_AHEAD then tile = bound + DEDUP_STAMP_AHEAD end
  tile = tile % DEDUP_STAMP_MODULUS
  return string.char(math.floor(tile / 256), tile % 256)
end

-- a packed bucket without its expired prefix: the entries from the first whose tile lies wholly
-- below the bound's tile up to the first that does not (entries are appended, so the oldest come
-- first). An expired entry behind a live one stays until it is at the front: a late event's entry
-- outlives its horizon by at most its neighbours' age, and dedup only gets stricter, never looser.
-- Scanning the prefix only (usually 0-3 entries) instead of the whole bucket on each write is
-- what the apply spent most of its Lua time on.
local function dedup_prune(packed, bound)
  local cut = 0
  for at = 1, #packed - DEDUP_ENTRY_BYTES + 1, DEDUP_ENTRY_BYTES do
    local hi, lo = string.byte(packed, at + DEDUP_MEMBER_BYTES, at + DEDUP_MEMBER_BYTES + 1)
    local behind = (bound - (hi * 256 + lo)) % DEDUP_STAMP_MODULUS
    if not (behind >= 1 and behind < DEDUP_STAMP_MODULUS / 2) then break end
    cut = at + DEDUP_ENTRY_BYTES - 1
  end
  if cut == 0 then return packed end
  return string.sub(packed, cut + 1)
end

-- the head's position of each field (READ_HEAD: the layout mark, then per feature e:, l:, r:,
-- then the sources' s:; rendered from store-protocol.ts)
local head_at = {}
for i = 1, #READ_HEAD do head_at[READ_HEAD[i]] = i end

-- What makes a head cost: printing numbers (a tile index, an entry's byte lengths), not reading
-- its fields (bench/memory/apply-profile.ts). So the pieces of a head's text that are not a
-- tile index or a field's value are printed once, at load: each READ_HEAD field's entry prefix
-- ("<name bytes>:<name>"), each feature's tile-name prefix, and the length prefixes ("<bytes>:")
-- below head_printed_lengths. (A memo of tile names across calls saved a little more on the
-- apply, but its live tables made every function's garbage collection dearer: cf_fields +40%.)
local head_printed_lengths = 1024
local head_entry_prefix = {}
for i = 1, #READ_HEAD do head_entry_prefix[i] = #READ_HEAD[i] .. ':' .. READ_HEAD[i] end
local length_prefix = {}
for n = 0, head_printed_lengths - 1 do length_prefix[n] = n .. ':' end
local function length_text(n)
  return length_prefix[n] or (int_text(n) .. ':')
end
local tile_prefix = {}
for i = 1, #REGISTRY do tile_prefix[REGISTRY[i].id] = FIELD_TILE .. FIELD_SEPARATOR .. REGISTRY[i].id .. FIELD_SEPARATOR end

-- the read head (store protocol 7, store-protocol.ts headPlan): the e:, l:, r:, s: fields and
-- the tiles a read in [from, until] needs, copied from the state hash as it is at the end of
-- the call (through the call's field cache: only what the call did not read or write is read
-- here); nil when no head can be built (a min / max feature without a prune bound)
local function build_head(c, oldest)
  local head = c.mget(READ_HEAD)
  local from, till = 0, MAX_AS_OF_MS
  local names = {}
  for i = 1, #REGISTRY do
    local f = REGISTRY[i]
    local w = f.w / f.g
    local k = math.min(math.ceil(HEAD_HORIZON_MS / f.g), w + 1)
    local first, last
    if additive_fn[f.id] then
      local text = head[head_at[running_field(f.id)]]
      if text then
        local base, _, top = parse_running(text)
        from = math.max(from, top * f.g, (base + w) * f.g)
        last = base + k - 1
        if last < top then till = math.min(till, (last + 2 + w) * f.g - 1) else last = top end
        first = base
      end
    elseif f.fn == 'min' or f.fn == 'max' then
      local o = oldest[f.id]
      if o == nil then return nil end
      from = math.max(from, (o + w) * f.g)
      till = math.min(till, (o + w + k) * f.g - 1)
      first, last = o, o + w + k - 1
    end
    if first then
      local prefix = tile_prefix[f.id]
      for j = first, last do names[#names + 1] = prefix .. int_text(j) end
    end
  end
  if from > till then return nil end
  local values = c.mget(names)
  local parts = { int_text(from) .. VALUE_SEPARATOR .. int_text(till) .. VALUE_SEPARATOR }
  for j = 2, #READ_HEAD do
    local v = head[j]
    if v then parts[#parts + 1] = head_entry_prefix[j] .. length_text(#v) .. v end
  end
  for j = 1, #names do
    local v = values[j]
    if v then parts[#parts + 1] = length_text(#names[j]) .. names[j] .. length_text(#v) .. v end
  end
  return table.concat(parts)
end

--[[
  APPLY_FUNCTION  KEYS: state, dedup (the dedup hash of the one source all events of the call come from),
        tomb (the user's deletion tombstone), head (the read head, rewritten from the state at the end)
  ARGV (positions: APPLY_ARGS, APPLY_EVENT_ARGS, APPLY_OP_ARGS of store-protocol.ts):
        ttl ("<state ttl ms>/<dedup ttl ms>", or one number for both), dedup_prune_before_s,
        prune_spec, prune_above_fields, n_events, tomb_seen, skip_dedup (SKIP_DEDUP: the caller deduplicated,
        the dedup hash is neither read nor written and dedup_member may be anything),
        then per event: source_field, partition_key, offset, dedup_member (DEDUP_MEMBER_BYTES bytes),
        dedup_score_s, ingest_ms, n_ops, then n_ops triples (op, field, value).
  Returns one verdict letter per event: applied, duplicate, or replayed (skipped); or
  TOMBSTONE_REPLY .. <deletion ms> when the user has a tombstone the caller has not seen.
  The dedup buckets and source positions the call touches are read once and written once.
]]
local function apply(keys, args)
  -- deletion tombstone (docs/deletion.md): a deleted user's call is refused whole, writing
  -- nothing; the writer drops its records from before the deletion ('deleted') and calls again
  -- with the others and tomb_seen set (a newer deletion refuses that call too)
  local tomb = redis.call('GET', keys[APPLY_KEY_TOMB])
  if tomb and tomb ~= args[APPLY_ARG_TOMB_SEEN] then return TOMBSTONE_REPLY .. tomb end
  local state, dedup = keys[APPLY_KEY_STATE], keys[APPLY_KEY_DEDUP]
  local ttl, dedup_ttl = string.match(args[APPLY_ARG_TTL], TTL_PATTERN)
  if ttl then ttl, dedup_ttl = tonumber(ttl), tonumber(dedup_ttl) else ttl = tonumber(args[APPLY_ARG_TTL]); dedup_ttl = ttl end
  local dedup_before = tonumber(args[APPLY_ARG_DEDUP_PRUNE_BEFORE_S])
  local prune_spec = args[APPLY_ARG_PRUNE_SPEC]
  local prune_above = tonumber(args[APPLY_ARG_PRUNE_ABOVE_FIELDS])
  local n = tonumber(args[APPLY_ARG_N_EVENTS])
  local skip_dedup = args[APPLY_ARG_SKIP_DEDUP] == SKIP_DEDUP
  local i = APPLY_FIRST_EVENT_ARG
  local verdicts = {}
  local buckets, buckets_changed = {}, {}
  local bound_tile = math.floor(dedup_before / DEDUP_TILE_S)
  local positions, positions_changed = {}, {}
  -- the prune mark, the layout mark and every running total in one HMGET
  local marks = redis.call('HMGET', state, FIELD_PRUNE_MARK, FIELD_LAYOUT, unpack(additive_fields))
  if not marks[2] and redis.call('EXISTS', state) == 1 then
    migrate(state)
    marks = redis.call('HMGET', state, FIELD_PRUNE_MARK, FIELD_LAYOUT, unpack(additive_fields))
  end
  local running = load_running(marks, 3)
  -- every state field and dedup bucket the events name, in one HMGET each
  local c = field_cache(state)
  c.remember(FIELD_LAYOUT, marks[2])
  for k = 1, #additive_fields do c.remember(additive_fields[k], marks[k + 2]) end
  do
    local names, seen, bucket_names = {}, {}, {}
    local at = APPLY_FIRST_EVENT_ARG
    for e = 1, n do
      local source_field, member = args[at + EVENT_ARG_SOURCE_FIELD], args[at + EVENT_ARG_DEDUP_MEMBER]
      local nops = tonumber(args[at + EVENT_ARG_N_OPS])
      if not seen[source_field] then seen[source_field] = true; names[#names + 1] = source_field end
      if not skip_dedup then
        local bucket = bucket_field[string.byte(member, 1) % DEDUP_BUCKETS]
        if buckets[bucket] == nil then buckets[bucket] = false; bucket_names[#bucket_names + 1] = bucket end
      end
      at = at + EVENT_ARG_COUNT
      for k = 0, nops - 1 do
        local field = args[at + OP_ARG_COUNT * k + OP_ARG_FIELD]
        if not seen[field] then seen[field] = true; names[#names + 1] = field end
      end
      at = at + OP_ARG_COUNT * nops
    end
    c.prefetch(names)
    if #bucket_names > 0 then
      local got = redis.call('HMGET', dedup, unpack(bucket_names))
      for j = 1, #bucket_names do buckets[bucket_names[j]] = got[j] or '' end
    end
  end
  for e = 1, n do
    local source_field, partition_key = args[i + EVENT_ARG_SOURCE_FIELD], args[i + EVENT_ARG_PARTITION_KEY]
    local offset = tonumber(args[i + EVENT_ARG_OFFSET])
    local member, score = args[i + EVENT_ARG_DEDUP_MEMBER], tonumber(args[i + EVENT_ARG_DEDUP_SCORE_S])
    local ingest, nops = tonumber(args[i + EVENT_ARG_INGEST_MS]), tonumber(args[i + EVENT_ARG_N_OPS])
    if not skip_dedup and #member ~= DEDUP_MEMBER_BYTES then return redis.error_reply(BAD_DEDUP_MEMBER_ERROR) end
    i = i + EVENT_ARG_COUNT
    local applied_offset, applied_ingest = nil, 0
    -- a source's position is parsed once and printed once, after the events
    local current = positions[source_field]
    if current == nil then
      current = c.get(source_field) or false
      if current then
        local p, o, ing = string.match(current, SOURCE_VALUE_PATTERN)
        current = { p, tonumber(o), tonumber(ing) }
      end
      positions[source_field] = current
    end
    if current then
      if current[1] == partition_key then applied_offset = current[2] end
      applied_ingest = current[3]
    end
    local verdict = VERDICT_APPLIED
    if applied_offset and offset <= applied_offset then
      verdict = VERDICT_REPLAYED
    elseif not skip_dedup then
      local field = bucket_field[string.byte(member, 1) % DEDUP_BUCKETS]
      local packed = buckets[field]
      if dedup_seen(packed, member) then
        verdict = VERDICT_DUPLICATE
        buckets[field] = packed
      else
        buckets[field] = packed .. member .. dedup_stamp(score, bound_tile)
        buckets_changed[field] = true
      end
    end
    if verdict == VERDICT_APPLIED then
      for k = 0, nops - 1 do
        local at = i + OP_ARG_COUNT * k
        local err = apply_op(state, c, args[at + OP_ARG_OP], args[at + OP_ARG_FIELD], args[at + OP_ARG_VALUE], running)
        if err then return err end
      end
    end
    if verdict ~= VERDICT_REPLAYED then
      positions[source_field] = { partition_key, offset, math.max(applied_ingest, ingest) }
      positions_changed[source_field] = true
    end
    i = i + OP_ARG_COUNT * nops
    verdicts[#verdicts + 1] = verdict
  end
  for source_field in pairs(positions_changed) do
    local p = positions[source_field]
    c.put(source_field, p[1] .. VALUE_SEPARATOR .. int_text(p[2]) .. VALUE_SEPARATOR .. int_text(p[3]))
  end
  -- the ops' and positions' writes, before the running totals read tiles back
  c.flush()
  local oldest = parse_prune_spec(prune_spec)
  local flat = {}
  -- move each running total's base up to the oldest tile a read at this clock can count, so a
  -- read near the clock finds its window's sum in the total (even for features this call did not touch);
  -- a call whose events were all replayed writes nothing (a replay must leave the state as it was)
  for id, r in pairs(next(positions_changed) ~= nil and running or {}) do
    local newbase = oldest[id]
    if r.base == nil and r.low then
      -- a new total: no tile of the feature lies below its lowest tile, so it may start lower
      r.base = r.low
      if newbase and newbase < r.base then r.base = newbase end
    end
    if r.base and newbase and newbase > r.base then
      if r.top < newbase then
        r.total = 0
      elseif newbase - r.base <= r.top - newbase + 1 then
        r.total = r.total - sum_tiles(state, id, r.base, newbase - 1)
      else
        r.total = sum_tiles(state, id, newbase, r.top)
      end
      r.base = newbase
      r.changed = true
    end
    if r.base and (r.changed or r.stored == nil) then
      local text = format_running(r.base, r.total, r.top)
      if text ~= r.stored then flat[#flat + 1] = running_field(id); flat[#flat + 1] = text end
    end
  end
  if not marks[2] then flat[#flat + 1] = FIELD_LAYOUT; flat[#flat + 1] = STATE_LAYOUT end
  if #flat > 0 then redis.call('HSET', state, unpack(flat)) end
  for j = 1, #flat, 2 do c.remember(flat[j], flat[j + 1]) end
  -- a bucket written loses its expired entries; one left empty goes
  flat = {}
  local empty = {}
  for field in pairs(buckets_changed) do
    local packed = dedup_prune(buckets[field], bound_tile)
    if packed == '' then empty[#empty + 1] = field else flat[#flat + 1] = field; flat[#flat + 1] = packed end
  end
  if #flat > 0 then redis.call('HSET', dedup, unpack(flat)) end
  if #empty > 0 then redis.call('HDEL', dedup, unpack(empty)) end
  -- prune once the hash outgrew its size after the last prune by PRUNE_REGROWTH_FIELDS, not on every call
  -- (a user with many live distinct values would otherwise rescan the whole hash each time)
  if prune_spec ~= '' then
    local size = redis.call('HLEN', state)
    local after_last = tonumber(marks[1] or '0')
    if size > prune_above and size > after_last + PRUNE_REGROWTH_FIELDS then
      prune(state, oldest)
      c.reset()
      redis.call('HSET', state, FIELD_PRUNE_MARK, redis.call('HLEN', state))
    end
  end
  -- the read head follows every change of the state (a call of replays only changed nothing)
  local head_key = keys[APPLY_KEY_HEAD]
  if head_key and next(positions_changed) ~= nil then
    local text = build_head(c, oldest)
    if text then redis.call('SET', head_key, text, 'PX', ttl) else redis.call('DEL', head_key) end
  elseif head_key then
    redis.call('PEXPIRE', head_key, ttl)
  end
  redis.call('PEXPIRE', state, ttl)
  -- the dedup hash only matters within the dedup horizon of the newest write
  if not skip_dedup then redis.call('PEXPIRE', dedup, dedup_ttl) end
  return table.concat(verdicts)
end

-- appends to names the tiles a feature's window sum needs: the tiles at the edges of its
-- running total (base..lo-1, hi+1..top) or the window's own tiles when those are fewer (the
-- reader's windowTotal takes the same branch). Returns the total the tiles correct and the sign
-- they count with (total, -1) or (0, 1); nil when no stored tile can be in the window.
local function edge_tiles(id, text, lo, hi, names)
  if not text then return nil end
  local base, total, top = parse_running(text)
  local upper = math.min(hi, top)
  if upper < lo then return nil end
  if lo >= base and (lo - base) + (top - upper) < upper - lo + 1 then
    for k = base, lo - 1 do names[#names + 1] = tile_field(id, k) end
    for k = upper + 1, top do names[#names + 1] = tile_field(id, k) end
    return total, -1
  end
  for k = lo, upper do names[#names + 1] = tile_field(id, k) end
  return 0, 1
end

-- the read's instant: ARGV as_of_ms, or the server's clock; nil for a malformed argument
local function read_time(args)
  local as_of = args[READ_ARG_AS_OF_MS]
  if as_of == nil then
    local now = redis.call('TIME')
    return tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
  end
  -- digits only: tonumber alone would take '0x10', 'inf', 'nan', '1e30', ' 5' and '-1'
  if not string.match(as_of, AS_OF_MS_PATTERN) or #as_of > MAX_AS_OF_DIGITS then return nil end
  local t = tonumber(as_of)
  if t > MAX_AS_OF_MS then return nil end
  return t
end

-- the tiles a read at t needs beyond the head: edges of the running totals, min / max windows
local function tile_names(t, head)
  local names = {}
  for i = 1, #REGISTRY do
    local f = REGISTRY[i]
    local hi = math.floor(t / f.g)
    local lo = hi - f.w / f.g
    if additive_fn[f.id] then
      edge_tiles(f.id, head[head_at[running_field(f.id)]], lo, hi, names)
    elseif f.fn == 'min' or f.fn == 'max' then
      for k = lo, hi do names[#names + 1] = tile_field(f.id, k) end
    end
  end
  return names
end

--[[
  FIELDS_FUNCTION  KEYS: state, head (the read head; optional)   ARGV: [as_of_ms]  (as READ_FUNCTION)
  The serving path's read: the raw fields a read at as_of_ms needs, one consistent snapshot of
  the user's keys, without the number formatting and JSON text that cost Redis ~25 us in Lua:
    { READ_REPLY_HEAD, as_of_ms, head }  the read head, when as_of_ms lies in its range (one GET)
    { READ_REPLY_RUNNING, as_of_ms, head, names, values }  head: HMGET of READ_HEAD (the layout
        mark first); names: the tiles the windows' edges need (min / max: the window's tiles);
        values: their HMGET
    { READ_REPLY_SCAN, as_of_ms, all }  no layout mark (a hash of store protocol 2 not written
        since the upgrade, or no state at all): HGETALL
  The reader builds the answer from them with the TypeScript model (store-model.ts readReply).
]]
local function fields(keys, args)
  local state = keys[FIELDS_KEY_STATE]
  local t = read_time(args)
  if t == nil then return redis.error_reply(INVALID_AS_OF_MS_ERROR) end
  -- the read head answers a read inside its range with one GET, whatever the tile count
  if keys[FIELDS_KEY_HEAD] then
    local text = redis.call('GET', keys[FIELDS_KEY_HEAD])
    if text then
      local from, till = string.match(text, HEAD_RANGE_PATTERN)
      if from and t >= tonumber(from) and t <= tonumber(till) then return { READ_REPLY_HEAD, t, text } end
    end
  end
  local head = redis.call('HMGET', state, unpack(READ_HEAD))
  if not head[1] then return { READ_REPLY_SCAN, t, redis.call('HGETALL', state) } end
  local names = tile_names(t, head)
  return { READ_REPLY_RUNNING, t, head, names, #names > 0 and hmget_all(state, names) or {} }
end

local function fixed_to_text(total, scale)
  if scale == 0 then return int_text(total) end
  local sign = ''
  if total < 0 then sign = '-'; total = -total end
  local unit = 10 ^ scale
  local whole = math.floor(total / unit)
  local frac = total - whole * unit
  return sign .. string.format('%d', whole) .. '.' .. string.format('%0' .. scale .. 'd', frac)
end

-- the read of store protocol 2: one pass over the whole hash (a state not yet migrated)
local function read_scan(t, all)
  local acc = {}
  for _, f in ipairs(REGISTRY) do
    local hi = math.floor(t / f.g)
    acc[f.id] = { f = f, hi = hi, lo = hi - f.w / f.g, total = 0, n = 0, best = nil, besttext = nil, latest = nil, last = nil }
  end
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


-- per feature: the JSON text before its value; per source, before its partition
local json_name = {}
for i = 1, #REGISTRY do
  json_name[REGISTRY[i].id] = '"' .. REGISTRY[i].name .. '":{"value":'
end
local source_json = {}
for i = 1, #SOURCES do
  source_json[SOURCES[i]] = '"' .. SOURCES[i] .. '":{"partition":'
end

-- the JSON read of a migrated state: the head, one HMGET of the tiles the windows' edges need
local function read_running(state, t, head)
  local names, plans, bounds = {}, {}, {}
  for _, f in ipairs(REGISTRY) do
    local hi = math.floor(t / f.g)
    local lo = hi - f.w / f.g
    bounds[f.id] = lo
    if additive_fn[f.id] then
      local first = #names + 1
      local total, sign = edge_tiles(f.id, head[head_at[running_field(f.id)]], lo, hi, names)
      if total then plans[f.id] = { total = total, sign = sign, first = first, last = #names } end
    elseif f.fn == 'min' or f.fn == 'max' then
      local plan = { first = #names + 1 }
      for k = lo, hi do names[#names + 1] = tile_field(f.id, k) end
      plan.last = #names
      plans[f.id] = plan
    end
  end
  local values = #names > 0 and hmget_all(state, names) or {}
  local out = {}
  for _, f in ipairs(REGISTRY) do
    local plan, lo = plans[f.id], bounds[f.id]
    local value
    if additive_fn[f.id] then
      local total = 0
      if plan then
        local sum = 0
        for j = plan.first, plan.last do
          if values[j] then sum = sum + tonumber(values[j]) end
        end
        total = plan.total + plan.sign * sum
      end
      if f.fn == 'count_distinct' then value = int_text(total) else value = fixed_to_text(total, f.scale) end
    elseif f.fn == 'min' or f.fn == 'max' then
      local best, besttext = nil, nil
      for j = plan.first, plan.last do
        local text = values[j]
        if text then
          local v = tonumber(text)
          if best == nil or (f.fn == 'min' and v < best) or (f.fn == 'max' and v > best) then best = v; besttext = text end
        end
      end
      value = besttext or 'null'
    else
      value = 'null'
      local text = head[head_at[FIELD_LAST .. FIELD_SEPARATOR .. f.id]]
      if text then
        local ms, _, candidate = parse_last(text)
        if ms <= t and math.floor(ms / f.g) >= lo then value = cjson.encode(candidate) end
      end
    end
    local latest = 'null'
    local ms = tonumber(head[head_at[FIELD_LATEST_EVENT .. FIELD_SEPARATOR .. f.id]] or '')
    if ms and ms <= t and math.floor(ms / f.g) >= lo then latest = int_text(ms) end
    out[#out + 1] = json_name[f.id] .. value .. ',"latest_event_ms":' .. latest .. '}'
  end
  local sources = {}
  for _, source in ipairs(SOURCES) do
    local text = head[head_at[FIELD_SOURCE .. FIELD_SEPARATOR .. source]]
    if text then
      local p, o, ing = string.match(text, SOURCE_VALUE_PATTERN)
      local partition = string.match(p or '', PARTITION_KEY_PATTERN) or '-1'
      sources[#sources + 1] = source_json[source] .. partition .. ',"offset":' .. o .. ',"applied_ingest_ms":' .. ing .. '}'
    end
  end
  return '{"present":true,"as_of_ms":' .. int_text(t)
    .. ',"features":{' .. table.concat(out, ',') .. '},"sources":{' .. table.concat(sources, ',') .. '}}'
end

--[[
  READ_FUNCTION  KEYS: state   ARGV: [as_of_ms]  (default: the server's clock; decimal digits up to
  MAX_AS_OF_MS, anything else answers the error INVALID_AS_OF_MS_ERROR)
  Returns JSON: {"present":bool,"as_of_ms":t,"features":{name:{"value":v,"latest_event_ms":ms|null}},
                 "sources":{source:{"partition":p,"offset":o,"applied_ingest_ms":ms}}}
  The answer built in Lua, for tools and readers outside the project (redis-cli, the Flink peer's
  Dump); the serving path calls FIELDS_FUNCTION and builds the same answer in TypeScript.
]]
local function read(keys, args)
  local state = keys[READ_KEY_STATE]
  local t = read_time(args)
  if t == nil then return redis.error_reply(INVALID_AS_OF_MS_ERROR) end
  local head = redis.call('HMGET', state, unpack(READ_HEAD))
  if head[1] then return read_running(state, t, head) end
  -- no layout mark: a hash of store protocol 2 not written since the upgrade, or no state at all
  return read_scan(t, redis.call('HGETALL', state))
end

redis.register_function(APPLY_FUNCTION, apply)
redis.register_function{ function_name = READ_FUNCTION, callback = read, flags = { 'no-writes' } }
redis.register_function{ function_name = FIELDS_FUNCTION, callback = fields, flags = { 'no-writes' } }
