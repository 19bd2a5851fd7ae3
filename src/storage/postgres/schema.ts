/**
 * The PostgreSQL schema of `PostgresStorage` and the SQL of each atomic step, as named constants.
 *
 * Every step of the {@link Storage} contract is one SQL statement, so it is atomic on its own (no transaction
 * spans two round trips) and runs the same on a `pg.Pool` and on PGlite:
 *
 * - liveness walks the ancestors with a recursive CTE (`chain`);
 * - use counting is one `UPDATE … WHERE num_uses > 0 … RETURNING`, whose row lock and re-check of the updated row
 *   (READ COMMITTED's EvalPlanQual) let exactly `numUses` concurrent uses through;
 * - inserting a token or a lease takes `FOR SHARE` locks on its ancestors before checking them, so a concurrent
 *   `markRevoking` of an ancestor either commits first (and the insert is refused) or waits for the insert to
 *   commit (and the revocation's walk then finds the new child); orphaning a token's children does the same, so
 *   that a mark it did not see cannot be undone by it;
 * - a deletion appends its notice in the same statement, numbered from a one-row counter whose row lock is held
 *   until commit: notices become visible in the order of their numbers, without gaps, so a reader that
 *   remembers the last number it read never skips one that commits late (a `bigserial` would allow that);
 *   `pg_notify` wakes the listeners at commit. A batch deletion logs one row for all its notices (`n` of them,
 *   numbered up to the row's `seq`), which readers take apart notice by notice.
 *
 * SQL text uses `{schema}` where the (validated, lowercase) schema name goes.
 *
 * @packageDocumentation
 */
import { TokenStoreError } from '../../errors.js'

/** The schema used when none is given. */
export const DEFAULT_SCHEMA = 'tokentree'

/** Valid schema names: lowercase identifiers that need no quoting (they also name the notification channel). */
const SCHEMA_PATTERN = /^[a-z_][a-z0-9_]{0,50}$/

/**
 * The least a database client must offer: pg's `Pool`, `Client` and `PoolClient` and PGlite all have it. `query`
 * runs one statement with `$n` parameters.
 */
export interface SqlQueryable {
  /** Runs one statement with its parameters. */
  query(
    text: string,
    params?: unknown[],
  ): Promise<{ rows: unknown[]; rowCount?: number | null; affectedRows?: number }>
  /** Runs a script of several statements (PGlite's `exec`); without it, `query(text)` is used (pg). */
  exec?(text: string): Promise<unknown>
}

/**
 * The version of the schema this release of tokentree reads and writes, recorded in `{schema}.schema_version` by
 * {@link migrate} (and by the script of {@link schemaSql}). Version 1: the tables; version 2: the server's write
 * time on each notice (`notices.written_at`), from which a new subscriber finds where to start; version 3: the
 * `policies` table; version 4: batch notices (`notices.n`, one row for the notices of a whole batch deletion) and
 * the `(expires_at, id)` index the expiry sweep resumes on.
 */
export const SCHEMA_VERSION = 4

/** Options of {@link migrate} and {@link schemaSql}. */
export interface MigrateOptions {
  /**
   * The schema to create the tables in: a lowercase SQL identifier. Use one per store (or per test).
   *
   * @default 'tokentree'
   */
  readonly schema?: string
}

/**
 * Creates (or completes) the schema, tables and indexes `PostgresStorage` needs, and records the schema version
 * ({@link SCHEMA_VERSION}) in `{schema}.schema_version`. Idempotent, and safe to run from several processes at
 * once: the script is one transaction that first takes an advisory lock on the schema's name. Run it at deploy
 * time or on start-up, before the first `PostgresStorage` call; the storage never creates tables by itself, and
 * reports a schema that lacks them (or is of an older version) as `storage_misconfigured`. A schema recorded at a
 * newer version than this release knows is left untouched. Teams with their own migration tool can run the same
 * script, from {@link schemaSql}, instead.
 *
 * Creates, in the schema: `tokens` (one row per token, indexed by parent and accessor, path and accessor (the
 * keys listings page by), expiry and revoking mark),
 * `leases` (indexed by token and expiry), `roles` (token roles as JSON), `policies` (ACL policies' source text),
 * `notices` (the numbered log of revocations and policy changes), `notice_seq` (its counter) and `schema_version`.
 * A schema migrated by an earlier version gains what it lacks.
 *
 * @example
 * ```ts
 * import pg from 'pg'
 * import { migrate, PostgresStorage } from 'tokentree/postgres'
 *
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL })
 * await migrate(pool, { schema: 'tokentree' })
 * const storage = new PostgresStorage({ pool, schema: 'tokentree' })
 * ```
 *
 * @throws `TokenStoreError` `invalid_request` for a malformed schema name; `storage_misconfigured` when the schema
 * was migrated by a newer version of tokentree; `storage_unavailable` when the database fails.
 */
export async function migrate(db: SqlQueryable, options: MigrateOptions = {}): Promise<void> {
  const script = schemaSql(options)
  try {
    // Several statements in one simple query run as one implicit transaction: all or nothing.
    if (db.exec !== undefined) await db.exec(script)
    else await db.query(script)
  } catch (cause) {
    if (sqlState(cause) === NEWER_SCHEMA_STATE) {
      throw new TokenStoreError(
        'storage_misconfigured',
        `The PostgreSQL schema was migrated by a newer version of tokentree (above version ${SCHEMA_VERSION}); upgrade tokentree`,
        { cause },
      )
    }
    throw new TokenStoreError('storage_unavailable', 'PostgreSQL failed during migrate', { cause })
  }
}

/**
 * The DDL that {@link migrate} runs, as one SQL script, for teams that apply migrations with their own tool
 * (Flyway, Liquibase, node-pg-migrate, a `.sql` file in review). Run it in one transaction; it is idempotent, takes
 * the same advisory lock as `migrate()`, records {@link SCHEMA_VERSION}, and fails (SQLSTATE `TT001`) on a schema
 * recorded at a newer version. Running it again for a new release of tokentree upgrades the schema.
 *
 * @example
 * ```ts
 * import { writeFileSync } from 'node:fs'
 * import { schemaSql } from 'tokentree/postgres'
 *
 * writeFileSync('migrations/V7__tokentree.sql', schemaSql({ schema: 'auth' }))
 * ```
 *
 * @throws `TokenStoreError` `invalid_request` for a malformed schema name.
 */
export function schemaSql(options: MigrateOptions = {}): string {
  return sql(MIGRATION, checkSchema(options.schema ?? DEFAULT_SCHEMA))
}

/** The SQLSTATE the migration raises on a schema recorded at a newer version. */
const NEWER_SCHEMA_STATE = 'TT001'

/** The SQLSTATE of a driver error (pg and PGlite put it in `code`), or `undefined`. */
export function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : undefined
}

/** Checks a schema name, which is spliced into SQL text. */
export function checkSchema(schema: string): string {
  if (!SCHEMA_PATTERN.test(schema)) {
    throw new TokenStoreError(
      'invalid_request',
      `Expected \`schema\` to be a lowercase SQL identifier (letters, digits, _), got a string of length ${schema.length}`,
    )
  }
  return schema
}

/** Puts the schema name into SQL text. */
export function sql(text: string, schema: string): string {
  return text.replaceAll('{schema}', schema)
}

