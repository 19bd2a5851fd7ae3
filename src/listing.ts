/**
 * Token listing: the options of `store.list()`, their checks, and the paging over {@link Storage.listTokens}.
 *
 * @packageDocumentation
 */
import { describeValue, invalidRequest } from './errors.js'
import { normalizeMetadata, normalizePath } from './options.js'
import { MAX_CURSOR_LENGTH } from './storage/list-cursor.js'
import type { Storage, TokenListQuery } from './storage/storage.js'
import type { Accessor, HashedTokenId, TokenDetails, TokenRecord, UnixMillis } from './types.js'

/** Page size when `limit` is not given. */
export const DEFAULT_LIST_LIMIT = 100
/** Largest page `list()` accepts. */
export const MAX_LIST_LIMIT = 1000
/**
 * Most storage pages one `list()` call reads to fill its page: a bound on the work of one call when filters or
 * dead tokens leave storage pages short (the result is then short too, with a cursor).
 */
const MAX_STORAGE_PAGES = 16

/** The option names `list()` accepts. */
const LIST_OPTION_KEYS: ReadonlySet<string> = new Set([
  'path',
  'parent',
  'parentAccessor',
  'metadata',
  'limit',
  'cursor',
])

/**
 * What `store.list()` lists: the live tokens that pass every filter given (none: every live token). Pass the
 * same filters with each page's `cursor`.
 *
 * Costs, in storage reads per page: `parent` (or `parentAccessor`) and, without a parent, `path` are served by an
 * index, so a page reads only matching tokens. `metadata` is not indexed: it **scans** the tokens the other
 * filters select (all of them, without another filter), testing each. With a parent, `path` scans the parent's
 * children (and on `MemoryStorage`, `path` always scans). A scanning filter never makes one call unbounded: the
 * call returns what it found within its budget (a short page, even an empty one) with a cursor to go on.
 */
export interface TokenListOptions {
  /**
   * Only tokens created at this path or below it (`auth/github` matches `auth/github/login`, not
   * `auth/github-old/login`), as `revokePrefix` matches. Indexed (without `parent`).
   */
  readonly path?: string
  /**
   * Only the direct children of this token (its id, as issued; it is hashed, never stored or sent). Indexed. An
   * unknown, revoked or expired parent has no live children: the list is empty.
   */
  readonly parent?: string
  /** Only the direct children of the token with this accessor. Indexed; one read more than `parent`. */
  readonly parentAccessor?: Accessor
  /**
   * Only tokens whose metadata has every one of these keys with exactly this value (`{ user: 'ada' }`).
   * **Scans**: see the cost above.
   */
  readonly metadata?: Readonly<Record<string, string>>
  /**
   * Most tokens in one page: a whole number from 1 to 1000.
   *
   * @default 100
   */
  readonly limit?: number
  /** The `cursor` of the previous page, to continue; absent or `null` to start. */
  readonly cursor?: string | null
}

/** One page of `store.list()`. */
export interface TokenList {
  /**
   * The live tokens of this page, without their ids (as `lookupAccessor` gives them), in the storage's order
   * (stable, unspecified). Fewer than `limit`, even none, when a scanning filter or dead tokens were skipped.
   */
  readonly tokens: readonly TokenDetails[]
  /**
   * Where the next page starts, or `null` once the listing is complete. Opaque; valid with the same filters.
   * Tokens stored throughout a listing appear exactly once in it; tokens created or revoked meanwhile may or may
   * not.
   */
  readonly cursor: string | null
}

/** Checked list options. */
export interface ListRequest {
  readonly pathPrefix?: string
  readonly parentToken?: string
  readonly parentAccessor?: Accessor
  readonly metadata?: Readonly<Record<string, string>>
  readonly limit: number
  readonly cursor: string | null
}

/**
 * Checks `list()` options.
 *
 * @throws {@link TokenStoreError} `invalid_request` for an unknown option or a malformed value.
 */
