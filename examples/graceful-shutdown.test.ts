/**
 * Test of examples/graceful-shutdown.ts: the example runs as a child process on Redis or PostgreSQL (behind
 * Express, Koa or node:http) while clients revoke token trees through `POST /logout`; SIGTERM arrives mid-load.
 * Then: the child exited on its own with code 0, in bounded time; every revocation a client was told succeeded
 * (204), and every token storage no longer holds, has its `revoked` event in the child's log, exactly once; no
 * revocation was left half-done (no `revoking` mark); and no client got an error answer, only 204s and refused
 * connections.
 *
 * Run: node --import tsx --test examples/graceful-shutdown.test.ts
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'

import { TokenStore, type Storage, type TokenAuth } from 'tokentree'

import {
  DATABASE_URL,
  REDIS_URL,
  postgresKind,
  redisKind,
  type Availability,
} from '../test/model/storages.js'

const EXAMPLE = fileURLToPath(new URL('./graceful-shutdown.ts', import.meta.url))
const ROOT = fileURLToPath(new URL('..', import.meta.url))
/** Clients revoking at once. */
const CLIENTS = 6
/** Successful revocations before SIGTERM is sent. */
const BEFORE_SIGTERM = 8
/** How long the child may take to exit after SIGTERM. */
const EXIT_BOUND = 15_000

type StorageName = 'redis' | 'postgres'

interface Scenario {
  readonly storage: StorageName
  readonly framework: 'express' | 'koa' | 'node'
  /** Token trees, and tokens per tree. */
  readonly trees: number
  readonly treeSize: number
}

const SCENARIOS: readonly Scenario[] = [
  { storage: 'redis', framework: 'express', trees: 40, treeSize: 12 },
  { storage: 'postgres', framework: 'koa', trees: 30, treeSize: 8 },
  { storage: 'redis', framework: 'node', trees: 40, treeSize: 12 },
]

/** The parent's view of the shared storage, and how to remove what the test wrote. */
interface Opened {
  readonly storage: Storage
  readonly namespace: string
  readonly cleanup: () => Promise<void>
}

async function open(name: StorageName): Promise<Opened> {
  const suffix = randomBytes(5).toString('hex')
  if (name === 'redis') {
    const { Redis } = await import('ioredis')
    const { RedisStorage } = await import('tokentree/redis')
    const namespace = `tokentree-shutdown:${suffix}:`
    const client = new Redis(REDIS_URL, {
      commandTimeout: 20_000,
      maxRetriesPerRequest: 1,
      autoResendUnfulfilledCommands: false,
    })
    client.on('error', () => undefined)
    const storage = new RedisStorage({ client, keyPrefix: namespace })
    return {
      storage,
      namespace,
      cleanup: async () => {
        await storage.close()
        let cursor = '0'
        do {
          const [next, keys] = await client.scan(cursor, 'MATCH', `${namespace}*`, 'COUNT', 1000)
          cursor = next
          if (keys.length > 0) await client.del(...keys)
        } while (cursor !== '0')
        await client.quit()
      },
    }
  }
  const { default: pg } = await import('pg')
  const { PostgresStorage, migrate } = await import('tokentree/postgres')
  const namespace = `tokentree_shutdown_${suffix}`
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 4 })
  pool.on('error', () => undefined)
  await migrate(pool, { schema: namespace })
  const storage = new PostgresStorage({ pool, schema: namespace })
  return {
    storage,
    namespace,
    cleanup: async () => {
      await storage.close()
      await pool.query(`DROP SCHEMA IF EXISTS ${namespace} CASCADE`)
      await pool.end()
    },
  }
}

/** `trees` orphan tokens, each the top of a tree of `size` tokens (parents drawn among the tree's earlier ones). */
async function buildTrees(store: TokenStore, trees: number, size: number): Promise<TokenAuth[][]> {
  return Promise.all(
    Array.from({ length: trees }, async () => {
      const top = await store.create({ policies: ['app'] })
      const tree = [top]
      for (let i = 1; i < size; i++) {
        const parent = tree[Math.floor(Math.random() * tree.length)] ?? top
        tree.push(await store.create({ parent: parent.clientToken }))
      }
      return tree
    }),
  )
}

interface ChildRun {
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>
  readonly url: Promise<string>
  readonly output: () => string
  readonly terminate: () => number
}

function runChild(scenario: Scenario, namespace: string, secret: string, log: string): ChildRun {
  const child = spawn(process.execPath, ['--import', 'tsx', EXAMPLE], {
    cwd: ROOT,
    env: {
      ...process.env,
      STORAGE: scenario.storage,
      FRAMEWORK: scenario.framework,
      PORT: '0',
      REDIS_URL,
      DATABASE_URL,
      NAMESPACE: namespace,
      TOKENTREE_SECRET: secret,
      REVOCATION_LOG: log,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let signalledAt = 0
  child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()))
  const url = new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      const match = /listening on (\S+)/.exec(out)
      if (match?.[1] !== undefined) resolve(match[1])
    })
    child.once('exit', () => {
      reject(new Error(`the example exited before listening:\n${out}`))
    })
  })
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>(
    (resolve) => {
      child.once('exit', (code, signal) => {
        resolve({ code, signal, ms: signalledAt === 0 ? -1 : Date.now() - signalledAt })
      })
    },
  )
  return {
    exit,
    url,
    output: () => out,
    terminate: () => {
      signalledAt = Date.now()
      child.kill('SIGTERM')
      return signalledAt
    },
  }
}