/**
 * The migration, run as one transaction. Times are `double precision` (milliseconds), so that any JS number
 * round-trips and both pg and PGlite return numbers; paths and lease ids use the "C" collation, so that prefix
 * ranges (`>= 'a/' AND < 'a0'`) use their btree indexes.
 */
const MIGRATION = `
SELECT pg_advisory_xact_lock(hashtext('tokentree.migrate.{schema}'));
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {schema}.schema_version (
  one boolean PRIMARY KEY DEFAULT true CHECK (one),
  version integer NOT NULL
);
DO $$
BEGIN
  IF (SELECT version FROM {schema}.schema_version) > ${SCHEMA_VERSION} THEN
    RAISE EXCEPTION 'tokentree: schema {schema} is at a version newer than ${SCHEMA_VERSION}'
      USING ERRCODE = '${NEWER_SCHEMA_STATE}';
  END IF;
END
$$;
CREATE TABLE IF NOT EXISTS {schema}.tokens (
  id text PRIMARY KEY,
  accessor text NOT NULL UNIQUE,
  parent text,
  path text COLLATE "C" NOT NULL,
  num_uses integer NOT NULL,
  ttl double precision NOT NULL,
  expires_at double precision,
  last_renewal_time double precision,
  revoking text,
  record jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS tokens_parent_accessor ON {schema}.tokens (parent, accessor)
  WHERE parent IS NOT NULL;
DROP INDEX IF EXISTS {schema}.tokens_parent;
CREATE INDEX IF NOT EXISTS tokens_path_accessor ON {schema}.tokens (path, accessor);
DROP INDEX IF EXISTS {schema}.tokens_path;
-- Version 4: (expires_at, id), so that each batch of a sweep resumes after the key where the last one stopped,
-- instead of rescanning the entries of the tokens it deleted (dead until a vacuum). Replaces (expires_at).
CREATE INDEX IF NOT EXISTS tokens_expires_at_id ON {schema}.tokens (expires_at, id)
  WHERE expires_at IS NOT NULL;
DROP INDEX IF EXISTS {schema}.tokens_expires_at;
CREATE INDEX IF NOT EXISTS tokens_revoking ON {schema}.tokens (id) WHERE revoking IS NOT NULL;
CREATE TABLE IF NOT EXISTS {schema}.leases (
  id text COLLATE "C" PRIMARY KEY,
  token text NOT NULL,
  expires_at double precision NOT NULL,
  ttl double precision NOT NULL,
  last_renewal_time double precision,
  record jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS leases_token ON {schema}.leases (token);
CREATE INDEX IF NOT EXISTS leases_expires_at ON {schema}.leases (expires_at);
CREATE TABLE IF NOT EXISTS {schema}.notice_seq (
  one boolean PRIMARY KEY DEFAULT true CHECK (one),
  seq bigint NOT NULL
);
INSERT INTO {schema}.notice_seq (one, seq) VALUES (true, 0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS {schema}.notices (
  seq bigint PRIMARY KEY,
  origin text NOT NULL,
  notice jsonb NOT NULL
);
CREATE TABLE IF NOT EXISTS {schema}.roles (
  name text COLLATE "C" PRIMARY KEY,
  role json NOT NULL
);
-- Version 2: the server's time of each notice's write, in milliseconds. Rows from before stay NULL (older).
ALTER TABLE {schema}.notices ADD COLUMN IF NOT EXISTS written_at double precision;
ALTER TABLE {schema}.notices
  ALTER COLUMN written_at SET DEFAULT (extract(epoch FROM clock_timestamp()) * 1000)::float8;
-- Version 3: ACL policies.
CREATE TABLE IF NOT EXISTS {schema}.policies (
  name text COLLATE "C" PRIMARY KEY,
  text text NOT NULL
);
-- Version 4: a batch deletion logs one row for its n notices, numbered up to its seq (older rows: 1).
ALTER TABLE {schema}.notices ADD COLUMN IF NOT EXISTS n integer NOT NULL DEFAULT 1;
INSERT INTO {schema}.schema_version (one, version) VALUES (true, ${SCHEMA_VERSION})
  ON CONFLICT (one) DO UPDATE SET version = EXCLUDED.version;
`

/** The token columns every statement returns, from which a record is built. */
const TOKEN_COLUMNS =
  't.record, t.parent, t.num_uses, t.ttl, t.expires_at, t.last_renewal_time, t.revoking'

/** The lease columns every statement returns. */
const LEASE_COLUMNS = 'l.record, l.expires_at, l.ttl, l.last_renewal_time'

/** The ancestor chain of token `$1` (itself included), with what liveness needs. */
const CHAIN = `
WITH RECURSIVE chain AS (
  SELECT id, parent, expires_at, revoking FROM {schema}.tokens WHERE id = $1::text
  UNION ALL
  SELECT a.id, a.parent, a.expires_at, a.revoking
  FROM {schema}.tokens a JOIN chain c ON a.id = c.parent
)`

/**
 * Whether the chain reached a top (no ancestor missing) and no member but the token itself (which the statements
 * check on the row they lock) is expired at `$2` or being revoked, except with reason `orphan` (the children of a
 * token under `revokeOrphan` stay usable).
 */
const ANCESTORS_LIVE = `
  EXISTS (SELECT 1 FROM chain WHERE parent IS NULL)
  AND NOT EXISTS (
    SELECT 1 FROM chain
    WHERE id <> $1::text
      AND ((revoking IS NOT NULL AND revoking <> 'orphan') OR expires_at <= $2::float8)
  )`

/**
 * Whether the locked chain of `head` (itself and its ancestors, as in `walked`) reached a top, `head` is not being
 * revoked, and no ancestor is being revoked except with reason `orphan`.
 */
function intactFrom(head: string, expired = 'false'): string {
  return `(
    EXISTS (SELECT 1 FROM walked WHERE head = ${head} AND parent IS NULL)
    AND NOT EXISTS (
      SELECT 1 FROM walked WHERE head = ${head}
        AND ((revoking IS NOT NULL AND (id = head OR revoking <> 'orphan')) OR ${expired})
    )
  )`
}

/**
 * The chains of the tokens `heads` (with their ancestors), locked `FOR SHARE` so that a concurrent mark waits
 * for this statement to commit, or commits first and is seen: `walked` has one row per (head, member).
 */
function lockedChains(heads: string): string {
  return `
WITH RECURSIVE chain AS (
  SELECT id, parent, id AS head FROM {schema}.tokens WHERE id IN (${heads})
  UNION ALL
  SELECT a.id, a.parent, c.head FROM {schema}.tokens a JOIN chain c ON a.id = c.parent
),
locked AS (
  SELECT a.id, a.parent, a.revoking, a.expires_at
  FROM {schema}.tokens a WHERE a.id IN (SELECT id FROM chain) FOR SHARE
),
walked AS (
  SELECT DISTINCT c.head, l.id, l.parent, l.revoking, l.expires_at FROM chain c JOIN locked l ON l.id = c.id
)`
}

/** The token row `t` itself is live at `$2`. */
const SELF_LIVE = `t.revoking IS NULL AND (t.expires_at IS NULL OR t.expires_at > $2::float8)`

/** getToken: `$1` id. */
export const GET_TOKEN = `SELECT ${TOKEN_COLUMNS} FROM {schema}.tokens t WHERE t.id = $1::text`

/** getTokenByAccessor: `$1` accessor. */
export const GET_TOKEN_BY_ACCESSOR = `SELECT ${TOKEN_COLUMNS} FROM {schema}.tokens t WHERE t.accessor = $1::text`

