/**
 * The Lua scripts behind `RedisStorage`: each atomic step of the {@link Storage} contract runs as one script, so
 * no other client's command can run between its reads and its writes.
 *
 * Key layout, under the storage's key prefix `P` (ids are the keyed hashes of token ids, never token ids):
 *
 * | Key            | Type   | Holds                                                                          |
 * | -------------- | ------ | ------------------------------------------------------------------------------ |
 * | `P t:<id>`     | hash   | a token: `d` (record JSON as inserted), `a` accessor, `pa` path, and the fields that change: `p` parent, `u` uses left, `e` expiresAt, `t` ttl, `l` lastRenewalTime, `r` revoking (`''` for null) |
 * | `P acc`        | hash   | accessor → id                                                                  |
 * | `P c:<id>`     | set    | the ids of a token's children                                                  |
 * | `P paths`      | zset   | every token path (score 0, for prefix ranges with ZRANGEBYLEX)                 |
 * | `P p:<path>`   | set    | the ids of the tokens on one path                                              |
 * | `P ls`         | zset   | `<path> <accessor>` of every token (score 0): listings in path order            |
 * | `P lsg`        | list   | `ls` members of tokens a batch deletion removed, left for the listing cleanup (`DRAIN_LISTING`) |
 * | `P lsc`, `lsn` | string | a compaction of `ls` under way: where it stopped, and how many queued entries it deals with |
 * | `P pc:<id>`    | zset   | the accessors of a token's children (score 0): listings by parent              |
 * | `P exp`        | zset   | token id scored by expiresAt                                                   |
 * | `P rv`         | zset   | ids of tokens marked revoking (score 0)                                        |
 * | `P l:<lease>`  | hash   | a lease: `d` (record JSON as inserted), `tk` token id, `e`, `t`, `l` as above  |
 * | `P tl:<id>`    | set    | the ids of a token's leases                                                    |
 * | `P lexp`       | zset   | lease id scored by expiresAt                                                   |
 * | `P lids`       | zset   | every lease id (score 0, for prefix ranges)                                    |
 * | `P roles`      | hash   | role name → role JSON                                                          |
 * | `P policies`   | hash   | ACL policy name → its source text                                              |
 * | `P seq`        | string | the number of the last notice                                                  |
 * | `P epoch`      | string | the server time at which the notice log began (set by the first notice without one): a subscriber that sees it change, or vanish, knows the log started over |
 * | `P notices`    | stream | revocation and policy notices, entry id `0-<seq>`, trimmed (MINID) to about the configured length in notices |
 * |                |        | (fields: `o` origin, `st` the server's time of the write in ms, then the notice; a batch deletion's entry, `k` `batch`, holds `n` notices numbered up to `<seq>`, listed in `b`)|
 *
 * Notices are also announced on the pub/sub channel `P notices` (the message is the sequence number), which only
 * wakes subscribers: they read the stream from their last seen number, so none is missed or seen twice.
 *
 * Every script takes the key prefix as `ARGV[1]` and computes its keys from it; the ancestor walk reads keys it
 * discovers on the way. That is fine on a single Redis server (or a replicated one), not on Redis Cluster.
 *
 * @packageDocumentation
 */
import { createHash } from 'node:crypto'

/** A Lua script with its SHA-1, for EVALSHA. */
export interface RedisScript {
  /** The script's source. */
  readonly lua: string
  /** Its SHA-1 in hex, as SCRIPT LOAD returns it. */
  readonly sha: string
}

function script(body: string): RedisScript {
  const lua = PRELUDE + body
  return { lua, sha: createHash('sha1').update(lua).digest('hex') }
}

/**
 * Helpers shared by the scripts. A token is live at `now` when it exists, `r` is empty and `e` is empty or later
 * than `now`, and every ancestor exists, is unexpired, and has `r` empty or `orphan` (the children of a token under
 * `revokeOrphan` stay usable). `node_ok(id, nil)` skips the expiry tests: it is insertToken's check that a new
 * child (or an orphan's creator) hangs under no missing or revoking token.
 */
const PRELUDE = `
local P = ARGV[1]
local function ancestors_ok(id, now)
  while id ~= '' do
    local f = redis.call('HMGET', P .. 't:' .. id, 'p', 'e', 'r')
    if not f[1] or (f[3] ~= '' and f[3] ~= 'orphan') then return false end
    if now and f[2] ~= '' and now >= tonumber(f[2]) then return false end
    id = f[1]
  end
  return true
end
local function node_ok(id, now)
  local f = redis.call('HMGET', P .. 't:' .. id, 'p', 'e', 'r')
  if not f[1] or f[3] ~= '' then return false end
  if now and f[2] ~= '' and now >= tonumber(f[2]) then return false end
  return ancestors_ok(f[1], now)
end
local function read_token(id)
  local f = redis.call('HMGET', P .. 't:' .. id, 'd', 'p', 'u', 'e', 't', 'l', 'r')
  if not f[1] then return nil end
  return f
end
local function live_token(id, now)
  local f = read_token(id)
  if not f or f[7] ~= '' then return nil end
  if f[4] ~= '' and now >= tonumber(f[4]) then return nil end
  if not ancestors_ok(f[2], now) then return nil end
  return f
end
local function unlist(id, parent, accessor, path)
  redis.call('ZREM', P .. 'ls', path .. ' ' .. accessor)
  if parent ~= '' then redis.call('ZREM', P .. 'pc:' .. parent, accessor) end
  redis.call('DEL', P .. 'pc:' .. id)
end
-- Deletes one token's record and every index entry of it (not its leases, not a notice).
local function drop_token(id, parent, accessor, path)
  redis.call('DEL', P .. 't:' .. id)
  redis.call('HDEL', P .. 'acc', accessor)
  local pk = P .. 'p:' .. path
  redis.call('SREM', pk, id)
  if redis.call('EXISTS', pk) == 0 then redis.call('ZREM', P .. 'paths', path) end
  if parent ~= '' then redis.call('SREM', P .. 'c:' .. parent, id) end
  unlist(id, parent, accessor, path)
  redis.call('ZREM', P .. 'exp', id)
  redis.call('ZREM', P .. 'rv', id)
end
local function server_ms()
  local t = redis.call('TIME')
  return tostring(tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
end
-- Marks the notice log with the moment it began, once: if Redis loses its data, the next notice marks it anew, and
-- a subscriber whose position the new numbers would hide sees the log started over.
local function mark_epoch()
  if redis.call('EXISTS', P .. 'epoch') == 0 then
    local t = redis.call('TIME')
    redis.call('SET', P .. 'epoch', t[1] .. '.' .. t[2])
  end
end
local function publish(origin, fields)
  mark_epoch()
  local seq = redis.call('INCR', P .. 'seq')
  local keep = math.max(0, seq - tonumber(ARGV[#ARGV]) + 1)
  local args = {'XADD', P .. 'notices', 'MINID', '~', '0-' .. keep, '0-' .. seq, 'o', origin, 'st', server_ms()}
  for i = 1, #fields do args[#args + 1] = fields[i] end
  redis.call(unpack(args))
  redis.call('PUBLISH', P .. 'notices', seq)
end
`

