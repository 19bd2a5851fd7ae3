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
 * | `P exp`        | zset   | token id scored by expiresAt                                                   |
 * | `P rv`         | zset   | ids of tokens marked revoking (score 0)                                        |
 * | `P l:<lease>`  | hash   | a lease: `d` (record JSON as inserted), `tk` token id, `e`, `t`, `l` as above  |
 * | `P tl:<id>`    | set    | the ids of a token's leases                                                    |
 * | `P lexp`       | zset   | lease id scored by expiresAt                                                   |
 * | `P lids`       | zset   | every lease id (score 0, for prefix ranges)                                    |
 * | `P seq`        | string | the number of the last revocation notice                                       |
 * | `P notices`    | stream | revocation notices, entry id `0-<seq>`, capped near the configured length      |
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
local function publish(origin, fields)
  local seq = redis.call('INCR', P .. 'seq')
  local args = {'XADD', P .. 'notices', 'MAXLEN', '~', ARGV[#ARGV], '0-' .. seq, 'o', origin}
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
 * markRevoking. ARGV: prefix, id, reason. Keeps an earlier reason, except that any other reason replaces `orphan`
 * (revoking the subtree supersedes orphaning it). Returns the fields or nil when missing.
 */
export const MARK_REVOKING = script(`
local id, reason = ARGV[2], ARGV[3]
local f = read_token(id)
if not f then return false end
if f[7] == '' or (f[7] == 'orphan' and reason ~= 'orphan') then
  f[7] = reason
  redis.call('HSET', P .. 't:' .. id, 'r', f[7])
  redis.call('ZADD', P .. 'rv', 0, id)
end
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
redis.call('DEL', k)
redis.call('HDEL', P .. 'acc', f[8])
local pk = P .. 'p:' .. f[9]
redis.call('SREM', pk, id)
if redis.call('EXISTS', pk) == 0 then redis.call('ZREM', P .. 'paths', f[9]) end
if f[2] ~= '' then redis.call('SREM', P .. 'c:' .. f[2], id) end
redis.call('ZREM', P .. 'exp', id)
redis.call('ZREM', P .. 'rv', id)
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
