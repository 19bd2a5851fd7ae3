/**
 * The `sys/*` endpoints Vault's clients use against a token store: health and revoke-prefix.
 *
 * @packageDocumentation
 */
import { invalidRequest } from '../../errors.js'
import type { HttpResult } from '../bearer.js'
import { parseBool, syncRequested } from './fields.js'
import { NO_CONTENT } from './responses.js'
import { route, type Route } from './route.js'

/** The Vault version `sys/health` reports, so clients that check it see a current API. */
const REPORTED_VERSION = '1.15.0+tokentree'

/** `sys/health` status-code parameters and their defaults; only `activecode` applies to a dev server. */
const HEALTH_CODE_PARAMS = [
  'activecode',
  'standbycode',
  'drsecondarycode',
  'performancestandbycode',
  'sealedcode',
  'uninitcode',
] as const

/** Vault's `sys/health` status when its storage fails (`http.StatusInternalServerError`), body `{"errors":[]}`. */
const STORAGE_FAILED_STATUS = 500

/** The final (not informational) HTTP status codes: a `*code` parameter outside them is refused. */
const MIN_STATUS = 200
const MAX_STATUS = 999

/**
 * `sys/health`, unauthenticated as in Vault: initialized, unsealed and active while the storage answers. Honours
 * `activecode` and rejects malformed `*code` or `*ok` parameters with 400, as Vault does, and `*code` values that
 * are not final statuses (200–999). Then one storage round trip (`ping`): when the storage fails, the answer is
 * Vault's for a storage error while it checks its state (a 500 with an empty `errors` list, whatever `activecode`
 * says), so that load balancers take the node out.
 */
export async function health(
  query: URLSearchParams,
  now: () => Date,
  ping: () => Promise<void>,
): Promise<HttpResult> {
  const codes = new Map<string, number>()
  for (const name of HEALTH_CODE_PARAMS) {
    const text = query.get(name)
    if (text === null) continue
    const code = Number(text)
    // Stricter than Vault, which takes any integer: a code below 200 could not end the answer (Node refuses one
    // under 100, and a 1xx is informational, after which the client waits for the real answer).
    if (!/^\d{3}$/.test(text) || code < MIN_STATUS || code > MAX_STATUS)
      throw invalidRequest(`bad value for ${name} parameter`)
    codes.set(name, code)
  }
  for (const name of ['standbyok', 'perfstandbyok']) {
    const text = query.get(name)
    if (text !== null) parseBool(name, text)
  }
  try {
    await ping()
  } catch {
    return { status: STORAGE_FAILED_STATUS, body: { errors: [] } }
  }
  return {
    status: codes.get('activecode') ?? 200,
    body: {
      initialized: true,
      sealed: false,
      standby: false,
      performance_standby: false,
      replication_performance_mode: 'disabled',
      replication_dr_mode: 'disabled',
      server_time_utc: Math.floor(now().getTime() / 1000),
      version: REPORTED_VERSION,
      cluster_name: 'tokentree',
      cluster_id: 'tokentree',
    },
  }
}

/**
 * `sys/leases/revoke-prefix/:prefix` and the older `sys/revoke-prefix/:prefix` (which node-vault calls, sending
 * the prefix again as `path_prefix`). Root-protected in Vault: needs `sudo`. With `sync` (the default) the
 * revocation is finished before the 204; `sync=false` answers 202, as Vault does, after the same work.
 */
const revokePrefix: Route = route({
  operation: 'revoke-prefix',
  ops: ['update'],
  fields: { prefix: 'string', path_prefix: 'string', sync: 'bool' },
  rootOnly: 'root or sudo privileges required to revoke by prefix',
  sudo: true,
  async run({ store, fields, param, query }) {
    const sync = syncRequested(fields.sync, query)
    await store.revokePrefix(param)
    return sync ? NO_CONTENT : { status: 202 }
  },
})

/** Routes whose path continues with a parameter, by the base the parameter follows. */
export const PARAM_ROUTES: ReadonlyMap<string, Route> = new Map([
  ['sys/leases/revoke-prefix/', revokePrefix],
  ['sys/revoke-prefix/', revokePrefix],
])