/**
 * insertToken. ARGV: prefix, id, accessor, parent (`''`), path, expiresAt (`''`), revoking (`''`), record JSON,
 * numUses, ttl, lastRenewalTime (`''`), creator (`''`). Returns the {@link InsertResult} as a status string.
 */
export const INSERT_TOKEN = script(`
local id, accessor, parent, path, e, r = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local k = P .. 't:' .. id
if redis.call('EXISTS', k) == 1 then return 'id_exists' end
if redis.call('HEXISTS', P .. 'acc', accessor) == 1 then return 'accessor_exists' end
if ARGV[12] ~= '' and not node_ok(ARGV[12], nil) then return 'parent_gone' end
if parent ~= '' then
  if not node_ok(parent, nil) then return 'parent_gone' end
  redis.call('SADD', P .. 'c:' .. parent, id)
end
redis.call('HSET', k, 'd', ARGV[8], 'a', accessor, 'pa', path, 'p', parent, 'u', ARGV[9], 'e', e,
  't', ARGV[10], 'l', ARGV[11], 'r', r)
redis.call('HSET', P .. 'acc', accessor, id)
redis.call('ZADD', P .. 'paths', 0, path)
redis.call('SADD', P .. 'p:' .. path, id)
redis.call('ZADD', P .. 'ls', 0, path .. ' ' .. accessor)
if parent ~= '' then redis.call('ZADD', P .. 'pc:' .. parent, 0, accessor) end
if e ~= '' then redis.call('ZADD', P .. 'exp', e, id) end
if r ~= '' then redis.call('ZADD', P .. 'rv', 0, id) end
return 'inserted'
`)

/** getTokenByAccessor. ARGV: prefix, accessor. Returns the token's fields or nil. */
export const GET_BY_ACCESSOR = script(`
local id = redis.call('HGET', P .. 'acc', ARGV[2])
if not id then return false end
return read_token(id) or false
`)

/** getLiveToken. ARGV: prefix, id, now. Returns the token's fields when live, else nil. */
export const GET_LIVE_TOKEN = script(`
return live_token(ARGV[2], tonumber(ARGV[3])) or false
`)

/**
 * useToken. ARGV: prefix, id, now. Returns the fields after the use, or nil when not live. Unlimited tokens
 * (`u` = 0) are returned unchanged; the use that reaches zero marks the token `uses_exhausted`.
 */
export const USE_TOKEN = script(`
local id = ARGV[2]
local f = live_token(id, tonumber(ARGV[3]))
if not f then return false end
local uses = tonumber(f[3])
if uses == 0 then return f end
uses = uses - 1
f[3] = string.format('%d', uses)
if uses == 0 then
  f[7] = 'uses_exhausted'
  redis.call('HSET', P .. 't:' .. id, 'u', f[3], 'r', f[7])
  redis.call('ZADD', P .. 'rv', 0, id)
else
  redis.call('HSET', P .. 't:' .. id, 'u', f[3])
end
return f
`)

/**
 * renewToken. ARGV: prefix, id, now, expiresAt, ttl, lastRenewalTime, expected expiresAt. Applies only while the
 * stored expiry is still the expected one (compare-and-set). Returns the renewed fields or nil.
 */
export const RENEW_TOKEN = script(`
local id = ARGV[2]
local f = live_token(id, tonumber(ARGV[3]))
if not f or f[4] == '' or tonumber(f[4]) ~= tonumber(ARGV[7]) then return false end
redis.call('HSET', P .. 't:' .. id, 'e', ARGV[4], 't', ARGV[5], 'l', ARGV[6])
redis.call('ZADD', P .. 'exp', ARGV[4], id)
f[4], f[5], f[6] = ARGV[4], ARGV[5], ARGV[6]
return f
`)

/**
 * markRevoking. ARGV: prefix, id, reason, expiredAt (`''` for none). Keeps an earlier reason, except that any other
 * reason replaces `orphan` (revoking the subtree supersedes orphaning it). With expiredAt, marks only a token that
 * has expired by then (`e` set and `e <= expiredAt`), else returns nil and changes nothing. Returns the fields, or
 * nil when missing (or not expired).
 */
export const MARK_REVOKING = script(`
local id, reason, expiredAt = ARGV[2], ARGV[3], ARGV[4]
local f = read_token(id)
if not f then return false end
if f[7] ~= '' and (f[7] ~= 'orphan' or reason == 'orphan') then return f end
if expiredAt ~= '' and (f[4] == '' or tonumber(f[4]) > tonumber(expiredAt)) then return false end
f[7] = reason
redis.call('HSET', P .. 't:' .. id, 'r', f[7])
redis.call('ZADD', P .. 'rv', 0, id)
return f
`)

/**
 * orphanChildren. ARGV: prefix, id, now. Re-parents the children only while the token is marked `orphan`, has not
 * expired at `now`, and its ancestors are live at `now` (else they are dead already and must stay so). Returns
 * how many children were re-parented, or nil (changing nothing) when the check fails.
 */
export const ORPHAN_CHILDREN = script(`
local id, now = ARGV[2], tonumber(ARGV[3])
local f = redis.call('HMGET', P .. 't:' .. id, 'p', 'e', 'r')
if not f[1] or f[3] ~= 'orphan' then return false end
if f[2] ~= '' and now >= tonumber(f[2]) then return false end
if not ancestors_ok(f[1], now) then return false end
local ck = P .. 'c:' .. id
local children = redis.call('SMEMBERS', ck)
for _, child in ipairs(children) do
  local k = P .. 't:' .. child
  if redis.call('EXISTS', k) == 1 then redis.call('HSET', k, 'p', '') end
end
redis.call('DEL', ck)
redis.call('DEL', P .. 'pc:' .. id)
return #children
`)

