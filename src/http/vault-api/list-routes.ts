/**
 * Vault's listings: `LIST auth/token/accessors`, `LIST sys/leases/lookup/:prefix`, and the break-glass
 * `sys/leases/revoke-force/:prefix` that goes with them. Served for `LIST` and for `GET ?list=true`.
 *
 * Vault answers a listing with `{ data: { keys: [...] } }`, and a listing with no keys with 404 and no messages;
 * these routes do the same. All three are sudo paths in Vault, so `root` only here.
 *
 * @packageDocumentation
 */
import { PERMISSION_DENIED_MESSAGE, errorResult, type HttpResult } from '../bearer.js'
import { NO_CONTENT, envelope } from './responses.js'
import { route, type Route } from './route.js'

/** Page size used to gather every accessor (the store's largest). */
const ACCESSOR_PAGE = 1000

/**
 * `LIST auth/token/accessors`: the accessor of every live token, as Vault lists them for `vault list
 * auth/token/accessors`. Needs `root` by default (Vault: sudo); the `authorize` hook sees `list-accessors`. Pages
 * through `store.list()`, so it costs one storage read per 1000 tokens, and the answer holds them all, as Vault's
 * does.
 */
const listAccessors: Route = route({
  operation: 'list-accessors',
  // Vault's 403 for a caller without sudo: a host `authorize` hook does not open the full list of accessors.
  rootOnly: PERMISSION_DENIED_MESSAGE,
  sudo: true,
  ops: ['list'],
  fields: {},
  async run({ store }) {
    const keys: string[] = []
    let cursor: string | null = null
    do {
      const page = await store.list({ limit: ACCESSOR_PAGE, cursor })
      for (const token of page.tokens) keys.push(token.accessor)
      cursor = page.cursor
    } while (cursor !== null)
    return listResult(keys)
  },
})

/**
 * `LIST sys/leases/lookup/:prefix`: the next segment of every lease id under the prefix, folders ending with `/`,
 * sorted (`LIST sys/leases/lookup/aws/creds` answers `['deploy/']`; `LIST sys/leases/lookup/aws/creds/deploy`
 * the lease suffixes). Without a prefix, the top-level segments. Vault's sudo path: `root` only.
 */
const listLeases: Route = route({
  operation: 'list-leases',
  ops: ['list'],
  fields: {},
  rootOnly: 'root or sudo privileges required to list leases',
  sudo: true,
  async run({ store, param }) {
    return listResult(await store.listLeaseKeys(param))
  },
})

/**
 * `sys/leases/revoke-force/:prefix` (and the older `sys/revoke-force/:prefix`): Vault's revoke-prefix that ignores
 * the secrets engines' errors. tokentree revokes leases without calling any engine (the host destroys the secret
 * on the `revoked` event), so nothing can fail to revoke: it is `revokePrefix`. Sudo in Vault: `root` only. 204.
 */
const revokeForce: Route = route({
  operation: 'revoke-force',
  ops: ['update'],
  fields: {},
  rootOnly: 'root or sudo privileges required to force revoke',
  sudo: true,
  async run({ store, param }) {
    await store.revokePrefix(param)
    return NO_CONTENT
  },
})

/** Vault's list answer: the keys, or 404 with no messages when there are none. */
function listResult(keys: readonly string[]): HttpResult {
  return keys.length === 0 ? errorResult(404) : envelope({ data: { keys } })
}

/**
 * The listing routes with a fixed path. A `LIST` path gets a trailing `/` before routing, as in Vault, so both
 * spellings are here for `GET ?list=true` too.
 */
export const LIST_ROUTES: ReadonlyMap<string, Route> = new Map([
  ['auth/token/accessors', listAccessors],
  ['auth/token/accessors/', listAccessors],
  ['sys/leases/lookup/', listLeases],
])

/** The listing routes whose path ends with a prefix, by the base it follows. */
export const LIST_PARAM_ROUTES: ReadonlyMap<string, Route> = new Map([
  ['sys/leases/lookup/', listLeases],
  ['sys/leases/revoke-force/', revokeForce],
  ['sys/revoke-force/', revokeForce],
])