/** What the clients saw: the trees whose revocation was answered 204, and any other answer. */
interface Load {
  readonly revoked: Set<number>
  readonly unexpected: string[]
  readonly refused: number
  /** Requests that failed otherwise than by a refused connection (reset, closed mid-answer). */
  readonly cut: readonly string[]
  readonly inFlightAtSigterm: number
}

/** Clients revoke tree after tree until the server refuses connections; SIGTERM after `BEFORE_SIGTERM` 204s. */
async function revokeUntilRefused(url: string, trees: TokenAuth[][], run: ChildRun): Promise<Load> {
  const revoked = new Set<number>()
  const unexpected: string[] = []
  let next = 0
  let refused = 0
  const cut: string[] = []
  let inFlight = 0
  let inFlightAtSigterm = -1
  const client = async (): Promise<void> => {
    for (let index = next++; index < trees.length; index = next++) {
      const top = trees[index]?.[0] as TokenAuth
      inFlight += 1
      try {
        const res = await fetch(`${url}/logout`, {
          method: 'POST',
          headers: { 'x-vault-token': top.clientToken, connection: 'close' },
        })
        const body = await res.text()
        if (res.status === 204) revoked.add(index)
        else unexpected.push(`${res.status} ${body}`)
      } catch (error) {
        // The server stopped accepting connections: this client is done. Anything else cut a request.
        const code = ((error as Error).cause as NodeJS.ErrnoException | undefined)?.code
        if (code === 'ECONNREFUSED') refused += 1
        else cut.push(String(code ?? error))
        return
      } finally {
        inFlight -= 1
      }
      if (revoked.size >= BEFORE_SIGTERM && inFlightAtSigterm === -1) {
        inFlightAtSigterm = inFlight
        run.terminate()
      }
    }
  }
  await Promise.all(Array.from({ length: CLIENTS }, client))
  return { revoked, unexpected, refused, cut, inFlightAtSigterm }
}

async function scenario(spec: Scenario): Promise<void> {
  const opened = await open(spec.storage)
  const dir = mkdtempSync(join(tmpdir(), 'tokentree-shutdown-'))
  const log = join(dir, 'revoked.jsonl')
  const secret = randomBytes(32).toString('hex')
  const store = new TokenStore({ storage: opened.storage, secret, timers: false })
  try {
    const trees = await buildTrees(store, spec.trees, spec.treeSize)
    const run = runChild(spec, opened.namespace, secret, log)
    const load = await revokeUntilRefused(await run.url, trees, run)
    const bound = new Promise<null>((resolve) =>
      setTimeout(() => {
        resolve(null)
      }, EXIT_BOUND).unref(),
    )
    const exited = await Promise.race([run.exit, bound])
    assert.ok(exited !== null, `the example did not exit within ${EXIT_BOUND} ms:\n${run.output()}`)
    assert.deepEqual(
      { code: exited.code, signal: exited.signal },
      { code: 0, signal: null },
      run.output(),
    )
    assert.match(run.output(), /SIGTERM: closing\nclosed\n/)
    assert.deepEqual(load.unexpected, [], 'clients got only 204s and refused connections')
    assert.ok(load.revoked.size >= BEFORE_SIGTERM)
    assert.ok(load.revoked.size < trees.length, 'SIGTERM came after the whole load')

    const events = readFileSync(log, 'utf8')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as { kind: string; accessor: string })
      .filter((event) => event.kind === 'token')
    const logged = new Set(events.map((event) => event.accessor))
    assert.equal(logged.size, events.length, 'a token was reported revoked twice')
    let gone = 0
    for (const [index, tree] of trees.entries()) {
      for (const token of tree) {
        const stored = await opened.storage.getTokenByAccessor(token.accessor)
        if (load.revoked.has(index)) {
          assert.equal(stored, null, `tree ${index} was answered 204 but a token is still stored`)
        }
        if (stored === null) {
          gone += 1
          assert.ok(logged.has(token.accessor), `tree ${index}: deleted without a revoked event`)
        }
      }
    }
    assert.deepEqual(await opened.storage.listRevoking(100), [], 'a revocation was left half-done')
    assert.equal(logged.size, gone, 'an event for a token that is still stored')
    process.stdout.write(
      `# ${spec.storage}/${spec.framework}: ${load.revoked.size}/${trees.length} trees revoked (${gone} tokens), ` +
        `${load.inFlightAtSigterm} requests in flight at SIGTERM, ${load.refused} refused, cut: [${load.cut.join(', ')}], ` +
        `exit after ${exited.ms} ms\n`,
    )
  } finally {
    await store.close()
    await opened.cleanup()
    rmSync(dir, { recursive: true, force: true })
  }
}

const availability: Record<StorageName, Availability> = {
  redis: await redisKind().catch((error: unknown) => ({ skip: String(error) })),
  postgres: await postgresKind().catch((error: unknown) => ({ skip: String(error) })),
}
for (const found of Object.values(availability)) if ('kind' in found) await found.kind.close()

// Each child spends seconds starting (tsx compiles the example): the scenarios run side by side.
describe(
  'graceful-shutdown example: SIGTERM mid-load loses no revocation',
  { concurrency: true },
  () => {
    for (const spec of SCENARIOS) {
      const title = `${spec.framework} on ${spec.storage}: exits 0 on its own; every committed revocation has its event`
      const found = availability[spec.storage]
      if ('skip' in found) test(title, { skip: found.skip }, () => undefined)
      else test(title, { timeout: 60_000 }, () => scenario(spec))
    }
  },
)