/**
 * deleteToken. ARGV: prefix, id, reason, now, origin, notice log length. Deletes the token and its index entries
 * (its own children index stays, so a resumed walk still finds them) and appends a notice. Returns the deleted
 * fields, or nil when already gone.
 */
export const DELETE_TOKEN = script(`
local id = ARGV[2]
local k = P .. 't:' .. id
local f = redis.call('HMGET', k, 'd', 'p', 'u', 'e', 't', 'l', 'r', 'a', 'pa')
if not f[1] then return false end
drop_token(id, f[2], f[8], f[9])
publish(ARGV[5], {'k', 'token', 'r', ARGV[3], 't', ARGV[4], 'a', f[8], 'pa', f[9]})
return {f[1], f[2], f[3], f[4], f[5], f[6], f[7]}
`)

/** findByPathPrefix. ARGV: prefix, path prefix. Returns the ids on the path and on every path below it. */
export const FIND_BY_PATH_PREFIX = script(`
local prefix = ARGV[2]
local out = {}
local function add(paths)
  for _, path in ipairs(paths) do
    for _, id in ipairs(redis.call('SMEMBERS', P .. 'p:' .. path)) do out[#out + 1] = id end
  end
end
add(redis.call('ZRANGEBYLEX', P .. 'paths', '[' .. prefix, '[' .. prefix))
add(redis.call('ZRANGEBYLEX', P .. 'paths', '[' .. prefix .. '/', '(' .. prefix .. '0'))
return out
`)

/**
 * insertLease. ARGV: prefix, lease id, token id, expiresAt, record JSON, ttl, lastRenewalTime (`''`), now.
 * Returns the {@link InsertLeaseResult} as a status string.
 */
export const INSERT_LEASE = script(`
local id, token, e = ARGV[2], ARGV[3], ARGV[4]
local k = P .. 'l:' .. id
if redis.call('EXISTS', k) == 1 then return 'id_exists' end
if not node_ok(token, tonumber(ARGV[8])) then return 'token_gone' end
redis.call('HSET', k, 'd', ARGV[5], 'tk', token, 'e', e, 't', ARGV[6], 'l', ARGV[7])
redis.call('SADD', P .. 'tl:' .. token, id)
redis.call('ZADD', P .. 'lexp', e, id)
redis.call('ZADD', P .. 'lids', 0, id)
return 'inserted'
`)

/**
 * renewLease. ARGV: prefix, lease id, now, expiresAt, ttl, lastRenewalTime, expected expiresAt (compare-and-set).
 * Returns the renewed fields or nil.
 */
export const RENEW_LEASE = script(`
local id, now = ARGV[2], tonumber(ARGV[3])
local k = P .. 'l:' .. id
local f = redis.call('HMGET', k, 'd', 'tk', 'e', 't', 'l')
if not f[1] or now >= tonumber(f[3]) or tonumber(f[3]) ~= tonumber(ARGV[7]) then return false end
if not node_ok(f[2], now) then return false end
redis.call('HSET', k, 'e', ARGV[4], 't', ARGV[5], 'l', ARGV[6])
redis.call('ZADD', P .. 'lexp', ARGV[4], id)
return {f[1], ARGV[4], ARGV[5], ARGV[6]}
`)

/**
 * deleteLease. ARGV: prefix, lease id, reason, now, origin, notice log length. Returns the deleted fields, or nil
 * when already gone.
 */
export const DELETE_LEASE = script(`
local id = ARGV[2]
local k = P .. 'l:' .. id
local f = redis.call('HMGET', k, 'd', 'tk', 'e', 't', 'l')
if not f[1] then return false end
redis.call('DEL', k)
redis.call('SREM', P .. 'tl:' .. f[2], id)
redis.call('ZREM', P .. 'lexp', id)
redis.call('ZREM', P .. 'lids', id)
publish(ARGV[5], {'k', 'lease', 'r', ARGV[3], 't', ARGV[4], 'd', f[1]})
return {f[1], f[3], f[4], f[5]}
`)

/**
 * Batch deletion, shared by deleteSubtree and sweepExpired (not part of the prelude: only these two need it).
 *
 * A batch is chosen first and written afterwards, so that each kind of write is one variadic command for the whole
 * batch (DEL, HDEL, ZREM, SREM) rather than one per token: the per-token cost is the reads (HMGET, SPOP, EXISTS). The
 * script is atomic, so the order of its writes is never seen; only its end state is, and in it every deleted
 * token's children are deleted too (the walk dooms a token only once its children index yields no live child).
 *
 * - `doom(id, key, p, e, r, a, pa, own, had_children, taken)` puts a token in the batch with its fields and reason
 *   (`doom_read` for one read with `read_for_delete`); its entries in its parent's children indexes wait in
 *   `unparented` until `release_children(parent)` removes them, but for a child the walk took out of the index.
 * - `take_children(id, count)` takes children out of a token's index (the walk puts back what it does not finish);
 *   `first_child(id)` returns a child still indexed under `id`, dropping stale entries met on the way.
 * - `apply(origin, now)` deletes the batch in order: each token's leases, then the token with every index entry,
 *   appending `id p r a pa` per token to the flat `tokens` and the lease records to `leases`. Their notices go into
 *   one stream entry (`publish_batch`).
 *
 * What it costs is measured in instructions of the Redis process (callgrind; see docs/benchmarks.md): every value a
 * script reads becomes a Lua value, every table grown one field at a time is resized on the way, and each field of
 * an HMGET reply costs about as much as a small command. Hence the flat lists, and the walk's three-field read.
 */