/** getLiveToken: `$1` id, `$2` now. */
export const GET_LIVE_TOKEN = `${CHAIN}
SELECT ${TOKEN_COLUMNS} FROM {schema}.tokens t
WHERE t.id = $1::text AND ${SELF_LIVE} AND ${ANCESTORS_LIVE}`

/**
 * insertToken: `$1` id, `$2` accessor, `$3` parent, `$4` path, `$5` numUses, `$6` ttl, `$7` expiresAt, `$8`
 * lastRenewalTime, `$9` revoking, `$10` record JSON, `$11` creator (of an orphan). One row of flags: `inserted`,
 * `intact` (no missing or revoking parent, creator or ancestor of theirs), `id_taken`, `accessor_taken`.
 */
export const INSERT_TOKEN = `${lockedChains('$3::text, $11::text')},
ok AS (
  SELECT ($3::text IS NULL OR ${intactFrom('$3::text')})
     AND ($11::text IS NULL OR ${intactFrom('$11::text')}) AS intact
),
inserted AS (
  INSERT INTO {schema}.tokens
    (id, accessor, parent, path, num_uses, ttl, expires_at, last_renewal_time, revoking, record)
  SELECT $1::text, $2::text, $3::text, $4::text, $5::integer, $6::float8, $7::float8, $8::float8, $9::text,
    $10::jsonb
  WHERE (SELECT intact FROM ok)
  ON CONFLICT DO NOTHING
  RETURNING 1
)
SELECT
  EXISTS (SELECT 1 FROM inserted) AS inserted,
  (SELECT intact FROM ok) AS intact,
  EXISTS (SELECT 1 FROM {schema}.tokens WHERE id = $1::text) AS id_taken,
  EXISTS (SELECT 1 FROM {schema}.tokens WHERE accessor = $2::text) AS accessor_taken`

/**
 * useToken: `$1` id, `$2` now. A limited token is decremented under its row lock (the last use sets `revoking`);
 * an unlimited one is returned as read. No row when the token is not live.
 */
export const USE_TOKEN = `${CHAIN},
ok AS (SELECT ${ANCESTORS_LIVE} AS live),
used AS (
  UPDATE {schema}.tokens t
  SET num_uses = t.num_uses - 1,
      revoking = CASE WHEN t.num_uses = 1 THEN 'uses_exhausted' ELSE t.revoking END
  WHERE t.id = $1::text AND t.num_uses > 0 AND ${SELF_LIVE} AND (SELECT live FROM ok)
  RETURNING ${TOKEN_COLUMNS}
)
SELECT * FROM used
UNION ALL
SELECT ${TOKEN_COLUMNS} FROM {schema}.tokens t
WHERE t.id = $1::text AND t.num_uses = 0 AND ${SELF_LIVE} AND (SELECT live FROM ok)`

/**
 * useToken for several tokens at once (the calls that queued while earlier ones were in flight): `$1` distinct ids,
 * `$2` now. Per id, the same as {@link USE_TOKEN}: one use is spent from a live limited token under its row lock,
 * a live unlimited one is returned as read; no row for an id that is not live. `live` groups the walked chains by
 * the token they start from; `id = ANY($1)` is repeated so that the token rows are found by their key.
 */
export const USE_TOKENS = `
WITH RECURSIVE chain AS (
  SELECT id, parent, expires_at, revoking, id AS head FROM {schema}.tokens WHERE id = ANY($1::text[])
  UNION ALL
  SELECT a.id, a.parent, a.expires_at, a.revoking, c.head
  FROM {schema}.tokens a JOIN chain c ON a.id = c.parent
),
live AS (
  SELECT head AS id FROM chain GROUP BY head
  HAVING bool_or(parent IS NULL)
    AND NOT bool_or(
      id <> head AND ((revoking IS NOT NULL AND revoking <> 'orphan') OR expires_at <= $2::float8)
    )
),
used AS (
  UPDATE {schema}.tokens t
  SET num_uses = t.num_uses - 1,
      revoking = CASE WHEN t.num_uses = 1 THEN 'uses_exhausted' ELSE t.revoking END
  WHERE t.id = ANY($1::text[]) AND t.id IN (SELECT id FROM live) AND t.num_uses > 0 AND ${SELF_LIVE}
  RETURNING t.id, ${TOKEN_COLUMNS}
)
SELECT * FROM used
UNION ALL
SELECT t.id, ${TOKEN_COLUMNS} FROM {schema}.tokens t
WHERE t.id = ANY($1::text[]) AND t.id IN (SELECT id FROM live) AND t.num_uses = 0 AND ${SELF_LIVE}`

/**
 * renewToken: `$1` id, `$2` now, `$3` expiresAt, `$4` ttl, `$5` lastRenewalTime, `$6` the expected current
 * expiresAt (compare-and-set: a concurrent renewal that got there first makes this one a no-op).
 */
export const RENEW_TOKEN = `${CHAIN},
ok AS (SELECT ${ANCESTORS_LIVE} AS live)
UPDATE {schema}.tokens t
SET expires_at = $3::float8, ttl = $4::float8, last_renewal_time = $5::float8
WHERE t.id = $1::text AND ${SELF_LIVE} AND t.expires_at = $6::float8 AND (SELECT live FROM ok)
RETURNING ${TOKEN_COLUMNS}`

/**
 * markRevoking: `$1` id, `$2` reason, `$3` expiredAt (null for none). Keeps an earlier reason, except that any other
 * reason replaces `orphan` (revoking the subtree supersedes orphaning it). With `$3`, a token not yet marked (or
 * marked `orphan`, for another reason) is marked only if it has expired by then; otherwise no row.
 */
export const MARK_REVOKING = `
UPDATE {schema}.tokens t
SET revoking = CASE WHEN t.revoking IS NULL OR (t.revoking = 'orphan' AND $2::text <> 'orphan')
  THEN $2::text ELSE t.revoking END
WHERE t.id = $1::text
  AND ((t.revoking IS NOT NULL AND (t.revoking <> 'orphan' OR $2::text = 'orphan'))
    OR $3::float8 IS NULL OR t.expires_at <= $3::float8)
RETURNING ${TOKEN_COLUMNS}`

/** listChildren: `$1` id. */
export const LIST_CHILDREN = `SELECT id FROM {schema}.tokens WHERE parent = $1::text`

/**
 * orphanChildren: `$1` id, `$2` now. Locks the token and its ancestors `FOR SHARE`, the token first and then up the
 * chain (so that a concurrent mark of any of them either waits for this statement to commit, or commits first
 * and is seen on the locked row), checks on the locked rows that the token is marked `orphan` and unexpired at
 * `$2`, that the chain reaches a top, and that no ancestor is expired or being revoked except with reason
 * `orphan`, and only then re-parents its children. One row: `allowed` and `orphaned` (how many children changed).
 */
