/**
 * The local Redis Cluster the cluster tests run against (`scripts/redis-cluster.sh start`, which CI runs and whose
 * URL it exports as REDIS_CLUSTER_URL). Without REDIS_CLUSTER_URL the tests skip with a printed reason; with it set
 * but unreachable they skip too, or fail under TOKENTREE_REQUIRE_SERVICES=1.
 */
import { Cluster } from 'ioredis'

import { skipReason } from './services.js'

/** The URL of one master of the test cluster, or `undefined` when none is configured. */
export const REDIS_CLUSTER_URL = process.env.REDIS_CLUSTER_URL

/** Resolves to `null` when the cluster is configured and reachable, else to the reason to skip. */
export async function clusterSkipReason(): Promise<string | null> {
  if (REDIS_CLUSTER_URL === undefined || REDIS_CLUSTER_URL === '') {
    const reason =
      'REDIS_CLUSTER_URL is not set (start a local cluster with `scripts/redis-cluster.sh start` and export the URL it prints)'
    process.stdout.write(`skipping: ${reason}\n`)
    return reason
  }
  return skipReason('Redis Cluster', REDIS_CLUSTER_URL, 7000)
}

/**
 * A cluster client that fails fast while a node is down, as the storage's documentation advises: one attempt
 * more per command, a 2 s cap on each, and no command sent again after its connection closed.
 */
export function newCluster(url = REDIS_CLUSTER_URL ?? 'redis://127.0.0.1:7000'): Cluster {
  const { hostname, port } = new URL(url)
  const cluster = new Cluster([{ host: hostname || '127.0.0.1', port: Number(port || 7000) }], {
    retryDelayOnFailover: 0,
    redisOptions: { maxRetriesPerRequest: 1, commandTimeout: 2000 },
  })
  cluster.on('error', () => undefined)
  return cluster
}

/** Every key matching `pattern` on every master. */
export async function clusterKeys(cluster: Cluster, pattern: string): Promise<string[]> {
  const keys: string[] = []
  for (const node of cluster.nodes('master')) {
    let cursor = '0'
    do {
      const [next, found] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
      cursor = next
      keys.push(...found)
    } while (cursor !== '0')
  }
  return keys
}

/** Deletes every key matching `pattern` on every master. */
export async function deleteClusterKeys(cluster: Cluster, pattern: string): Promise<void> {
  for (const key of await clusterKeys(cluster, pattern)) await cluster.del(key)
}

/** Every key matching `pattern` with its value, whatever its type, as text. */
export async function dumpClusterKeys(cluster: Cluster, pattern: string): Promise<string> {
  const parts: string[] = []
  for (const key of await clusterKeys(cluster, pattern)) {
    parts.push(key)
    const type = await cluster.type(key)
    if (type === 'string') parts.push((await cluster.get(key)) ?? '')
    else if (type === 'hash') parts.push(JSON.stringify(await cluster.hgetall(key)))
    else if (type === 'set') parts.push(JSON.stringify(await cluster.smembers(key)))
    else if (type === 'zset') parts.push(JSON.stringify(await cluster.zrange(key, 0, '-1')))
    else if (type === 'stream') parts.push(JSON.stringify(await cluster.xrange(key, '-', '+')))
    else parts.push(`<${type}>`)
  }
  return parts.join('\n')
}

/** The addresses of the cluster's masters, as the cluster announces them. */
export async function clusterMasters(cluster: Cluster): Promise<{ host: string; port: number }[]> {
  if (cluster.status !== 'ready') await new Promise((resolve) => cluster.once('ready', resolve))
  return cluster.nodes('master').map((node) => ({
    host: node.options.host ?? '127.0.0.1',
    port: node.options.port ?? 6379,
  }))
}

/**
 * A cluster client that reaches each master through a proxy on loopback (`ports`, in the order of `masters`): the
 * addresses the cluster announces are mapped to the proxies (ioredis `natMap`), so that cutting the proxies cuts
 * the client off every node. Fails fast as {@link newCluster} does.
 */
export function newClusterVia(
  masters: readonly { host: string; port: number }[],
  ports: readonly number[],
): Cluster {
  const natMap = Object.fromEntries(
    masters.map((master, i) => [
      `${master.host}:${master.port}`,
      { host: '127.0.0.1', port: Number(ports[i]) },
    ]),
  )
  const cluster = new Cluster([{ host: '127.0.0.1', port: Number(ports[0]) }], {
    natMap,
    retryDelayOnFailover: 0,
    redisOptions: { maxRetriesPerRequest: 1, commandTimeout: 2000, connectTimeout: 1000 },
  })
  cluster.on('error', () => undefined)
  return cluster
}