const BATCH_DELETION = `
local tokens, leases, doomed, unparented = {}, {}, {}, {}
-- The most arguments one command gets from unpack (Lua's C stack allows about 8,000).
local CHUNK = 1000
local function each_chunk(cmd, key, list)
  for i = 1, #list, CHUNK do
    local last = math.min(i + CHUNK - 1, #list)
    if key then redis.call(cmd, key, unpack(list, i, last)) else redis.call(cmd, unpack(list, i, last)) end
  end
end
-- Only what the walk tests and a deletion reports (DeletedToken): parent, expiry, mark, accessor, path. Not the
-- record JSON \`d\`: each value read becomes a Lua string, and a revocation reads a million.
local function read_for_delete(id)
  local k = P .. 't:' .. id
  local f = redis.call('HMGET', k, 'p', 'e', 'r', 'a', 'pa')
  -- The key too, for apply's DEL: building it again would make another Lua string.
  f[6] = k
  return f
end
local marked_ids = nil
-- Lists the marked tokens in \`marked_ids\` when they are few (as they are, but while a sweep marks many): a token
-- not among them has no mark, which then need not be read. Every script that marks a token adds it to \`rv\` in
-- the same step.
local function list_marked()
  local ids = redis.call('ZRANGE', P .. 'rv', 0, 64)
  if #ids <= 64 then
    marked_ids = {}
    for _, id in ipairs(ids) do marked_ids[id] = true end
  end
end
-- What the walk reads of a child: its key, mark, accessor and path (accessor and path false when it is gone). Less
-- than read_for_delete: each field of a script's HMGET reply costs about as much as a small command. The parent is
-- the token whose index held it (a child leaves the index when it is orphaned), and the expiry is not needed: every
-- token the walk deletes leaves \`exp\` by id. With \`marked_ids\`, the mark is read only for a token listed there.
local function read_child(id)
  local k = P .. 't:' .. id
  if marked_ids then
    local f = redis.call('HMGET', k, 'a', 'pa')
    local r = ''
    if marked_ids[id] then r = redis.call('HGET', k, 'r') or '' end
    return k, r, f[1], f[2]
  end
  local f = redis.call('HMGET', k, 'r', 'a', 'pa')
  return k, f[1], f[2], f[3]
end
-- Takes up to \`count\` members out of a token's children index (SPOP): the walk puts back what it does not finish.
-- Taking them, rather than reading them and removing the doomed ones later, spares one SREM per token and a scan
-- that, with each batch, starts over past the emptied part of the index. Empty only when the index is.
local function take_children(id, count)
  return redis.call('SPOP', P .. 'c:' .. id, count)
end
-- Whether any of the tokens has a children index: one EXISTS for a whole read of children (or of due tokens),
-- so that a batch of leaves costs no EXISTS each.
local function any_children(ids)
  local keys = {}
  for i = 1, #ids do keys[i] = P .. 'c:' .. ids[i] end
  for i = 1, #keys, CHUNK do
    if redis.call('EXISTS', unpack(keys, i, math.min(i + CHUNK - 1, #keys))) > 0 then return true end
  end
  return false
end
local function first_child(id)
  local ck = P .. 'c:' .. id
  while true do
    local child = redis.call('SRANDMEMBER', ck)
    if not child then return nil end
    if redis.call('HGET', P .. 't:' .. child, 'p') == id then return child end
    -- Gone, or under another parent now: not a child of id.
    redis.call('SREM', ck, child)
  end
end
-- What apply writes, built token by token by emit: the keys to delete, the entries to remove from each index, the
-- notices and the reply.
local keys, accessors, listed, expiring, revoking, by_path, items = {}, {}, {}, {}, {}, {}, {}
local function emit(id, k, p, e, r, a, pa, own, had_children)
  keys[#keys + 1] = k
  -- A token whose children all went before it has empty children indexes; only then can one be left over.
  if had_children then
    keys[#keys + 1] = P .. 'c:' .. id
    keys[#keys + 1] = P .. 'pc:' .. id
  end
  accessors[#accessors + 1] = a
  listed[#listed + 1] = pa .. ' ' .. a
  if e ~= '' then expiring[#expiring + 1] = id end
  if r ~= '' then revoking[#revoking + 1] = id end
  local on_path = by_path[pa]
  if not on_path then
    on_path = {}
    by_path[pa] = on_path
  end
  on_path[#on_path + 1] = id
  items[#items + 1] = {'t', own, a, pa}
  -- The reply, flat: per token its id, then \`p r a pa\` (a DeletedToken), with no table each; joined into one
  -- string at the end (see reply_tokens).
  local n = #tokens
  tokens[n + 1], tokens[n + 2], tokens[n + 3], tokens[n + 4], tokens[n + 5] = id, p, r or '', a, pa
end
-- Every lease is in \`lexp\` (since leases exist), so without it no token has one, and doom emits each token at once.
-- With it, the batch is kept as parallel lists (rather than a table per token: each costs an allocation and later
-- a collection) for apply, which deletes each token's leases before emitting it. The expiry is nil when not read
-- (the walk's children): the token then leaves \`exp\` whether it was in it or not.
local no_leases = redis.call('EXISTS', P .. 'lexp') == 0
local doomed_k, doomed_p, doomed_e, doomed_r, doomed_a, doomed_pa = {}, {}, {}, {}, {}, {}
local doomed_own, doomed_had = {}, {}
local function doom(id, k, p, e, r, a, pa, own, had_children, taken)
  local n = #doomed + 1
  doomed[n] = id
  if no_leases then
    emit(id, k, p, e or false, r, a, pa, own, had_children)
  else
    doomed_k[n], doomed_own[n], doomed_had[n] = k, own, had_children
    doomed_p[n], doomed_e[n], doomed_r[n], doomed_a[n], doomed_pa[n] = p, e or false, r, a, pa
  end
  -- A child the walk took out of its parent's children index (\`take_children\`) is out of it already, and its
  -- parent's listing index goes whole with the parent (see DELETE_SUBTREE).
  if p ~= '' and not taken then
    local u = unparented[p]
    if not u then
      u = {{}, {}}
      unparented[p] = u
    end
    u[1][#u[1] + 1] = id
    u[2][#u[2] + 1] = a
  end
end
-- doom for a token read with read_for_delete.
local function doom_read(id, f, own, had_children, taken)
  doom(id, f[6], f[1], f[2], f[3], f[4], f[5], own, had_children, taken)
end
local function release_children(parent)
  local u = unparented[parent]
  if u then
    each_chunk('SREM', P .. 'c:' .. parent, u[1])
    each_chunk('ZREM', P .. 'pc:' .. parent, u[2])
    unparented[parent] = nil
  end
end
-- Deletes the leases of a doomed token (rare: one EXISTS for the whole batch tells whether any has one).
local function delete_leases(id, own, items)
  local lk = P .. 'tl:' .. id
  local lids = redis.call('SMEMBERS', lk)
  if #lids == 0 then return end
  for _, lid in ipairs(lids) do
    local lkey = P .. 'l:' .. lid
    local g = redis.call('HMGET', lkey, 'd', 'tk', 'e', 't', 'l')
    if g[1] and g[2] == id then
      redis.call('DEL', lkey)
      redis.call('ZREM', P .. 'lexp', lid)
      redis.call('ZREM', P .. 'lids', lid)
      items[#items + 1] = {'l', own, g[1]}
      leases[#leases + 1] = {g[1], g[3], g[4], g[5]}
    end
  end
  redis.call('DEL', lk)
end
-- One stream entry for the whole batch: numbered by its last notice, 'n' says how many it holds, 'b' lists them
-- as JSON ({'t', reason, accessor, path} or {'l', reason, lease JSON}), all at time 't'. MINID trims by notice
-- number, so the stream keeps about the log length in notices however they are grouped. \`published\` is the reply's
-- \`{first, last}\` of the numbers the entry holds (empty without one): the instance that wrote it need not read it
-- back from the stream.
local published = {}
local function publish_batch(origin, now, items)
  if #items == 0 then return end
  mark_epoch()
  local last = redis.call('INCRBY', P .. 'seq', #items)
  published = {last - #items + 1, last}
  local keep = math.max(0, last - tonumber(ARGV[#ARGV]) + 1)
  redis.call('XADD', P .. 'notices', 'MINID', '~', '0-' .. keep, '0-' .. last, 'o', origin, 'st', server_ms(),
    'k', 'batch', 't', now, 'n', #items, 'b', cjson.encode(items))
  redis.call('PUBLISH', P .. 'notices', last)
end
-- The deleted tokens' values as one string, NUL between values: Redis converts a script's reply value by value,
-- about twice what joining them costs (3% of a revoked token's instructions), and the storage splits it at once.
-- No value holds a NUL: ids are keyed hashes, accessors are the store's, paths are checked, reasons are words.
local function reply_tokens()
  return table.concat(tokens, '\\0')
end
local function apply(origin, now)
  if #doomed == 0 then return end
  for parent in pairs(unparented) do release_children(parent) end
  if not no_leases then
    local lease_keys, with_leases = {}, 0
    for i = 1, #doomed do lease_keys[i] = P .. 'tl:' .. doomed[i] end
    for i = 1, #lease_keys, CHUNK do
      with_leases = with_leases + redis.call('EXISTS', unpack(lease_keys, i, math.min(i + CHUNK - 1, #lease_keys)))
    end
    for i = 1, #doomed do
      local id, own = doomed[i], doomed_own[i]
      if with_leases > 0 then delete_leases(id, own, items) end
      emit(id, doomed_k[i], doomed_p[i], doomed_e[i], doomed_r[i], doomed_a[i], doomed_pa[i], own, doomed_had[i])
    end
  end
  each_chunk('DEL', nil, keys)
  each_chunk('HDEL', P .. 'acc', accessors)
  -- Not removed from \`ls\` here but queued for the listing cleanup (DRAIN_LISTING), which runs once no deletion
  -- is under way: a ZREM in a listing of a million walks a skiplist to a random member, missing the cache at each
  -- level, about a quarter of a batch's time; appending to a list costs next to nothing. Listings skip the tokens
  -- that are gone meanwhile, as they skip any stale entry.
  each_chunk('RPUSH', P .. 'lsg', listed)
  -- Without \`exp\`, no token is in it: the expiries the walk did not read need not be looked up there.
  if #expiring > 0 and redis.call('EXISTS', P .. 'exp') == 1 then each_chunk('ZREM', P .. 'exp', expiring) end
  each_chunk('ZREM', P .. 'rv', revoking)
  for path, ids in pairs(by_path) do
    local pk = P .. 'p:' .. path
    each_chunk('SREM', pk, ids)
    if redis.call('EXISTS', pk) == 0 then redis.call('ZREM', P .. 'paths', path) end
  end
  publish_batch(origin, now, items)
end
`