export const ORPHAN_CHILDREN = `
WITH RECURSIVE chain AS (
  SELECT id, parent, 0 AS depth FROM {schema}.tokens WHERE id = $1::text
  UNION ALL
  SELECT a.id, a.parent, c.depth + 1 FROM {schema}.tokens a JOIN chain c ON a.id = c.parent
),
locked AS MATERIALIZED (
  SELECT a.id, a.parent, a.revoking, a.expires_at
  FROM {schema}.tokens a JOIN chain c ON a.id = c.id
  ORDER BY c.depth FOR SHARE OF a
),
ok AS (
  SELECT EXISTS (
      SELECT 1 FROM locked
      WHERE id = $1::text AND revoking = 'orphan' AND (expires_at IS NULL OR expires_at > $2::float8)
    )
    AND EXISTS (SELECT 1 FROM locked WHERE parent IS NULL)
    AND NOT EXISTS (
      SELECT 1 FROM locked
      WHERE (revoking IS NOT NULL AND revoking <> 'orphan') OR expires_at <= $2::float8
    ) AS allowed
),
orphaned AS (
  UPDATE {schema}.tokens c SET parent = NULL
  WHERE c.parent = $1::text AND (SELECT allowed FROM ok)
  RETURNING 1
)
SELECT (SELECT allowed FROM ok) AS allowed, (SELECT count(*) FROM orphaned)::int AS orphaned`

/**
 * The notice of a deletion (`gone`), numbered and logged in the same statement: `$2` origin, `$5` log length,
 * `$6` channel. `notice_json` is the notice as jsonb.
 */
function logNotice(noticeJson: string): string {
  return `,
counter AS (
  UPDATE {schema}.notice_seq SET seq = seq + 1 WHERE EXISTS (SELECT 1 FROM gone) RETURNING seq
),
notice AS (
  INSERT INTO {schema}.notices (seq, origin, notice)
  SELECT counter.seq, $2::text, ${noticeJson} FROM counter, gone
  RETURNING seq
),
pruned AS (
  DELETE FROM {schema}.notices WHERE seq <= (SELECT seq FROM counter) - $5::bigint
)`
}

/** deleteToken: `$1` id, `$2` origin, `$3` reason, `$4` now, `$5` log length, `$6` channel. */
export const DELETE_TOKEN = `
WITH gone AS (
  DELETE FROM {schema}.tokens t WHERE t.id = $1::text RETURNING ${TOKEN_COLUMNS}, t.accessor, t.path
)${logNotice(`jsonb_build_object('kind', 'token', 'accessor', gone.accessor, 'path', gone.path,
    'reason', $3::text, 'time', $4::float8)`)}
SELECT gone.*, pg_notify($6::text, COALESCE(notice.seq::text, '')) AS notified
FROM gone LEFT JOIN notice ON true`

/** findByPathPrefix: `$1` the path, `$2` path + '/', `$3` path + '0' (the character after '/'). */
export const FIND_BY_PATH_PREFIX = `
SELECT id FROM {schema}.tokens WHERE path = $1::text OR (path >= $2::text AND path < $3::text)`

/** listExpiredTokens: `$1` now, `$2` limit. */
export const LIST_EXPIRED_TOKENS = `
SELECT id FROM {schema}.tokens WHERE expires_at <= $1::float8 ORDER BY expires_at, id LIMIT $2::bigint`

/** nextExpiry. */
export const NEXT_EXPIRY = `
SELECT LEAST(
  (SELECT min(expires_at) FROM {schema}.tokens),
  (SELECT min(expires_at) FROM {schema}.leases)
) AS next`

/** listRevoking: `$1` limit. */
export const LIST_REVOKING = `
SELECT id FROM {schema}.tokens WHERE revoking IS NOT NULL LIMIT $1::bigint`

/**
 * insertLease: `$1` lease id, `$2` token id, `$3` now, `$4` expiresAt, `$5` ttl, `$6` lastRenewalTime, `$7`
 * record JSON. Flags: `inserted`, `id_taken`.
 */
export const INSERT_LEASE = `${lockedChains('$2::text')},
ok AS (SELECT ${intactFrom('$2::text', 'expires_at <= $3::float8')} AS live),
inserted AS (
  INSERT INTO {schema}.leases (id, token, expires_at, ttl, last_renewal_time, record)
  SELECT $1::text, $2::text, $4::float8, $5::float8, $6::float8, $7::jsonb
  WHERE (SELECT live FROM ok)
  ON CONFLICT DO NOTHING
  RETURNING 1
)
SELECT
  EXISTS (SELECT 1 FROM inserted) AS inserted,
  EXISTS (SELECT 1 FROM {schema}.leases WHERE id = $1::text) AS id_taken`

/** getLease: `$1` lease id. */
export const GET_LEASE = `SELECT ${LEASE_COLUMNS} FROM {schema}.leases l WHERE l.id = $1::text`

/**
 * renewLease: `$1` lease id, `$2` now, `$3` expiresAt, `$4` ttl, `$5` lastRenewalTime, `$6` the expected current
 * expiresAt (compare-and-set).
 */
export const RENEW_LEASE = `
WITH RECURSIVE chain AS (
  SELECT id, parent, expires_at, revoking, 0 AS depth FROM {schema}.tokens
  WHERE id = (SELECT token FROM {schema}.leases WHERE id = $1::text)
  UNION ALL
  SELECT a.id, a.parent, a.expires_at, a.revoking, c.depth + 1
  FROM {schema}.tokens a JOIN chain c ON a.id = c.parent
)
UPDATE {schema}.leases l
SET expires_at = $3::float8, ttl = $4::float8, last_renewal_time = $5::float8
WHERE l.id = $1::text AND l.expires_at > $2::float8 AND l.expires_at = $6::float8
  AND EXISTS (SELECT 1 FROM chain WHERE parent IS NULL)
  AND NOT EXISTS (
    SELECT 1 FROM chain
    WHERE (revoking IS NOT NULL AND (depth = 0 OR revoking <> 'orphan')) OR expires_at <= $2::float8
  )
RETURNING ${LEASE_COLUMNS}`

/** deleteLease: `$1` lease id, `$2` origin, `$3` reason, `$4` now, `$5` log length, `$6` channel. */
export const DELETE_LEASE = `
WITH gone AS (
  DELETE FROM {schema}.leases l WHERE l.id = $1::text RETURNING ${LEASE_COLUMNS}
)${logNotice(`jsonb_build_object('kind', 'lease', 'leaseId', gone.record->'id',
    'accessor', gone.record->'accessor', 'path', gone.record->'path', 'data', gone.record->'data',
    'reason', $3::text, 'time', $4::float8)`)}
SELECT gone.*, pg_notify($6::text, COALESCE(notice.seq::text, '')) AS notified
FROM gone LEFT JOIN notice ON true`

/** listLeases: `$1` token id. */
export const LIST_LEASES = `SELECT id FROM {schema}.leases WHERE token = $1::text`

/** findLeasesByPrefix: `$1` prefix + '/', `$2` prefix + '0'. */
export const FIND_LEASES_BY_PREFIX = `
SELECT id FROM {schema}.leases WHERE id >= $1::text AND id < $2::text`

/** findLeasesByPrefix with prefix `''`: every lease id. */
export const ALL_LEASE_IDS = `SELECT id FROM {schema}.leases`

/** listExpiredLeases: `$1` now, `$2` limit. */
export const LIST_EXPIRED_LEASES = `
SELECT id FROM {schema}.leases WHERE expires_at <= $1::float8 ORDER BY expires_at, id LIMIT $2::bigint`

/** The number of the latest notice. */
export const CURRENT_NOTICE = `SELECT seq::float8 AS seq FROM {schema}.notice_seq`

/** The server's clock, in milliseconds. */
export const SERVER_TIME = `SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS now`

