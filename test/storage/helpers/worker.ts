/**
 * A child process holding its own TokenStore on a shared storage, driven by the multi-process tests: one JSON
 * command per stdin line, one JSON reply per stdout line. Environment: TT_BACKEND (`redis` | `postgres`),
 * TT_NAMESPACE (key prefix or schema), TT_SECRET (hex HMAC secret shared with the test), REDIS_URL, DATABASE_URL.
 */
import { createInterface } from 'node:readline'

import pg from 'pg'

import { TokenStore, TokenStoreError } from '../../../src/index.js'
import { PostgresStorage } from '../../../src/storage/postgres/index.js'
import { RedisStorage } from '../../../src/storage/redis/index.js'
import type { Storage } from '../../../src/storage/storage.js'
import { DATABASE_URL, REDIS_URL } from './services.js'

/** A command from the test. */
export type WorkerCommand =
  | { op: 'authenticate'; token: string; count: number }
  | { op: 'usable'; tokens: string[] }
  | { op: 'revoke'; token: string }
  | { op: 'authorize'; token: string; path: string }

const namespace = process.env.TT_NAMESPACE ?? ''
const secret = Buffer.from(process.env.TT_SECRET ?? '', 'hex')
let pool: pg.Pool | null = null
let storage: Storage
if (process.env.TT_BACKEND === 'redis') {
  storage = new RedisStorage({ connection: REDIS_URL, keyPrefix: namespace })
} else {
  pool = new pg.Pool({ connectionString: DATABASE_URL, max: 10 })
  pool.on('error', () => undefined)
  storage = new PostgresStorage({ pool, schema: namespace })
}
const store = new TokenStore({ storage, secret, timers: false })

async function run(command: WorkerCommand): Promise<unknown> {
  switch (command.op) {
    case 'authenticate': {
      const outcomes = await Promise.all(
        Array.from({ length: command.count }, () =>
          store.authenticate(command.token).then(
            () => 'ok',
            (error: unknown) => (error instanceof TokenStoreError ? error.code : 'crash'),
          ),
        ),
      )
      const counts: Record<string, number> = {}
      for (const outcome of outcomes) counts[outcome] = (counts[outcome] ?? 0) + 1
      return counts
    }
    case 'usable': {
      // A token counts as usable if either check lets it through.
      const usable = await Promise.all(
        command.tokens.map(async (token) => {
          const info = await store.lookup(token)
          const used = await store.authenticate(token).then(
            () => true,
            () => false,
          )
          return info !== null || used
        }),
      )
      return usable.filter(Boolean).length
    }
    case 'revoke':
      await store.revoke(command.token)
      return 'done'
    case 'authorize':
      // `ok`, or the refusal's code: whether this process's compiled policies allow a read.
      return store.authorize(command.token, { path: command.path, operation: 'read' }).then(
        () => 'ok',
        (error: unknown) => (error instanceof TokenStoreError ? error.code : 'crash'),
      )
  }
}

const lines = createInterface({ input: process.stdin })
lines.on('line', (line) => {
  const command = JSON.parse(line) as WorkerCommand
  run(command).then(
    (result) => process.stdout.write(`${JSON.stringify({ result })}\n`),
    (error: unknown) => process.stdout.write(`${JSON.stringify({ error: String(error) })}\n`),
  )
})
lines.on('close', () => {
  void (async () => {
    await store.close()
    await storage.close?.()
    await pool?.end()
  })()
})
process.stdout.write(`${JSON.stringify({ ready: true })}\n`)