/**
 * deleteSubtree. ARGV: prefix, top id, reason, now, limit, origin, notice log length. Unless the top exists and is
 * marked revoking, does nothing. Otherwise walks down from the top (the frames held are as many as the tree is
 * deep; each holds at most the children it took at once, up to the room left in the batch) and dooms each token
 * once its children are doomed: up to `limit` tokens, children before parents, then deletes them with their
 * leases and one notice entry (see BATCH_DELETION). A frame takes one child at a time while the children it took
 * last had children of their own (a wide top: each child's subtree fills batches, and the rest would only be put
 * back), else as many as the batch has room for. A token's reason is ARGV reason for the top, else its own mark,
 * else `parent`; a lease gets its token's. Returns `{tokens, leases, published, done}`: per deleted token its id
 * and fields `p r a pa` (a DeletedToken), in one string with a NUL between values; leases' `d e t l`; both in deletion order; the notice numbers
 * `{first, last}` of its stream entry (empty without one); and 1 when the top is gone.
 */
export const DELETE_SUBTREE = script(
  BATCH_DELETION +
    `
local top, reason, now, limit, origin = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6]
local mark = redis.call('HGET', P .. 't:' .. top, 'r')
if not mark or mark == '' then return {'', {}, {}, 1} end
list_marked()
-- Frames: {id, its fields (the top's read_for_delete when it goes, the others' read_child as a list), children
-- taken (nil: take next), next index, whether it had children, whether any of the children taken has children of
-- its own, its parent}.
local stack = {{top, nil, nil, 0, false, false}}
while #stack > 0 and #doomed < limit do
  local frame = stack[#stack]
  local id = frame[1]
  if frame[3] == nil then
    -- One child at a time while the last taken had children of their own (at a wide top, each child's subtree
    -- fills batches, and the walk would put back all the others it took), else as many as the batch has room for.
    local count = 1
    if frame[5] and not frame[6] then count = math.min(limit - #doomed, CHUNK) end
    local children = take_children(id, count)
    if #children == 0 then
      stack[#stack] = nil
      local f = frame[2] or read_for_delete(id)
      if (id == top and f[1]) or (id ~= top and f[3]) then
        local own = reason
        if id ~= top then own = (f[2] ~= '' and f[2]) or 'parent' end
        -- Its indexes go whole, whether or not it had children this time (see below).
        if id == top then doom_read(id, f, own, true, false)
        else doom(id, f[1], frame[7], nil, f[2], f[3], f[4], own, true, true) end
      end
    else
      frame[3], frame[4], frame[5], frame[6] = children, 0, true, any_children(children)
    end
  else
    frame[4] = frame[4] + 1
    local child = frame[3][frame[4]]
    if child == nil then
      frame[3] = nil
    else
      local k, r, a, pa = read_child(child)
      -- Gone (no accessor): already out of its parent's index, with nothing more to do.
      if a then
        if frame[6] and (#frame[3] == 1 or redis.call('EXISTS', P .. 'c:' .. child) == 1) then
          stack[#stack + 1] = {child, {k, r, a, pa}, nil, 0, false, false, id}
        else
          doom(child, k, id, nil, r, a, pa, (r ~= '' and r) or 'parent', false, true)
        end
      end
    end
  end
end
-- What the walk took and did not finish goes back to the children indexes: each frame's children not reached yet,
-- and each frame below the top (a child taken from the frame under it). A child the walk deletes stays in its
-- parent's listing index (\`pc:\`, read by listings, which skip tokens that are gone) until the parent goes, which
-- deletes the index whole: one key rather than one ZREM member per token. A frame whose children are all gone but
-- which stays has that index deleted here, so that a later call, finding no children, owes it nothing.
for depth, frame in ipairs(stack) do
  local rest = frame[3]
  if rest and frame[4] < #rest then each_chunk('SADD', P .. 'c:' .. frame[1], {unpack(rest, frame[4] + 1)}) end
  if depth > 1 then redis.call('SADD', P .. 'c:' .. stack[depth - 1][1], frame[1]) end
end
for _, frame in ipairs(stack) do
  if frame[5] and redis.call('EXISTS', P .. 'c:' .. frame[1]) == 0 then redis.call('DEL', P .. 'pc:' .. frame[1]) end
end
apply(origin, now)
-- The stack empties only once the top is doomed: it existed when the script started.
return {reply_tokens(), leases, published, #stack == 0 and 1 or 0}
`,
)