/**
 * Where a subscription starting at server time `$1` begins, in one snapshot: the newest notice written before
 * `$1` (the backward scan of the primary key stops at it), the oldest notice held (the first of the oldest row's),
 * and the latest number.
 */
export const NOTICE_START = `
SELECT
  (SELECT seq::float8 FROM {schema}.notices
   WHERE written_at IS NULL OR written_at < $1::float8 ORDER BY seq DESC LIMIT 1) AS before,
  (SELECT (seq - n + 1)::float8 FROM {schema}.notices ORDER BY seq LIMIT 1) AS oldest,
  (SELECT seq::float8 FROM {schema}.notice_seq) AS head`

/** ping: the recorded schema version (one round trip, which also shows the schema was migrated). */
export const SCHEMA_VERSION_QUERY = `SELECT version FROM {schema}.schema_version`

/**
 * Rows of the log holding notices after `$1`, oldest first; `$2` the most notices to read; `$3` the reader's origin.
 * A row holds `n` notices numbered up to its `seq` (a batch), the first of which may be at or before `$1` (a reader
 * that stopped inside it). The reader's own rows come without their body (`own`, and `notice` null) and count as
 * one entry: it skips them, and a revocation of a million tokens writes thousands, which it would otherwise have
 * to fetch and parse while it keeps up with the log. Rows stop once they hold `$2` entries (the last may take it
 * past `$2`: a batch is read whole), and are at most `$2`, so a read returns at least `$2` entries unless the log
 * ends, and never more than `$2` plus a batch.
 */
export const READ_NOTICES = `
SELECT seq, n, own, notice FROM (
  SELECT seq::float8 AS seq, n, origin = $3::text AS own,
    CASE WHEN origin = $3::text THEN NULL ELSE notice END AS notice,
    sum(CASE WHEN origin = $3::text THEN 1 ELSE LEAST(n, seq - $1::bigint) END) OVER (ORDER BY seq) AS upto,
    CASE WHEN origin = $3::text THEN 1 ELSE LEAST(n, seq - $1::bigint) END AS entries
  FROM {schema}.notices
  WHERE seq > $1::bigint ORDER BY seq LIMIT $2::bigint
) r
WHERE upto - entries < $2::bigint
ORDER BY seq`

/**
 * The post-order walk of {@link DELETE_SUBTREE} (`$1` top, `$7` limit; resumed: from `$8`, `$9`), as the recursive
 * CTE `walk`: one row per step, with `stack` (the ids from the top down to the token `n` looked at), `after` (the accessor of the last
 * child of `n` dealt with, `NULL` for none), `budget` (tokens still to pick) and `emit` (the ids picked by this
 * step, in order). A step reads the children of `n` after `after` in `(parent, accessor)` index order, at most
 * `budget` of them, and finds the first with children of its own (`inner`, which stops the scan there). The
 * children before it (`run`, none of which has children) are picked; then it goes down into `inner`; with no
 * `inner` and budget to spare, `n` has no child left and is picked after its run, and the walk goes back to its
 * parent, after `n`. The walk ends when the budget is spent or the top is picked.
 */
function subtreeWalk(resume: boolean): string {
  const start = resume
    ? `SELECT 0, $8::text[], $9::text, $7::bigint, ARRAY[]::text[]
  FROM {schema}.tokens t WHERE t.id = $1::text AND t.revoking IS NOT NULL AND ($8::text[])[1] = $1::text`
    : `SELECT 0, ARRAY[t.id], NULL::text, $7::bigint, ARRAY[]::text[]
  FROM {schema}.tokens t WHERE t.id = $1::text AND t.revoking IS NOT NULL`
  return `walk (step, stack, after, budget, emit) AS (
  ${start}
  UNION ALL
  SELECT w.step + 1,
    CASE WHEN inner_child.id IS NOT NULL THEN w.stack || inner_child.id
      WHEN finished.n_done THEN w.stack[1:cardinality(w.stack) - 1] ELSE w.stack END,
    CASE WHEN inner_child.id IS NOT NULL THEN NULL
      WHEN finished.n_done THEN (SELECT a.accessor FROM {schema}.tokens a WHERE a.id = cur.n)
      WHEN cardinality(run.ids) > 0
        THEN (SELECT a.accessor FROM {schema}.tokens a WHERE a.id = run.ids[cardinality(run.ids)])
      ELSE w.after END,
    w.budget - cardinality(run.ids) - CASE WHEN finished.n_done THEN 1 ELSE 0 END,
    CASE WHEN finished.n_done THEN run.ids || cur.n ELSE run.ids END
  FROM walk w
  CROSS JOIN LATERAL (SELECT w.stack[cardinality(w.stack)] AS n) cur
  CROSS JOIN LATERAL (
    SELECT max(k.id) AS id, max(k.accessor) AS accessor FROM (
      SELECT k.id, k.accessor FROM (
        SELECT c.id, c.accessor FROM {schema}.tokens c
        WHERE c.parent = cur.n AND c.accessor > COALESCE(w.after, '')
        ORDER BY c.accessor LIMIT w.budget
      ) k
      WHERE EXISTS (SELECT 1 FROM {schema}.tokens g WHERE g.parent = k.id)
      ORDER BY k.accessor LIMIT 1
    ) k
  ) inner_child
  CROSS JOIN LATERAL (
    SELECT ARRAY(
      SELECT c.id FROM {schema}.tokens c
      WHERE c.parent = cur.n AND c.accessor > COALESCE(w.after, '')
        AND (inner_child.accessor IS NULL OR c.accessor < inner_child.accessor)
      ORDER BY c.accessor LIMIT w.budget
    ) AS ids
    -- OFFSET 0 keeps this a subquery run once per step: pulled up, its ARRAY(…) would be copied into each
    -- expression that reads run.ids, and the children's index scanned again for each of them.
    OFFSET 0
  ) run
  CROSS JOIN LATERAL (
    SELECT inner_child.id IS NULL AND cardinality(run.ids) < w.budget AS n_done
  ) finished
  WHERE w.budget > 0 AND cardinality(w.stack) > 0
)`
}

/**
 * The part of a batch deletion after `locked` (the ids to delete, locked) and `picked` (their `ord`, the order
 * of deletion: every token after its children): deletes them with their leases, and logs their notices, in the
 * order reported (by `ord`, then by id; each token's leases just before it), as one row of the log: `n` notices
 * numbered up to its `seq`, whose body (`kind` `batch`) lists them as compact arrays (`['t', reason, accessor,
 * path]`, `['l', reason, lease id, accessor, path, data]`) with the one `time` they share (read by `notices.ts`).
 * One row per batch rather than per notice: a small fraction of the log's writes and index entries for a large
 * revocation, and a subscriber (the revoking instance's own first) reads it in a few round trips. `reason` is the
 * SQL of a token's reason (on the deleted row `t`); a lease gets its token's. Parameters: `$2` origin, `$4` now, `$5`
 * log length. Ends with the CTE `ranked` (the deleted tokens in order, `rank`), `gone_leases` and `counter`, for
 * the final SELECT.
 *
 * Rows are found with `= ANY (ARRAY(…))`, an index lookup per id: a join with a CTE, whose size the planner cannot
 * know, may become a hash join over a scan of the whole table, which would make each batch cost the table's size.
 *
 * A batch without leases (a large revocation, an expiry storm) builds the same items from one text array
 * (`to_jsonb`), about half the server time of aggregating one `jsonb` value per token; only the branch of `CASE`
 * taken is run.
 */
