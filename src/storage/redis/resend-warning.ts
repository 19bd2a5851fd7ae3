/**
 * Whether a client given to `RedisStorage` would send a command again after its connection closed before the
 * reply came, and the warning that says so. A use-spending script that had run would then run twice: the caller is
 * answered once and two uses are gone, so an N-use token serves fewer than N requests.
 *
 * @packageDocumentation
 */
import type { Cluster, Redis } from 'ioredis'

/** The `process.emitWarning` type of the warning. */
export const RESEND_WARNING_TYPE = 'TokenStoreWarning'

/** The warning's code: one warning per process, whatever the number of storages. */
export const RESEND_WARNING_CODE = 'TOKENTREE_REDIS_RESENDS'

/**
 * What makes `client` send a command again after a lost reply, or `null` when nothing does: a `Redis` resends what
 * was in flight when it reconnects (`autoResendUnfulfilledCommands`, on by default); a `Cluster` sends a command
 * whose node connection closed again after `retryDelayOnFailover` (100 ms by default), and, when its node
 * connections reconnect (`clusterNodeRetryStrategy`), they resend as a `Redis` does unless its `redisOptions` say
 * `autoResendUnfulfilledCommands: false`.
 */
export function resendingOption(client: Redis | Cluster): string | null {
  if (client.isCluster) {
    const { options } = client as Cluster
    const delay = options.retryDelayOnFailover
    if (delay !== undefined && delay > 0) return `retryDelayOnFailover: ${delay}`
    const reconnecting = typeof options.clusterNodeRetryStrategy === 'function'
    return reconnecting && options.redisOptions?.autoResendUnfulfilledCommands !== false
      ? 'clusterNodeRetryStrategy and redisOptions.autoResendUnfulfilledCommands: true'
      : null
  }
  return (client as Redis).options.autoResendUnfulfilledCommands === false
    ? null
    : 'autoResendUnfulfilledCommands: true'
}

let warned = false

/** Warns once per process (a Node warning) when `client` resends commands: see {@link resendingOption}. */
export function warnIfResending(client: Redis | Cluster): void {
  const option = resendingOption(client)
  if (option === null || warned) return
  warned = true
  const fix = client.isCluster
    ? 'create the Cluster with `retryDelayOnFailover: 0` (and, with a `clusterNodeRetryStrategy`, ' +
      '`redisOptions: { autoResendUnfulfilledCommands: false }`)'
    : 'create the client with `autoResendUnfulfilledCommands: false`'
  process.emitWarning(
    `RedisStorage was given an ioredis client with ${option}: a script whose reply is lost with its connection ` +
      `is sent again, and a use of a token is spent twice. To make such a call fail with storage_unavailable ` +
      `instead, ${fix} (see docs/storage.md).`,
    { type: RESEND_WARNING_TYPE, code: RESEND_WARNING_CODE },
  )
}