export function normalizeListOptions(options: unknown): ListRequest {
  if (options === undefined) return { limit: DEFAULT_LIST_LIMIT, cursor: null }
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalidRequest(`Expected list options to be an object, got ${describeValue(options)}`)
  }
  for (const key of Object.keys(options)) {
    if (!LIST_OPTION_KEYS.has(key)) {
      throw invalidRequest(`Unknown option \`${key.slice(0, 64)}\` in list options`)
    }
  }
  const input = options as TokenListOptions
  const request: {
    -readonly [K in keyof ListRequest]: ListRequest[K]
  } = { limit: checkLimit(input.limit), cursor: checkCursor(input.cursor) }
  if (input.path !== undefined) request.pathPrefix = normalizePath(input.path, 'path')
  if (input.parent !== undefined && input.parentAccessor !== undefined) {
    throw invalidRequest('Expected one of `parent` and `parentAccessor`, got both')
  }
  if (input.parent !== undefined) request.parentToken = checkText(input.parent, 'parent')
  if (input.parentAccessor !== undefined) {
    request.parentAccessor = checkText(input.parentAccessor, 'parentAccessor')
  }
  if (input.metadata !== undefined) {
    const metadata = normalizeMetadata(input.metadata)
    if (Object.keys(metadata).length > 0) request.metadata = metadata
  }
  return request
}

/**
 * Fills one page of up to `limit` records from storage pages, reading at most {@link MAX_STORAGE_PAGES} of them.
 * Each storage page is asked for no more records than are still wanted, so every record it returns is kept and its
 * cursor is exactly where this page ends.
 */
export async function readListPage(
  listTokens: NonNullable<Storage['listTokens']>,
  filters: Pick<TokenListQuery, 'pathPrefix' | 'parent' | 'metadata'>,
  request: Pick<ListRequest, 'limit' | 'cursor'>,
  now: UnixMillis,
): Promise<{ records: TokenRecord[]; cursor: string | null }> {
  const records: TokenRecord[] = []
  let cursor = request.cursor
  for (let read = 0; read < MAX_STORAGE_PAGES && records.length < request.limit; read++) {
    const page = await listTokens({
      ...filters,
      now,
      limit: request.limit - records.length,
      cursor,
    })
    records.push(...page.records.slice(0, request.limit - records.length))
    cursor = page.cursor
    if (cursor === null) break
  }
  return { records, cursor }
}

/** The storage filters of a request, with the parent resolved to its hashed id. */
export function storageFilters(
  request: ListRequest,
  parent: HashedTokenId | undefined,
): Pick<TokenListQuery, 'pathPrefix' | 'parent' | 'metadata'> {
  return {
    ...(request.pathPrefix === undefined ? {} : { pathPrefix: request.pathPrefix }),
    ...(parent === undefined ? {} : { parent }),
    ...(request.metadata === undefined ? {} : { metadata: request.metadata }),
  }
}

function checkLimit(value: unknown): number {
  if (value === undefined) return DEFAULT_LIST_LIMIT
  if (
    typeof value !== 'number' ||
    !Number.isInteger(value) ||
    value < 1 ||
    value > MAX_LIST_LIMIT
  ) {
    throw invalidRequest(
      `Expected \`limit\` to be an integer from 1 to ${MAX_LIST_LIMIT}, got ${describeValue(value)}`,
    )
  }
  return value
}

function checkCursor(value: unknown): string | null {
  if (value === undefined || value === null) return null
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_CURSOR_LENGTH) {
    throw invalidRequest(
      `Expected \`cursor\` to be the cursor of a previous page, got ${describeValue(value)}`,
    )
  }
  return value
}

function checkText(value: unknown, field: string): string {
  if (typeof value !== 'string') {
    throw invalidRequest(`Expected \`${field}\` to be a string, got ${describeValue(value)}`)
  }
  return value
}

/**
 * Vault's lease listing keys (`LIST sys/leases/lookup/:prefix`): the next path segment of every id below `prefix`
 * (`''`: every id), a folder ending with `/`, each once, sorted.
 */
export function leaseKeys(ids: readonly string[], prefix: string): string[] {
  const below = prefix === '' ? '' : `${prefix}/`
  const keys = new Set<string>()
  for (const id of ids) {
    if (!id.startsWith(below) || id.length === below.length) continue
    const rest = id.slice(below.length)
    const slash = rest.indexOf('/')
    keys.add(slash === -1 ? rest : rest.slice(0, slash + 1))
  }
  return [...keys].sort()
}