function deleteLocked(reason: string): string {
  return `
gone AS (
  DELETE FROM {schema}.tokens t WHERE t.id = ANY (ARRAY(SELECT id FROM locked))
  RETURNING ${DELETED_COLUMNS}, ${reason} AS reason
),
gone_leases AS (
  DELETE FROM {schema}.leases l WHERE l.token = ANY (ARRAY(SELECT id FROM locked))
  RETURNING ${LEASE_COLUMNS}, l.id, l.token
),
ranked AS (
  SELECT g.*, row_number() OVER (ORDER BY p.ord, g.id) AS rank
  FROM gone g JOIN picked p ON p.id = g.id
),
entries AS (
  SELECT r.rank, 0 AS part, l.id AS lease_id, jsonb_build_array('l', r.reason, l.record->'id',
    l.record->'accessor', l.record->'path', l.record->'data') AS item
  FROM gone_leases l JOIN ranked r ON r.id = l.token
  UNION ALL
  SELECT r.rank, 1, '', jsonb_build_array('t', r.reason, r.accessor, r.path)
  FROM ranked r
),
batch AS MATERIALIZED (
  SELECT
    CASE WHEN l.has_leases THEN (SELECT count(*) FROM entries) ELSE (SELECT count(*) FROM ranked) END AS n,
    CASE WHEN l.has_leases THEN (SELECT jsonb_agg(item ORDER BY rank, part, lease_id) FROM entries)
      ELSE (SELECT to_jsonb(array_agg(ARRAY['t', r.reason, r.accessor, r.path] ORDER BY r.rank)) FROM ranked r)
    END AS items
  FROM (SELECT EXISTS (SELECT 1 FROM gone_leases) AS has_leases) l
),
counter AS (
  UPDATE {schema}.notice_seq SET seq = seq + (SELECT n FROM batch)
  WHERE (SELECT n FROM batch) > 0 RETURNING seq
),
notice AS (
  INSERT INTO {schema}.notices (seq, origin, notice, n)
  SELECT counter.seq, $2::text,
    jsonb_build_object('kind', 'batch', 'time', $4::float8, 'items', batch.items), batch.n
  FROM counter, batch
),
pruned AS (
  DELETE FROM {schema}.notices WHERE seq <= (SELECT seq FROM counter) - $5::bigint
)`
}

/**
 * The columns of a deleted token that a batch deletion reports (a `DeletedToken`, in this order), as `[id,
 * accessor, parent, path, revoking]` arrays: not the `record`, whose JSON (and each number of the other columns)
 * the server would spend more time encoding, and the process decoding, than the deletion itself takes.
 */
const DELETED_COLUMNS = 't.id, t.accessor, t.parent, t.path, t.revoking'

/**
 * The final SELECT's columns after {@link deleteLocked}: `tokens` (an array of {@link DELETED_COLUMNS} arrays) and
 * `leases` (JSON arrays, in order), `notified`. `json`, not `jsonb`: the arrays are only sent to the client, and
 * building them as text costs a fraction of building binary `jsonb` (several times less per batch, measured on 500
 * tokens).
 */
const DELETED_ROWS = `
  (SELECT COALESCE(json_agg(json_build_array(r.id, r.accessor, r.parent, r.path, r.revoking)
      ORDER BY r.rank), '[]'::json)
    FROM ranked r) AS tokens,
  (SELECT COALESCE(json_agg(json_build_object('record', l.record, 'expires_at', l.expires_at,
      'ttl', l.ttl, 'last_renewal_time', l.last_renewal_time) ORDER BY r.rank, l.id), '[]'::json)
    FROM gone_leases l JOIN ranked r ON r.id = l.token) AS leases,
  CASE WHEN EXISTS (SELECT 1 FROM counter)
    THEN pg_notify($6::text, (SELECT seq::text FROM counter)) END AS notified`

/**
 * deleteSubtree: `$1` top id, `$2` origin, `$3` reason, `$4` now, `$5` log length, `$6` channel, `$7` limit. One
 * statement: unless the top exists and is marked, nothing. Otherwise it picks up to `$7` tokens of the subtree
 * in post-order (every token after all its children), locks them in id order (so that concurrent calls never
 * deadlock: one waits, then skips what the other deleted), and deletes them with their leases and notices
 * ({@link deleteLocked}). A token's reason is `$3` for the top, else its own mark, else `parent`; a lease gets
 * its token's. One row: `tokens`, `leases`, `done` (the top is gone, unmarked, or deleted now) and `resume` (the
 * walk's last path and `after`, from which the next call may start: {@link DELETE_SUBTREE_RESUMED}).
 *
 * Picking ({@link subtreeWalk}) walks down from the top the way `MemoryStorage` does, holding only the path
 * from the top (as deep as the tree, never as wide): each step reads the next children of the token at the end of
 * the path, in index order, and either takes the run of those without children of their own (one probe each),
 * or goes down into the first one with children, or (none left) takes the token itself and goes back up. So a
 * call reads about as many index entries as it deletes, however wide or deep the tree: a breadth-first walk
 * would read every token of each level it crosses, and a 1,000 × 1,000 tree would cost a thousand probes per
 * call before its first leaf. The subtree cannot gain children under the committed mark, so a token whose
 * children were all picked has none left once they are deleted. Each step copies the path, so a very deep
 * chain (thousands of tokens) costs time that grows with the square of its depth.
 */
export const DELETE_SUBTREE = deleteSubtreeSql(false)

/**
 * {@link DELETE_SUBTREE}, with the walk resuming where the last call on the same top stopped: `$8` the path from the
 * top (`$1`, its first element) and `$9` the accessor of the last child of its end dealt with (`NULL` for none),
 * as the last call returned them in `resume`.
 */
export const DELETE_SUBTREE_RESUMED = deleteSubtreeSql(true)

function deleteSubtreeSql(resume: boolean): string {
  return `
WITH RECURSIVE ${subtreeWalk(resume)},
picked AS MATERIALIZED (
  SELECT e.id, row_number() OVER (ORDER BY w.step, e.n) AS ord
  FROM walk w CROSS JOIN LATERAL unnest(w.emit) WITH ORDINALITY AS e(id, n)
),
locked AS MATERIALIZED (
  SELECT t.id FROM {schema}.tokens t WHERE t.id = ANY (ARRAY(SELECT id FROM picked))
  ORDER BY t.id FOR UPDATE OF t
),${deleteLocked(`CASE WHEN t.id = $1::text THEN $3::text ELSE COALESCE(t.revoking, 'parent') END`)}
SELECT ${DELETED_ROWS},
  (NOT EXISTS (SELECT 1 FROM {schema}.tokens t WHERE t.id = $1::text AND t.revoking IS NOT NULL)
    OR EXISTS (SELECT 1 FROM gone WHERE id = $1::text)) AS done,
  (SELECT json_build_array(w.stack, w.after) FROM walk w ORDER BY w.step DESC LIMIT 1) AS resume`
}

/**
 * The condition that a batch of the expiry sweep resumes after the key `(expires_at, id)` = (`expires`, `id`) where
 * the last batch stopped: an index range on `tokens_expires_at_id`, so a batch does not step over the entries of
 * the tokens the batches before it deleted (dead until a vacuum, and a million of them in a storm). A separate
 * statement rather than an `OR` with "from the start", which a generic plan could not bound.
 */
function afterSweepKey(expires: string, id: string): string {
  return `\n  AND (t.expires_at, t.id) > (${expires}::float8, ${id}::text)`
}

