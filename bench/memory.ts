/**
 * Heap held by 1,000,000 live tokens in a MemoryStorage. Measured in a child process started with
 * `--expose-gc`, so that garbage collection can be forced before and after: the figure is the live heap the tokens
 * keep, not what creating them churned through. Goal: under 600 MB. The baseline is a Map holding 1,000,000
 * minimal records (a 43-character hash as key, an object holding a 24-character accessor as value): the floor of any in-memory index.
 */
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'

import { MemoryStorage, TokenStore } from '../src/index.js'
import type { Row } from './harness.js'

const TOKENS = 1_000_000
const MB = 1024 * 1024

/** What the child prints: heap deltas in bytes. */
interface HeapReport {
  readonly tokentree: number
  readonly baseline: number
}

/** Runs the measurement in a child process and reports it. */
export function benchMemory(): Row {
  const child = spawnSync(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', fileURLToPath(import.meta.url), '--child'],
    { encoding: 'utf8', maxBuffer: 1024 * 1024 },
  )
  if (child.status !== 0) throw new Error(`memory bench failed: ${child.stderr}`)
  const lastLine = child.stdout.trim().split('\n').at(-1) ?? '{}'
  const report = JSON.parse(lastLine) as HeapReport
  return {
    scenario: `heap of ${TOKENS.toLocaleString('en-US')} live tokens`,
    subject: `${(report.tokentree / MB).toFixed(0)} MB (${(report.tokentree / TOKENS).toFixed(0)} B/token)`,
    baseline: `minimal Map: ${(report.baseline / MB).toFixed(0)} MB`,
    ratio: `${(report.tokentree / report.baseline).toFixed(1)}× minimal Map`,
    goal: '< 600 MB',
    met: report.tokentree < 600 * MB,
  }
}

function gc(): void {
  const collect = (globalThis as { gc?: () => void }).gc
  if (collect === undefined) throw new Error('run with --expose-gc')
  // Several passes: weak references and finalizers can need more than one.
  for (let i = 0; i < 3; i++) collect()
}

/** The child: measures both heaps and prints one JSON line. */
async function child(): Promise<void> {
  gc()
  const beforeBaseline = process.memoryUsage().heapUsed
  const baseline = new Map<string, { accessor: string }>()
  // Flat strings of a hash's and an accessor's lengths, as base64url.
  for (let i = 0; i < TOKENS; i++) {
    baseline.set(randomBytes(32).toString('base64url'), {
      accessor: randomBytes(18).toString('base64url'),
    })
  }
  gc()
  const baselineBytes = process.memoryUsage().heapUsed - beforeBaseline
  baseline.clear()

  gc()
  const before = process.memoryUsage().heapUsed
  const storage = new MemoryStorage()
  const store = new TokenStore({ storage, timers: false })
  for (let i = 0; i < TOKENS; i++) await store.create({ policies: ['app'], ttl: '1h' })
  gc()
  const tokentreeBytes = process.memoryUsage().heapUsed - before
  if (storage.size !== TOKENS) throw new Error(`stored ${storage.size} tokens`)
  await store.close()
  const report: HeapReport = { tokentree: tokentreeBytes, baseline: baselineBytes }
  console.log(JSON.stringify(report))
}

if (process.argv.includes('--child')) await child()
