/**
 * Finding the Redis and PostgreSQL servers the adapter tests run against, and skipping (with a printed reason)
 * when one is absent, unless TOKENTREE_REQUIRE_SERVICES=1 makes that a failure.
 */
import { randomBytes } from 'node:crypto'
import net from 'node:net'

/** Redis URL for the tests. */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
/** PostgreSQL URL for the tests. */
export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

/** Whether a missing service fails the run instead of skipping. */
export const REQUIRE_SERVICES = process.env.TOKENTREE_REQUIRE_SERVICES === '1'

/** A short random suffix for key prefixes and schema names. */
export function uniqueSuffix(): string {
  return randomBytes(6).toString('hex')
}

/**
 * Resolves to `null` when a TCP connection to the URL's host and port opens within a second, else to the reason
 * to skip. With TOKENTREE_REQUIRE_SERVICES=1 an unreachable service throws instead.
 */
export async function skipReason(
  name: string,
  url: string,
  defaultPort: number,
): Promise<string | null> {
  const { hostname, port } = new URL(url)
  const host = hostname === '' ? '127.0.0.1' : hostname
  const reachable = await new Promise<boolean>((resolve) => {
    const socket = net.connect({ host, port: port === '' ? defaultPort : Number(port) })
    socket.setTimeout(1000)
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('timeout', () => {
      socket.destroy()
      resolve(false)
    })
    socket.once('error', () => {
      resolve(false)
    })
  })
  if (reachable) return null
  const reason = `${name} not reachable at ${host}:${port || defaultPort}`
  if (REQUIRE_SERVICES) throw new Error(`${reason} and TOKENTREE_REQUIRE_SERVICES=1`)
  process.stdout.write(`skipping: ${reason} (set TOKENTREE_REQUIRE_SERVICES=1 to fail instead)\n`)
  return reason
}

/** What {@link deleteRedisKeys} needs of a Redis client (ioredis's `Redis`), so this module imports no driver. */
interface KeyScanner {
  scan(
    cursor: string,
    match: 'MATCH',
    pattern: string,
    count: 'COUNT',
    n: number,
  ): Promise<[string, string[]]>
  del(...keys: string[]): Promise<number>
}

/** Deletes every key under `prefix`, a page of `SCAN` at a time: a test file's clean-up of what its stores wrote. */
export async function deleteRedisKeys(admin: KeyScanner, prefix: string): Promise<void> {
  let cursor = '0'
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
    cursor = next
    if (keys.length > 0) await admin.del(...keys)
  } while (cursor !== '0')
}
