/**
 * `npm run bench:redis-instructions`: what a revoked (or swept) token costs the Redis server, counted in
 * instructions rather than time, so that a change to the batch deletion scripts can be judged on a loaded machine.
 *
 * Starts its own `redis-server` under `valgrind --tool=callgrind` (instrumentation off), loads a subtree of
 * 1 + `BENCH_FANOUT` + `BENCH_FANOUT` × `BENCH_LEAVES` tokens through `RedisStorage` (or, with `BENCH_SWEEP=1`, as
 * many orphans expiring together), switches instrumentation on (`callgrind_control -i on`), revokes the subtree with
 * the store's batch deletion (or sweeps), switches it off, and prints the instructions per deleted token. Callgrind
 * counts are repeatable for the same binary and inputs, whatever else the machine is doing. Needs `valgrind` and
 * `redis-server` on the PATH; `BENCH_VALGRIND_PORT` (default 6399) is the port it takes. `BENCH_CALLGRIND_KEEP=1`
 * keeps callgrind's output and prints where, for `callgrind_annotate` (which functions the instructions went to).
 * Not part of `npm test`.
 */
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

import { Redis } from 'ioredis'

import { finishRevocation } from '../src/revoke.js'
import { RedisStorage } from '../src/storage/redis/index.js'
import { sweepExpiredTokens } from '../src/sweep.js'
import type { HashedTokenId, TokenRecord } from '../src/types.js'
import { syntheticRecord } from './synthetic-record.js'

const PORT = Number(process.env.BENCH_VALGRIND_PORT ?? 6399)
const FANOUT = Number(process.env.BENCH_FANOUT ?? 50)
const LEAVES = Number(process.env.BENCH_LEAVES ?? 200)
const SWEEP = process.env.BENCH_SWEEP === '1'
const KEEP = process.env.BENCH_CALLGRIND_KEEP === '1'

/** Inserts records 200 at a time. */
async function load(storage: RedisStorage, records: readonly TokenRecord[]): Promise<void> {
  for (let i = 0; i < records.length; i += 200) {
    const results = await Promise.all(records.slice(i, i + 200).map((r) => storage.insertToken(r)))
    const failed = results.find((result) => result !== 'inserted')
    if (failed !== undefined) throw new Error(`load: ${failed}`)
  }
}

/** Waits until the server answers PING. */
async function ready(client: Redis): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      await client.ping()
      return
    } catch {
      await sleep(200)
    }
  }
  throw new Error(`redis-server under valgrind did not answer on port ${PORT}`)
}

/** The `totals:` line of the callgrind dump in `dir` (the one dump this run asks for). */
function totalInstructions(dir: string): number {
  for (const name of readdirSync(dir)) {
    const match = /^totals: (\d+)/m.exec(readFileSync(join(dir, name), 'utf8'))
    if (match !== null && Number(match[1]) > 0) return Number(match[1])
  }
  throw new Error('no callgrind totals found')
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tokentree-callgrind-'))
  const server = spawn(
    'valgrind',
    [
      '--tool=callgrind',
      '--instr-atstart=no',
      `--callgrind-out-file=${join(dir, 'callgrind.%p')}`,
      'redis-server',
      '--port',
      String(PORT),
      '--save',
      '',
    ],
    { stdio: 'ignore' },
  )
  const client = new Redis({
    port: PORT,
    host: '127.0.0.1',
    lazyConnect: true,
    maxRetriesPerRequest: 1,
  })
  client.on('error', () => undefined)
  const pid = String(server.pid)
  try {
    await client.connect().catch(() => undefined)
    await ready(client)
    const storage = new RedisStorage({ client, keyPrefix: 'bench:' })
    const now = Date.now()
    if (SWEEP) {
      const count = FANOUT * LEAVES
      await load(
        storage,
        Array.from({ length: count }, (_, i) => syntheticRecord(`e${i}`, null, now + 1, now)),
      )
    }
    const heads = Array.from({ length: FANOUT }, (_, a) =>
      syntheticRecord(`h${a}`, 'top', null, now),
    )
    await load(storage, [syntheticRecord('top', null, null, now)])
    await load(storage, heads)
    await load(
      storage,
      heads.flatMap((head) =>
        Array.from({ length: LEAVES }, (_, b) =>
          syntheticRecord(`${head.id}-${b}`, head.id, null, now),
        ),
      ),
    )
    const top = await storage.markRevoking('top' as HashedTokenId, 'explicit')
    if (top === null) throw new Error('the top was not marked')
    let deleted = 0
    const sink = {
      token: () => {
        deleted += 1
      },
      lease: () => undefined,
    }
    execFileSync('callgrind_control', ['-i', 'on', pid], { stdio: 'ignore' })
    if (SWEEP) await sweepExpiredTokens(storage, () => now + 10, sink)
    else await finishRevocation(storage, top, now, sink)
    execFileSync('callgrind_control', ['-i', 'off', pid], { stdio: 'ignore' })
    execFileSync('callgrind_control', ['-d', pid], { stdio: 'ignore' })
    await sleep(500)
    const total = totalInstructions(dir)
    const what = SWEEP ? `swept ${deleted} expired orphans` : `revoked a ${deleted}-token subtree`
    console.log(
      `bench:redis-instructions: ${what} in batches of ${storage.revocationBatchSize}: ` +
        `${Math.round(total / deleted).toLocaleString('en-US')} Redis instructions per token (${total.toLocaleString('en-US')} in all)`,
    )
    await client.call('SHUTDOWN', 'NOSAVE').catch(() => undefined)
  } finally {
    client.disconnect()
    server.kill()
    if (KEEP) console.log(`bench:redis-instructions: callgrind output kept in ${dir}`)
    else rmSync(dir, { recursive: true, force: true })
  }
}

await main()