/**
 * sweepExpired. ARGV: prefix, now, limit, origin, notice log length. Takes up to `limit` tokens from `exp` due at
 * `now`: deletes each without children (reason: its own mark, else `expired`) with its leases and notices, and
 * marks `expired` each with children (an earlier mark stays, but for `orphan`). Returns `{tokens, leases, marked,
 * published, done}`: per deleted token its id and fields `p r a pa` (a DeletedToken), in one string with a NUL
 * between values; marked tokens' fields
 * `d p u e t l r`; leases' `d e t l`; the notice numbers `{first, last}` of its stream entry (empty without one);
 * and 1 when fewer than `limit` were due.
 */
export const SWEEP_EXPIRED = script(
  BATCH_DELETION +
    `
local now, limit, origin = ARGV[2], tonumber(ARGV[3]), ARGV[4]
local due = redis.call('ZRANGEBYSCORE', P .. 'exp', '-inf', now, 'LIMIT', 0, limit)
local marked = {}
list_marked()
-- What a sweep reads of a due token: its key, parent, expiry, mark, accessor and path (parent false when it is
-- gone), the mark only when it may be set (see list_marked).
local function read_due(id)
  local k = P .. 't:' .. id
  if marked_ids then
    local f = redis.call('HMGET', k, 'p', 'e', 'a', 'pa')
    local r = ''
    if f[1] and marked_ids[id] then r = redis.call('HGET', k, 'r') or '' end
    return k, f[1], f[2], r, f[3], f[4]
  end
  local f = redis.call('HMGET', k, 'p', 'e', 'r', 'a', 'pa')
  return k, f[1], f[2], f[3], f[4], f[5]
end
-- The script only ever removes children: when no due token has any at the start, none has later.
local parents_due = any_children(due)
for _, id in ipairs(due) do
  local k, p, e, r, a, pa = read_due(id)
  local expired_above = false
  if p and e ~= '' then
    -- An ancestor that expired no later (a child's expiry is capped at its parent's) takes it down with its
    -- subtree, as a sweep token by token, soonest first and parents first, would.
    local up = p
    while up ~= '' do
      local u = redis.call('HMGET', P .. 't:' .. up, 'p', 'e')
      if not u[1] then break end
      if u[2] ~= '' and tonumber(u[2]) <= tonumber(e) then expired_above = true break end
      up = u[1]
    end
  end
  if not p or e == '' or tonumber(e) > tonumber(now) or expired_above then
    -- A stale entry (the token is gone, or no longer expires then), or one an ancestor's revocation deletes:
    -- dropped from the expiry index, as tidy would.
    redis.call('ZREM', P .. 'exp', id)
  elseif not parents_due or redis.call('EXISTS', P .. 'c:' .. id) == 0 or not first_child(id) then
    doom(id, k, p, e, r, a, pa, (r ~= '' and r) or 'expired', false, false)
    -- Out of its parent's children index at once: the parent may be due in this batch too, and then goes now.
    if p ~= '' then release_children(p) end
  else
    if r == '' or r == 'orphan' then
      redis.call('HSET', k, 'r', 'expired')
      redis.call('ZADD', P .. 'rv', 0, id)
    end
    -- A marked token goes back whole (\`d p u e t l r\`): the store finishes its subtree from it. Rare: it has children.
    marked[#marked + 1] = read_token(id)
  end
end
apply(origin, now)
return {reply_tokens(), leases, marked, published, #due < limit and 1 or 0}
`,
)

/**
 * tidy, accessor index. ARGV: prefix, accessors. Removes each `acc` entry whose token is gone or has another
 * accessor, and adds the listing entries (`ls`, `pc:<parent>`) of the others, which a store written before
 * listings existed lacks. Returns how many were removed.
 */
export const TIDY_ACCESSORS = script(`
local n = 0
for i = 2, #ARGV do
  local id = redis.call('HGET', P .. 'acc', ARGV[i])
  if id then
    local f = redis.call('HMGET', P .. 't:' .. id, 'a', 'pa', 'p')
    if f[1] ~= ARGV[i] then
      redis.call('HDEL', P .. 'acc', ARGV[i])
      n = n + 1
    else
      -- Listing entries of tokens stored before listings existed (ZADD of a present member changes nothing).
      redis.call('ZADD', P .. 'ls', 0, f[2] .. ' ' .. f[1])
      if f[3] ~= '' then redis.call('ZADD', P .. 'pc:' .. f[3], 0, f[1]) end
    end
  end
end
return n
`)

