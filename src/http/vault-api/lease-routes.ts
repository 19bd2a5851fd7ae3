/**
 * Leases over HTTP: Vault's `sys/leases/lookup`, `sys/leases/renew` and `sys/leases/revoke`, and the older
 * `sys/renew` and `sys/revoke` that some clients still call, over the store's lease methods.
 *
 * There is no endpoint that creates a lease: in Vault, secrets engines create them. The host creates them with
 * `store.createLease()` when it hands out a secret; these routes let Vault clients look them up, renew and revoke
 * them.
 *
 * Who may call, by default: any valid token may look up or renew a lease whose id it presents, as Vault's
 * `default` policy grants; revoking one needs `root`. The `authorize` hook is told the lease id.
 *
 * @packageDocumentation
 */
import { invalidRequest } from '../../errors.js'
import { syncRequested } from './fields.js'
import { NO_CONTENT, envelope } from './responses.js'
import { required, route, type Route, type RouteSubject } from './route.js'

/** Vault's message for a request without a lease id. */
const MISSING_LEASE_ID = 'lease_id must be specified'

/** The refusal of a request whose body and path name different leases. */
const LEASE_ID_MISMATCH = 'the lease_id in the body differs from the one in the path'

/**
 * The lease a request names: the body's `lease_id`, else the path's (`sys/leases/renew/:lease_id`), else `''`.
 * Stricter than Vault, which lets the body's win: both given and different is refused, since the ACL checked the
 * path, and a rule on `sys/leases/revoke/aws/*` must not reach a lease the body names elsewhere.
 *
 * @throws {@link TokenStoreError} `invalid_request` when the body and the path name different leases.
 */
function namedLease(fields: { readonly lease_id?: string }, param: string): string {
  if (fields.lease_id === undefined || fields.lease_id === '') return param
  if (param !== '' && param !== fields.lease_id) throw invalidRequest(LEASE_ID_MISMATCH)
  return fields.lease_id
}

/**
 * The lease id of a request.
 *
 * @throws {@link TokenStoreError} `invalid_request` with Vault's message when there is none.
 */
function leaseIdOf(fields: { readonly lease_id?: string }, param: string): string {
  return required(namedLease(fields, param), MISSING_LEASE_ID)
}

/** The lease named, for the `authorize` hook (none when the request names none: the route then answers 400). */
function leaseSubject(fields: { readonly lease_id?: string }, param: string): RouteSubject {
  const leaseId = namedLease(fields, param)
  return leaseId === '' ? {} : { leaseId }
}

/**
 * `sys/leases/lookup`: Vault's `data` block, `{ id, issue_time, expire_time, last_renewal, renewable, ttl }`, times
 * in RFC 3339 and `last_renewal: null` before the first renewal. An unknown, expired or orphaned lease is 400
 * `invalid lease`, as in Vault. Never shows the lease's `data`.
 */
const lookupLease: Route = route({
  operation: 'lookup-lease',
  ops: ['update'],
  fields: { lease_id: 'string' },
  subject: leaseSubject,
  async run({ store, fields, param }) {
    const info = await store.lookupLease(leaseIdOf(fields, param))
    if (info === null) throw invalidRequest('invalid lease')
    return envelope({
      mountType: 'system',
      data: {
        id: info.leaseId,
        issue_time: info.issueTime.toISOString(),
        expire_time: info.expireTime.toISOString(),
        last_renewal: info.lastRenewalTime === null ? null : info.lastRenewalTime.toISOString(),
        renewable: info.renewable,
        ttl: info.ttl,
      },
    })
  },
})

/**
 * `sys/leases/renew` and `sys/renew` (lease id in the body or the path), with `increment`. The answer carries the
 * lease at the top of the envelope, `{ lease_id, renewable, lease_duration }`, as Vault's does. An unknown lease is
 * 400 (`invalid_request`), a non-renewable one 400 (`not_renewable`).
 */
const renewLease: Route = route({
  operation: 'renew-lease',
  ops: ['update'],
  fields: { lease_id: 'string', increment: 'duration' },
  subject: leaseSubject,
  async run({ store, fields, param }) {
    const leaseId = leaseIdOf(fields, param)
    // Vault's message for an unknown lease; the store's own names the JavaScript method.
    if ((await store.lookupLease(leaseId)) === null) throw invalidRequest('lease not found')
    const grant = await store.renewLease(leaseId, fields.increment)
    return envelope(
      {
        mountType: 'system',
        lease: {
          lease_id: grant.leaseId,
          renewable: grant.renewable,
          lease_duration: grant.leaseDuration,
        },
      },
      grant.warnings,
    )
  },
})

/**
 * `sys/leases/revoke` and `sys/revoke` (lease id in the body or the path). The lease's `revoked` event fires before
 * the answer. 204 (an unknown lease too, as revoking is idempotent); with `sync=false` 202, after the same work.
 */
const revokeLease: Route = route({
  operation: 'revoke-lease',
  ops: ['update'],
  fields: { lease_id: 'string', sync: 'bool' },
  subject: leaseSubject,
  async run({ store, fields, param, query }) {
    const sync = syncRequested(fields.sync, query)
    await store.revokeLease(leaseIdOf(fields, param))
    return sync ? NO_CONTENT : { status: 202 }
  },
})

/** The lease routes with a fixed path (the lease id in the body). */
export const LEASE_ROUTES: ReadonlyMap<string, Route> = new Map([
  ['sys/leases/lookup', lookupLease],
  ['sys/leases/renew', renewLease],
  ['sys/renew', renewLease],
  ['sys/leases/revoke', revokeLease],
  ['sys/revoke', revokeLease],
])

/** The lease routes that also take the lease id in the path, by the base it follows. */
export const LEASE_PARAM_ROUTES: ReadonlyMap<string, Route> = new Map([
  ['sys/leases/renew/', renewLease],
  ['sys/renew/', renewLease],
  ['sys/leases/revoke/', revokeLease],
  ['sys/revoke/', revokeLease],
])
