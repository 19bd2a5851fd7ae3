/**
 * The quick start: a token tree, a limited-use token, a lease, and revocation of the whole tree.
 *
 * Run: npx tsx examples/basic.ts
 */
import { TokenStore } from 'tokentree'

const store = new TokenStore({ defaultTtl: '1h' })
store.on('revoked', (event) => {
  const what = event.kind === 'lease' ? `lease ${event.leaseId}` : `token ${event.accessor}`
  console.log(`revoked ${what} (${event.reason})`)
})

// The host's own root of trust, like `vault server -dev`'s root token.
const root = await store.createRoot()

// A CI system gets a child token with a subset of powers...
const ci = await store.create({ parent: root.clientToken, policies: ['deploy'], ttl: '2h' })
// ...and hands each job a one-time token of its own.
const job = await store.create({ parent: ci.clientToken, numUses: 1 })

// The job calls the service: one request, one use.
const info = await store.authenticate(job.clientToken)
console.log(`job authenticated with policies ${info.policies.join(', ')}; it is now used up`)

// The CI token is issued a database credential, recorded as a lease.
const lease = await store.createLease(ci.clientToken, {
  path: 'database/creds/deploy',
  ttl: '30m',
  data: { username: 'v-ci-deploy-1' },
})
console.log(`issued ${lease.leaseId} for ${lease.leaseDuration} s`)

// Break glass: revoking the CI token revokes the lease (the host drops the DB user on the event).
await store.revoke(ci.clientToken)
console.log('lookup after revoke:', await store.lookup(ci.clientToken))
await store.close()