/**
 * tidy, path index. ARGV: prefix, path, ids. Removes the ids on the path whose token is gone or has another path,
 * then the path itself from `paths` when no token is left on it. Returns how many entries were removed.
 */
export const TIDY_PATH = script(`
local path, n = ARGV[2], 0
local pk = P .. 'p:' .. path
for i = 3, #ARGV do
  local id = ARGV[i]
  if redis.call('SISMEMBER', pk, id) == 1 and redis.call('HGET', P .. 't:' .. id, 'pa') ~= path then
    redis.call('SREM', pk, id)
    n = n + 1
  end
end
if redis.call('EXISTS', pk) == 0 then n = n + redis.call('ZREM', P .. 'paths', path) end
return n
`)

/**
 * tidy, sorted-set indexes. ARGV: prefix, the set (`exp`, `rv`, `lexp` or `lids`), ids. Removes the ids whose
 * token or lease is gone (for `exp`: or has no expiry; for `rv`: or is not marked). Returns how many.
 */
export const TIDY_SORTED = script(`
local set, n = ARGV[2], 0
for i = 3, #ARGV do
  local id, stale = ARGV[i], false
  if set == 'exp' then
    local e = redis.call('HGET', P .. 't:' .. id, 'e')
    stale = not e or e == ''
  elseif set == 'rv' then
    local r = redis.call('HGET', P .. 't:' .. id, 'r')
    stale = not r or r == ''
  else
    stale = redis.call('EXISTS', P .. 'l:' .. id) == 0
  end
  if stale then n = n + redis.call('ZREM', P .. set, id) end
end
return n
`)

/**
 * tidy, a token's children. ARGV: prefix, parent id, child ids. Removes the entries whose child is gone or has
 * another parent; when the parent itself is gone, makes each remaining child an orphan. Returns `{removed,
 * orphaned}`.
 */
export const TIDY_CHILDREN = script(`
local parent, removed, orphaned = ARGV[2], 0, 0
local ck = P .. 'c:' .. parent
local parentGone = redis.call('EXISTS', P .. 't:' .. parent) == 0
for i = 3, #ARGV do
  local child = ARGV[i]
  if redis.call('SISMEMBER', ck, child) == 1 then
    local p = redis.call('HGET', P .. 't:' .. child, 'p')
    if p ~= parent then
      redis.call('SREM', ck, child)
      removed = removed + 1
    elseif parentGone then
      redis.call('HSET', P .. 't:' .. child, 'p', '')
      redis.call('SREM', ck, child)
      redis.call('DEL', P .. 'pc:' .. parent)
      orphaned = orphaned + 1
    end
  end
end
return {removed, orphaned}
`)

/**
 * tidy, a token's leases. ARGV: prefix, token id, lease ids. Removes the entries whose lease is gone or belongs
 * to another token. Returns how many.
 */
export const TIDY_TOKEN_LEASES = script(`
local token, n = ARGV[2], 0
local lk = P .. 'tl:' .. token
for i = 3, #ARGV do
  local id = ARGV[i]
  if redis.call('SISMEMBER', lk, id) == 1 and redis.call('HGET', P .. 'l:' .. id, 'tk') ~= token then
    redis.call('SREM', lk, id)
    n = n + 1
  end
end
return n
`)

/** tidy, dangling leases. ARGV: prefix, lease ids. Returns those that exist while their token does not. */
export const DANGLING_LEASES = script(`
local out = {}
for i = 2, #ARGV do
  local token = redis.call('HGET', P .. 'l:' .. ARGV[i], 'tk')
  if token and redis.call('EXISTS', P .. 't:' .. token) == 0 then out[#out + 1] = ARGV[i] end
end
return out
`)

/**
 * listTokens. ARGV: prefix, index (`ls` or `pc:<parent id>`), parent id (`''`), path prefix (`''`), metadata JSON
 * (`''`), now, limit, then one or two lexical ranges (min, max) of the index to read in turn. Reads at most `limit`
 * members of the ranges and returns `{read, last member, tokens}`: how many were read, the last one, and the
 * fields `d p u e t l r` of those that are live at `now` and pass the filters (stale members are skipped).
 */
export const LIST_TOKENS = script(`
local index, parent, prefix, meta, now, limit = ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7])
local wanted = nil
if meta ~= '' then wanted = cjson.decode(meta) end
local members = {}
for i = 8, #ARGV - 1, 2 do
  if #members >= limit then break end
  local got = redis.call('ZRANGEBYLEX', P .. index, ARGV[i], ARGV[i + 1], 'LIMIT', 0, limit - #members)
  for _, m in ipairs(got) do members[#members + 1] = m end
end
local out = {}
for _, m in ipairs(members) do
  local accessor, listedPath = m, nil
  if index == 'ls' then
    local space = string.find(m, ' ', 1, true)
    listedPath, accessor = string.sub(m, 1, space - 1), string.sub(m, space + 1)
  end
  local id = redis.call('HGET', P .. 'acc', accessor)
  local f = id and live_token(id, now)
  if f then
    local path = redis.call('HGET', P .. 't:' .. id, 'pa')
    local ok = (listedPath == nil or path == listedPath) and (parent == '' or f[2] == parent)
    if ok and prefix ~= '' then
      ok = path == prefix or string.sub(path, 1, #prefix + 1) == prefix .. '/'
    end
    if ok and wanted then
      local md = cjson.decode(f[1]).metadata
      for k, v in pairs(wanted) do
        if type(md) ~= 'table' or md[k] ~= v then ok = false break end
      end
    end
    if ok then out[#out + 1] = f end
  end
end
return {#members, members[#members] or '', out}
`)

/**
 * tidy, listing entries. ARGV: prefix, index (`ls` or `pc:<parent id>`), members. Removes each member whose token
 * is gone, or has another path (`ls`) or parent (`pc:`). Returns how many were removed.
 */
