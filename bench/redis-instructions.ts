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
 *
 * It also prints the Redis memory a loaded token takes (`used_memory` before and after loading the subtree).
 *
 * `BENCH_USE=1` counts `useToken` (the script behind `authenticate`) instead: `BENCH_USE_CALLS` calls (default
 * 5,000), 50 at a time, over the subtree's first 1,000 leaves. `BENCH_REDIS_CONFIG` sets server parameters before
 * anything is loaded, as `name=value` pairs separated by commas (e.g. `hash-max-listpack-value=1024`).
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
const USE = process.env.BENCH_USE === '1'
const USE_CALLS = Number(process.env.BENCH_USE_CALLS ?? 5000)
/** `BENCH_REDIS_CONFIG`: `name=value` pairs for `CONFIG SET`. */
const REDIS_CONFIG = (process.env.BENCH_REDIS_CONFIG ?? '')
  .split(',')
  .filter((pair) => pair !== '')
  .map((pair) => {
    const at = pair.indexOf('=')
    if (at < 1) throw new Error(`BENCH_REDIS_CONFIG: expected name=value, got ${pair}`)
    return [pair.slice(0, at), pair.slice(at + 1)] as const
  })
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

/** Redis's own count of the memory it uses (`used_memory`). */
async function usedMemory(client: Redis): Promise<number> {
  const match = /^used_memory:(\d+)/m.exec(await client.info('memory'))
  if (match === null) throw new Error('INFO memory gave no used_memory')
  return Number(match[1])
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
    autoResendUnfulfilledCommands: false,
  })
  client.on('error', () => undefined)
  const pid = String(server.pid)
  try {
    await client.connect().catch(() => undefined)
    await ready(client)
    for (const [name, value] of REDIS_CONFIG) await client.call('CONFIG', 'SET', name, value)
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
    const leaves = heads.flatMap((head) =>
      Array.from({ length: LEAVES }, (_, b) =>
        syntheticRecord(`${head.id}-${b}`, head.id, null, now),
      ),
    )
    await load(storage, [syntheticRecord('top', null, null, now)])
    const memoryBefore = await usedMemory(client)
    await load(storage, heads)
    await load(storage, leaves)
    const perToken = (await usedMemory(client)) - memoryBefore
    console.log(
      `bench:redis-instructions: ${Math.round(perToken / (heads.length + leaves.length)).toLocaleString('en-US')} ` +
        `bytes of Redis memory per token (used_memory; record JSON ${JSON.stringify(leaves[0]).length} bytes)`,
    )
    const counted = async (work: () => Promise<void>): Promise<number> => {
      execFileSync('callgrind_control', ['-i', 'on', pid], { stdio: 'ignore' })
      await work()
      execFileSync('callgrind_control', ['-i', 'off', pid], { stdio: 'ignore' })
      execFileSync('callgrind_control', ['-d', pid], { stdio: 'ignore' })
      await sleep(500)
      return totalInstructions(dir)
    }
    const settings = REDIS_CONFIG.map(([name, value]) => `, ${name} ${value}`).join('')
    if (USE) {
      const ids = leaves.slice(0, 1000).map((leaf) => leaf.id)
      const total = await counted(async () => {
        for (let done = 0; done < USE_CALLS; done += 50) {
          const calls = Array.from(
            { length: Math.min(50, USE_CALLS - done) },
            (_, i) => ids[(done + i) % ids.length] as HashedTokenId,
          )
          const used = await Promise.all(calls.map((id) => storage.useToken(id, now)))
          if (used.includes(null)) throw new Error('useToken: a loaded token was not live')
        }
      })
      console.log(
        `bench:redis-instructions: ${USE_CALLS} useToken calls over ${ids.length} tokens${settings}: ` +
          `${Math.round(total / USE_CALLS).toLocaleString('en-US')} Redis instructions per call`,
      )
    } else {
      const top = await storage.markRevoking('top' as HashedTokenId, 'explicit')
      if (top === null) throw new Error('the top was not marked')
      let deleted = 0
      const sink = {
        token: () => {
          deleted += 1
        },
        lease: () => undefined,
      }
      const total = await counted(async () => {
        if (SWEEP) await sweepExpiredTokens(storage, () => now + 10, sink)
        else await finishRevocation(storage, top, now, sink)
      })
      const what = SWEEP ? `swept ${deleted} expired orphans` : `revoked a ${deleted}-token subtree`
      console.log(
        `bench:redis-instructions: ${what} in batches of ${storage.revocationBatchSize}${settings}: ` +
          `${Math.round(total / deleted).toLocaleString('en-US')} Redis instructions per token (${total.toLocaleString('en-US')} in all)`,
      )
    }
    await client.call('SHUTDOWN', 'NOSAVE').catch(() => undefined)
  } finally {
    client.disconnect()
    server.kill()
    if (KEEP) console.log(`bench:redis-instructions: callgrind output kept in ${dir}`)
    else rmSync(dir, { recursive: true, force: true })
  }
}

await main()
