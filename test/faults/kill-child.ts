/**
 * Child process of process-kill.test.ts: builds a big token tree with leases on Redis or PostgreSQL, prints what
 * it built, then starts revoking it, to be killed with SIGKILL at a random point. Not a test file.
 *
 * Env: KILL_STORAGE (redis | redis-cluster | postgres), KILL_NAMESPACE (key prefix or schema), KILL_SECRET, KILL_TOKENS.
 */
import { TokenStore, type Storage } from 'tokentree'

import { DATABASE_URL, newClusterClient, REDIS_CLUSTER_URL, REDIS_URL } from '../model/storages.js'

const kind = process.env.KILL_STORAGE ?? 'redis'
const namespace = process.env.KILL_NAMESPACE ?? 'tokentree-kill:'
const size = Number(process.env.KILL_TOKENS ?? 600)

let storage: Storage
if (kind === 'redis-cluster') {
  const { RedisStorage } = await import('tokentree/redis')
  storage = new RedisStorage({
    client: await newClusterClient(REDIS_CLUSTER_URL ?? ''),
    keyPrefix: namespace,
  })
} else if (kind === 'redis') {
  const { RedisStorage } = await import('tokentree/redis')
  storage = new RedisStorage({ connection: REDIS_URL, keyPrefix: namespace })
} else {
  const { PostgresStorage } = await import('tokentree/postgres')
  const { default: pg } = await import('pg')
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 4 })
  pool.on('error', () => undefined)
  storage = new PostgresStorage({ pool, schema: namespace })
}

const store = new TokenStore({ storage, secret: process.env.KILL_SECRET ?? '', timers: false })
const root = await store.createRoot()
const top = await store.create({ parent: root.clientToken, policies: ['app'] })
const tree = [top]
const leases: string[] = []
for (let i = 1; i < size; i++) {
  // Parents drawn towards recent tokens, so the tree is both deep and wide.
  const parent = tree[Math.max(0, tree.length - 1 - Math.floor(Math.random() * 8))] ?? top
  tree.push(await store.create({ parent: parent.clientToken }))
  if (i % 3 === 0)
    leases.push((await store.createLease(parent.clientToken, { path: 'aws/creds/kill' })).leaseId)
}
process.stdout.write(
  `${JSON.stringify({ root: root.accessor, tree: tree.map((t) => t.accessor), leases })}\nREVOKING\n`,
)
await store.revoke(top.clientToken)
process.stdout.write('DONE\n')
process.exit(0)