/**
 * The expiry sweep's statement ({@link SWEEP_EXPIRED}, {@link SWEEP_LOCKED}). Parameters: `$1` (see below), `$2`
 * origin, `$3` the mark (`expired`), `$4` now, `$5` log length, `$6` channel. It takes the tokens `due` (expired at
 * `$4`, locked). A due token with an ancestor that expired no later (a child's expiry is capped at its parent's)
 * is left to that ancestor's revocation, as memory and Redis do (a sweep token by token, soonest first and
 * parents first, would reach the ancestor first): instead of it, its topmost such ancestor (the `target`, which
 * no ancestor of its own covers) is locked (`SKIP LOCKED`: one another sweep holds is that sweep's to finish),
 * marked `$3` and returned in `marked`, so that the store deletes its subtree (the due token with reason
 * `parent`) before the next call. Each other due token without children is deleted with its leases and notices
 * ({@link deleteLocked}; reason: its own mark, else `$3`), and each with children is marked `$3` and returned in
 * `marked` (an earlier mark stays, but for `orphan`, which `$3` replaces). One row: `tokens`, `leases`, `marked`
 * (JSON arrays), `due_count` (how many were due), `last` (the greatest `[expires_at, id]` of those due, where the
 * next batch may resume) and `left` (whether tokens were marked for a later call to delete).
 *
 * `lockedFirst`: `$1` is the ids that {@link SWEEP_LOCK} locked earlier in the same transaction, so this
 * statement's snapshot, taken after the locks, sees every child committed under them, and a child inserted later
 * waits for the lock, then finds its parent gone. Otherwise `$1` is the limit, and the statement locks the due
 * tokens itself (`SKIP LOCKED`, soonest first): its snapshot may then miss a child inserted while it waited for a
 * lock, so a token not yet marked is only marked, and deleted by a later call (no child can be inserted under a
 * committed mark). `resume` (with `$1` the limit): the due tokens are those after the key `$7`, `$8`.
 */
function sweepSql(lockedFirst: boolean, resume = false): string {
  const due = lockedFirst
    ? `SELECT t.id, t.parent, t.expires_at, t.revoking FROM {schema}.tokens t
  WHERE t.id = ANY ($1::text[]) AND t.expires_at <= $4::float8`
    : `SELECT t.id, t.parent, t.expires_at, t.revoking FROM {schema}.tokens t
  WHERE t.expires_at <= $4::float8${resume ? afterSweepKey('$7', '$8') : ''}
  ORDER BY t.expires_at, t.id LIMIT $1::bigint
  FOR UPDATE OF t SKIP LOCKED`
  // Without children and safe to delete now: any such token locked before the snapshot; else one marked before.
  const deletable = lockedFirst ? 'true' : 'revoking IS NOT NULL'
  return `
WITH RECURSIVE due AS MATERIALIZED (
  ${due}
),
up AS (
  SELECT d.id AS head, d.expires_at AS head_expires, a.id, a.parent, a.expires_at, 1 AS depth
  FROM due d JOIN {schema}.tokens a ON a.id = d.parent
  UNION ALL
  SELECT u.head, u.head_expires, a.id, a.parent, a.expires_at, u.depth + 1
  FROM up u JOIN {schema}.tokens a ON a.id = u.parent
),
cover AS MATERIALIZED (
  SELECT DISTINCT ON (u.head) u.head AS id, u.id AS target FROM up u
  WHERE u.expires_at <= u.head_expires
  ORDER BY u.head, u.depth DESC
),
kids AS MATERIALIZED (
  SELECT d.id, d.revoking,
    EXISTS (SELECT 1 FROM {schema}.tokens c WHERE c.parent = d.id) AS has_children
  FROM due d WHERE NOT EXISTS (SELECT 1 FROM cover v WHERE v.id = d.id)
),
targets AS MATERIALIZED (
  SELECT t.id, t.revoking FROM {schema}.tokens t
  WHERE t.id = ANY (ARRAY(SELECT target FROM cover)) AND t.id <> ALL (ARRAY(SELECT id FROM kids))
  ORDER BY t.id FOR UPDATE OF t SKIP LOCKED
),
handed AS MATERIALIZED (
  SELECT id, revoking FROM kids WHERE has_children
  UNION ALL
  SELECT id, revoking FROM targets
),
newly AS (
  UPDATE {schema}.tokens t SET revoking = $3::text
  WHERE t.id = ANY (ARRAY(
    SELECT id FROM handed WHERE revoking IS NULL OR revoking = 'orphan'
    UNION ALL
    SELECT id FROM kids WHERE NOT has_children AND revoking IS NULL AND NOT (${deletable})
  ))
  RETURNING ${TOKEN_COLUMNS}, t.id
),
picked AS MATERIALIZED (
  SELECT k.id, 0 AS ord FROM kids k WHERE NOT k.has_children AND (${deletable})
),
locked AS (SELECT id FROM picked),${deleteLocked(`COALESCE(t.revoking, $3::text)`)}
SELECT ${DELETED_ROWS},
  (SELECT COALESCE(json_agg(json_build_object('record', m.record, 'parent', m.parent,
      'num_uses', m.num_uses, 'ttl', m.ttl, 'expires_at', m.expires_at,
      'last_renewal_time', m.last_renewal_time, 'revoking', m.revoking)), '[]'::json)
    FROM (
      SELECT n.record, n.parent, n.num_uses, n.ttl, n.expires_at, n.last_renewal_time, n.revoking
      FROM newly n WHERE n.id IN (SELECT id FROM handed)
      UNION ALL
      SELECT ${TOKEN_COLUMNS} FROM {schema}.tokens t
      WHERE t.id = ANY (ARRAY(
        SELECT id FROM handed WHERE revoking IS NOT NULL AND revoking <> 'orphan'
      ))
    ) m) AS marked,
  (SELECT count(*) FROM due)::float8 AS due_count,
  (SELECT json_build_array(d.expires_at, d.id) FROM due d ORDER BY d.expires_at DESC, d.id DESC LIMIT 1) AS last,
  EXISTS (SELECT 1 FROM kids WHERE NOT has_children AND NOT (${deletable})) AS left`
}

/**
 * sweepExpired in one statement, for a database without `connect()` (PGlite): `$1` limit; see {@link sweepSql}.
 * A token not yet marked takes two calls, one to mark it and one to delete it.
 */
export const SWEEP_EXPIRED = sweepSql(false)

/** {@link SWEEP_EXPIRED} resuming after the key `$7`, `$8` (expires_at, id) where the sweep's last batch stopped. */
export const SWEEP_EXPIRED_AFTER = sweepSql(false, true)

/**
 * sweepExpired on a `pg.Pool`, first statement of its transaction: `$1` now, `$2` limit. Locks up to `$2` tokens
 * expired at `$1`, soonest first, skipping rows another sweep or a revocation holds, and returns their ids (at
 * most `$2`, so the store never holds more than a batch).
 */
export const SWEEP_LOCK = sweepLockSql(false)

/** {@link SWEEP_LOCK} resuming after the key `$3`, `$4` (expires_at, id) where the sweep's last batch stopped. */
export const SWEEP_LOCK_AFTER = sweepLockSql(true)