export const TIDY_LISTING = script(`
local index, n = ARGV[2], 0
for i = 3, #ARGV do
  local m, accessor, path = ARGV[i], ARGV[i], nil
  if index == 'ls' then
    local space = string.find(m, ' ', 1, true)
    if space then path, accessor = string.sub(m, 1, space - 1), string.sub(m, space + 1) end
  end
  local id = redis.call('HGET', P .. 'acc', accessor)
  local stale = not id
  if id then
    local f = redis.call('HMGET', P .. 't:' .. id, 'pa', 'p')
    if index == 'ls' then stale = f[1] ~= path else stale = ('pc:' .. (f[2] or '')) ~= index end
  end
  if stale then n = n + redis.call('ZREM', P .. index, m) end
end
return n
`)

/**
 * The listing cleanup. ARGV: prefix, count. Removes from `ls` the entries batch deletions queued in `lsg`, `count`
 * at a time, in one of two ways:
 *
 * - by the queue: takes up to `count` entries from its head and removes each from `ls`;
 * - by compaction, when the queue holds at least half as many entries as `ls` (a revocation or a sweep of most of
 *   the tokens): reads `count` entries of `ls` in order from where the last step stopped (`lsc`), and removes the
 *   runs of those whose token is gone with one ZREMRANGEBYLEX each. Walking the index in order touches each node
 *   once, where removing members one by one walks down to a random place each time, missing the cache at each
 *   level. When it reaches the end, the entries queued before it
 *   began (`lsn` of them, at the head) are all dealt with, and leave the queue.
 *
 * Either way, an entry stays while its token is live: one whose accessor was inserted again on the same path since
 * its token was deleted lists the new token. Returns the queue's length after the step (0: nothing left to do).
 */
export const DRAIN_LISTING = script(`
local queue, listing, step = P .. 'lsg', P .. 'ls', tonumber(ARGV[2])
local queued = redis.call('LLEN', queue)
if queued == 0 then
  -- Nothing queued (a queue deleted by hand, say): no compaction can be owed anything.
  redis.call('DEL', P .. 'lsc', P .. 'lsn')
  return 0
end
-- Which listing entries name a token that is gone, or lives on another path now: one HMGET for all their
-- accessors (a command costs far more than a field of one), then the path of each that still names a token.
local function stale_entries(members)
  local accessors, paths, stale = {}, {}, {}
  for i, m in ipairs(members) do
    local space = string.find(m, ' ', 1, true)
    paths[i], accessors[i] = string.sub(m, 1, space - 1), string.sub(m, space + 1)
  end
  local ids = redis.call('HMGET', P .. 'acc', unpack(accessors))
  for i = 1, #members do
    local id = ids[i]
    stale[i] = not id or redis.call('HGET', P .. 't:' .. id, 'pa') ~= paths[i]
  end
  return stale
end
local from = redis.call('GET', P .. 'lsc')
if not from and queued * 2 >= redis.call('ZCARD', listing) then
  from = '-'
  redis.call('SET', P .. 'lsn', queued)
end
if from then
  local members = redis.call('ZRANGEBYLEX', listing, from, '+', 'LIMIT', 0, step)
  if #members == 0 then
    redis.call('LTRIM', queue, tonumber(redis.call('GET', P .. 'lsn')), -1)
    redis.call('DEL', P .. 'lsc', P .. 'lsn')
    return redis.call('LLEN', queue)
  end
  -- Runs of stale entries, each removed whole: no other entry lies between two that ZRANGEBYLEX returned in a row.
  local stale = stale_entries(members)
  local first, last = nil, nil
  for i, m in ipairs(members) do
    if stale[i] then
      first = first or m
      last = m
    elseif first then
      redis.call('ZREMRANGEBYLEX', listing, '[' .. first, '[' .. last)
      first = nil
    end
  end
  if first then redis.call('ZREMRANGEBYLEX', listing, '[' .. first, '[' .. last) end
  redis.call('SET', P .. 'lsc', '(' .. members[#members])
  return math.max(queued, 1)
end
local members = redis.call('LRANGE', queue, 0, step - 1)
redis.call('LTRIM', queue, #members, -1)
local stale, gone = stale_entries(members), {}
for i, m in ipairs(members) do
  if stale[i] then gone[#gone + 1] = m end
end
if #gone > 0 then redis.call('ZREM', listing, unpack(gone)) end
return redis.call('LLEN', queue)
`)

/**
 * putPolicy. ARGV: prefix, name, text, now, origin, notice log length. Stores the policy and appends a `policy`
 * notice, so other instances drop their compiled copy.
 */
export const PUT_POLICY = script(`
redis.call('HSET', P .. 'policies', ARGV[2], ARGV[3])
publish(ARGV[5], {'k', 'policy', 'n', ARGV[2], 't', ARGV[4]})
return 1
`)

/**
 * deletePolicy. ARGV: prefix, name, now, origin, notice log length. Deletes the policy and, when it existed,
 * appends a `policy` notice. Returns 1 when it existed, else 0.
 */
export const DELETE_POLICY = script(`
if redis.call('HDEL', P .. 'policies', ARGV[2]) == 0 then return 0 end
publish(ARGV[4], {'k', 'policy', 'n', ARGV[2], 't', ARGV[3]})
return 1
`)

/**
 * insertToken on sharded storage, second step for an orphan whose creator lives in another shard. ARGV: prefix (the
 * creator's space), creator id. Returns 1 when the creator and its ancestors exist and none is being revoked, as
 * insertToken's own check (`node_ok`), else 0.
 */
export const CREATOR_OK = script(`
return node_ok(ARGV[2], nil) and 1 or 0
`)

/**
 * insertToken on sharded storage, undone: the orphan just written when its creator's check failed. ARGV: prefix,
 * id. Deletes the token and its index entries like deleteToken, without a notice (no one was given the token, so
 * no one is told it went). Returns 1 when it was there.
 */
export const UNDO_INSERT = script(`
local id = ARGV[2]
local k = P .. 't:' .. id
local f = redis.call('HMGET', k, 'p', 'a', 'pa')
if not f[2] then return 0 end
drop_token(id, f[1], f[2], f[3])
return 1
`)

/**
 * The server's time, from the node that serves the prefix's slot (on a cluster each master has its own clock, and
 * its scripts stamp its notices with it). ARGV: prefix. Returns TIME's reply.
 */
export const SERVER_TIME = script(`
return redis.call('TIME')
`)
