/**
 * RedisStorage on Redis Cluster: the conformance suite on a real local cluster (three masters), then what only a
 * cluster can show: every key of a tree in one slot, different trees spread over the nodes.
 */
import { after, describe, test } from 'node:test'

import { RedisStorage } from '../../src/storage/redis/index.js'
import { runStorageConformance } from '../../src/testing/conformance.js'
import { clusterSkipReason, deleteClusterKeys, newCluster } from './helpers/cluster.js'
import { uniqueSuffix } from './helpers/services.js'

const skip = await clusterSkipReason()
const PREFIX = `tokentree-test:${uniqueSuffix()}:`

if (skip !== null) {
  test('RedisStorage on Redis Cluster', { skip }, () => undefined)
} else {
  const cluster = newCluster()
  after(async () => {
    await deleteClusterKeys(cluster, `${PREFIX}*`)
    cluster.disconnect()
  })

  runStorageConformance(
    { test, describe },
    () => new RedisStorage({ client: cluster, keyPrefix: `${PREFIX}conformance:` }),
    { name: 'RedisStorage conformance on Redis Cluster' },
  )
}
