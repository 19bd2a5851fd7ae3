import type { TokenAuth, TokenStore } from 'tokentree'

/**
 * Calls every public method of `store` at least once (one `authenticate` fails), and returns every token and
 * wrapping token it saw, for the tests that search the telemetry for them.
 */
export async function runEveryMethod(store: TokenStore): Promise<string[]> {
  const tokens: string[] = []
  const keep = <T extends TokenAuth>(auth: T): T => {
    tokens.push(auth.clientToken)
    return auth
  }
  const root = keep(await store.createRoot())
  const parent = keep(await store.create({ parent: root.clientToken, policies: ['app'] }))
  const child = keep(await store.create({ parent: parent.clientToken, numUses: 3 }))
  const orphan = keep(await store.create({ parent: root.clientToken, ttl: '1h' }))
  const batch = keep(await store.create({ parent: parent.clientToken, type: 'batch', ttl: '5m' }))
  await store.lookup(child.clientToken)
  await store.lookupAccessor(child.accessor)
  await store.list()
  await store.authenticate(child.clientToken)
  await store.authenticate(batch.clientToken)
  await store.authenticate('hvs.not-a-real-token-0123456789').catch(() => undefined)
  tokens.push('hvs.not-a-real-token-0123456789')
  await store.renew(orphan.clientToken, '30m')
  await store.renewAccessor(orphan.accessor, '30m')
  const lease = await store.createLease(parent.clientToken, { path: 'db/creds/app', ttl: 60 })
  await store.lookupLease(lease.leaseId)
  await store.listLeaseKeys('db/')
  await store.renewLease(lease.leaseId, 60)
  await store.revokeLease(lease.leaseId)
  await store.roles.write('ci', { allowedPolicies: ['deploy'] })
  await store.roles.read('ci')
  await store.roles.list()
  keep(await store.create({ parent: root.clientToken, role: 'ci' }))
  await store.roles.delete('ci')
  await store.policies.write('app', 'path "apps/*" { capabilities = ["read"] }')
  await store.policies.read('app')
  await store.policies.list()
  await store.authorize(parent.clientToken, { path: 'apps/web', operation: 'read' })
  await store.capabilities(parent.clientToken, 'apps/web')
  await store.capabilitiesAccessor(parent.accessor, 'apps/web')
  await store.policies.delete('app')
  const wrapped = await store.wrap(
    { token: child.clientToken },
    { ttl: '5m', wrappedAccessor: child.accessor },
  )
  tokens.push(wrapped.token)
  await store.lookupWrapping(wrapped.token)
  const rewrapped = await store.rewrap(wrapped.token)
  tokens.push(rewrapped.token)
  await store.unwrap(rewrapped.token)
  await store.revokeOrphan(orphan.clientToken)
  const victim = keep(await store.create({ parent: root.clientToken }))
  await store.revokeAccessor(victim.accessor)
  await store.revokePrefix('auth/token/none')
  await store.revokeExpired()
  await store.tidy()
  await store.revoke(parent.clientToken)
  // A failing call: the child went with its parent.
  await store.revoke(child.clientToken).catch(() => undefined)
  return tokens
}