function sweepLockSql(resume: boolean): string {
  return `
SELECT t.id, t.expires_at FROM {schema}.tokens t
WHERE t.expires_at <= $1::float8${resume ? afterSweepKey('$3', '$4') : ''}
ORDER BY t.expires_at, t.id LIMIT $2::bigint
FOR UPDATE OF t SKIP LOCKED`
}

/**
 * sweepExpired on a `pg.Pool`, second statement of its transaction: `$1` the ids {@link SWEEP_LOCK} locked; see
 * {@link sweepSql}. Each token is deleted or handed over in this one call.
 */
export const SWEEP_LOCKED = sweepSql(true)

/**
 * tidy: `$1` the last id of the previous chunk (`''` first), `$2` chunk size. Takes the next `$2` children of
 * vanished parents in id order after `$1`, locks them, and makes those still under a vanished parent orphans.
 * One row: `last` (the chunk's last id, null when none is left) and `orphaned` (how many changed).
 */
export const ORPHAN_STRAYS = `
WITH stray AS (
  SELECT c.id FROM {schema}.tokens c
  WHERE c.id > $1::text AND c.parent IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM {schema}.tokens p WHERE p.id = c.parent)
  ORDER BY c.id LIMIT $2::bigint
  FOR UPDATE
),
orphaned AS (
  UPDATE {schema}.tokens t SET parent = NULL FROM stray
  WHERE t.id = stray.id AND NOT EXISTS (SELECT 1 FROM {schema}.tokens p WHERE p.id = t.parent)
  RETURNING 1
)
SELECT (SELECT max(id) FROM stray) AS last, (SELECT count(*) FROM orphaned)::int AS orphaned`

/** tidy: `$1` the last lease id of the previous chunk (`''` first), `$2` chunk size. Leases whose token is gone. */
export const DANGLING_LEASES = `
SELECT l.id FROM {schema}.leases l
WHERE l.id > $1::text AND NOT EXISTS (SELECT 1 FROM {schema}.tokens t WHERE t.id = l.token)
ORDER BY l.id LIMIT $2::bigint`

/** putRole: `$1` name, `$2` role JSON. */
export const PUT_ROLE = `
INSERT INTO {schema}.roles (name, role) VALUES ($1::text, $2::json)
ON CONFLICT (name) DO UPDATE SET role = EXCLUDED.role`

/** getRole: `$1` name. */
export const GET_ROLE = `SELECT role FROM {schema}.roles WHERE name = $1::text`

/** listRoles. */
export const LIST_ROLES = `SELECT name FROM {schema}.roles ORDER BY name`

/** deleteRole: `$1` name. */
export const DELETE_ROLE = `DELETE FROM {schema}.roles WHERE name = $1::text RETURNING name`

/**
 * listTokens, as one statement: up to `$2` candidate rows in keyset order after the cursor, then each one's
 * ancestor chain (one recursive walk for the page), and a `keep` flag for those live at `$1` that pass the filters
 * the order does not serve. `$1` now, `$2` limit, then by variant: the parent (`byParent`), the path prefix with
 * `prefix/` and `prefix0` (`withPath`), the cursor's key (`withCursor`: path and accessor, or the accessor), the
 * metadata as JSON (`withMetadata`).
 *
 * Without a parent the order is `(path, accessor)` on `tokens_path_accessor`, and a path prefix is an index range;
 * with one it is `accessor` within the parent on `tokens_parent_accessor`, and the path is tested per row. The
 * metadata filter is tested per row (`@>` on the record's `metadata`).
 */
export function listTokensSql(variant: {
  readonly byParent: boolean
  readonly withPath: boolean
  readonly withCursor: boolean
  readonly withMetadata: boolean
}): string {
  const where: string[] = []
  const keep: string[] = []
  let n = 2
  const param = (type: string): string => `$${++n}::${type}`
  if (variant.byParent) where.push(`t.parent = ${param('text')}`)
  if (variant.withPath) {
    const [prefix, below, end] = [param('text'), param('text'), param('text')]
    const inPath = `(t.path = ${prefix} OR (t.path >= ${below} AND t.path < ${end}))`
    if (variant.byParent) keep.push(inPath)
    else where.push(`t.path >= ${prefix} AND t.path < ${end}`, inPath)
  }
  if (variant.withCursor) {
    if (variant.byParent) where.push(`t.accessor > ${param('text')}`)
    else where.push(`(t.path, t.accessor) > (${param('text')}, ${param('text')})`)
  }
  if (variant.withMetadata) keep.push(`t.record->'metadata' @> ${param('jsonb')}`)
  const order = variant.byParent ? 'c.accessor' : 'c.path, c.accessor'
  return `
WITH RECURSIVE cand AS (
  SELECT t.id, t.path, t.accessor FROM {schema}.tokens t
  ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
  ORDER BY ${order.replaceAll('c.', 't.')}
  LIMIT $2
), chain AS (
  SELECT c.id AS head, t.id, t.parent, t.expires_at, t.revoking
  FROM cand c JOIN {schema}.tokens t ON t.id = c.id
  UNION ALL
  SELECT ch.head, a.id, a.parent, a.expires_at, a.revoking
  FROM chain ch JOIN {schema}.tokens a ON a.id = ch.parent
)
SELECT ${TOKEN_COLUMNS}, c.path AS key_path, c.accessor AS key_accessor, (
  t.revoking IS NULL AND (t.expires_at IS NULL OR t.expires_at > $1::float8)
  AND EXISTS (SELECT 1 FROM chain WHERE head = c.id AND parent IS NULL)
  AND NOT EXISTS (
    SELECT 1 FROM chain
    WHERE head = c.id AND id <> c.id
      AND ((revoking IS NOT NULL AND revoking <> 'orphan') OR expires_at <= $1::float8)
  )${keep
    .map(
      (test) => `
  AND ${test}`,
    )
    .join('')}
) AS keep
FROM cand c JOIN {schema}.tokens t ON t.id = c.id
ORDER BY ${order}`
}

/**
 * putPolicy: `$1` name, `$2` origin, `$3` text, `$4` now, `$5` log length, `$6` channel. Stores the policy and logs
 * a `policy` notice in the same statement.
 */
export const PUT_POLICY = `
WITH gone AS (
  INSERT INTO {schema}.policies (name, text) VALUES ($1::text, $3::text)
  ON CONFLICT (name) DO UPDATE SET text = EXCLUDED.text
  RETURNING name
)${logNotice(`jsonb_build_object('kind', 'policy', 'name', gone.name, 'time', $4::float8)`)}
SELECT pg_notify($6::text, COALESCE(notice.seq::text, '')) AS notified
FROM gone LEFT JOIN notice ON true`

/** getPolicy: `$1` name. */
export const GET_POLICY = `SELECT text FROM {schema}.policies WHERE name = $1::text`

/** listPolicies. */
export const LIST_POLICIES = `SELECT name FROM {schema}.policies ORDER BY name`

/**
 * deletePolicy: `$1` name, `$2` origin, `$3` unused, `$4` now, `$5` log length, `$6` channel. Logs a `policy`
 * notice when the policy existed.
 */
export const DELETE_POLICY = `
WITH gone AS (
  DELETE FROM {schema}.policies WHERE name = $1::text AND $3::text IS NULL RETURNING name
)${logNotice(`jsonb_build_object('kind', 'policy', 'name', gone.name, 'time', $4::float8)`)}
SELECT gone.name, pg_notify($6::text, COALESCE(notice.seq::text, '')) AS notified
FROM gone LEFT JOIN notice ON true`
