/**
 * The cost of the `tokentree:<operation>` tracing channels on `authenticate`, against the same call in the same run.
 *
 * - No subscriber: what tracing adds to each call is the `hasSubscribers` check (`startTrace` returning `null`);
 *   measured on its own and compared with a whole `authenticate`. Goal: under 2%.
 * - One subscriber (no-op handlers on every event): `authenticate` with it against `authenticate` without.
 *   Goal: under 15%.
 *
 * All of it is CPU-bound and single-threaded, so each comparison is made by main-thread CPU time over many short
 * rounds in turns (see `compareInTurns`); the wall-clock figure is printed beside it.
 */
import { tracingChannel } from 'node:diagnostics_channel'
import { pathToFileURL } from 'node:url'

import { TokenStore } from '../src/index.js'
import { startTrace } from '../src/tracing.js'
import { clockNote, compareInTurns, perOp, printTable, type Row } from './harness.js'

/** Tokens in the store, so lookups hit a realistically sized table. */
const TOKENS = 10_000
/** Operations per round of `authenticate`: about 10 ms, so that a burst of load spoils few rounds. */
const OPS = 10_000
/**
 * Checks per round of the no-subscriber check: at a few nanoseconds each, a round of 50,000 would take a fraction
 * of a millisecond, less than one scheduler tick; a million take about as long as a round of `authenticate`.
 */
const CHECK_OPS = 1_000_000
const ROUNDS = { warmup: 4, rounds: 41 }

/** `+1.2%` from a ratio of 1.012. */
function percent(ratio: number, digits: number): string {
  const change = (ratio - 1) * 100
  return `${change >= 0 ? '+' : ''}${change.toFixed(digits)}%`
}

export async function benchTracing(): Promise<Row[]> {
  const store = new TokenStore({ timers: false })
  const tokens: string[] = []
  for (let i = 0; i < TOKENS; i++)
    tokens.push((await store.create({ policies: ['app'] })).clientToken)

  const run = async (): Promise<void> => {
    for (let i = 0; i < OPS; i++) await store.authenticate(tokens[i % TOKENS] ?? '')
  }

  let traces = 0
  const check = (): void => {
    for (let i = 0; i < CHECK_OPS; i++) if (startTrace('authenticate', store) !== null) traces += 1
  }
  // The check's time over a whole call's: the share of `authenticate` spent finding out that nobody listens.
  const idle = await compareInTurns(run, check, {
    ...ROUNDS,
    ops: { baseline: OPS, subject: CHECK_OPS },
  })
  if (traces !== 0) throw new Error('a subscriber was present')

  const channel = tracingChannel('tokentree:authenticate')
  let events = 0
  const count = (): void => {
    events += 1
  }
  const handlers = { start: count, end: count, asyncStart: count, asyncEnd: count, error: count }
  const traced = async (): Promise<void> => {
    channel.subscribe(handlers)
    try {
      await run()
    } finally {
      channel.unsubscribe(handlers)
    }
  }
  const busy = await compareInTurns(run, traced, { ...ROUNDS, ops: OPS })
  await store.close()
  if (events === 0) throw new Error('the subscriber saw nothing')

  const idleShare = idle.ratio * 100
  return [
    {
      scenario: 'tracing, no subscriber',
      subject: `check: ${perOp(idle.subject)}`,
      baseline: `authenticate: ${perOp(idle.baseline)}`,
      ratio: `+${idleShare.toFixed(2)}% (${clockNote(idle, `+${(idle.wallRatio * 100).toFixed(2)}%`)})`,
      goal: '< 2%',
      met: idleShare < 2,
    },
    {
      scenario: 'tracing, one subscriber',
      subject: `authenticate: ${perOp(busy.subject)}`,
      baseline: `authenticate: ${perOp(busy.baseline)}`,
      ratio: `${percent(busy.ratio, 1)} (${clockNote(busy, percent(busy.wallRatio, 1))})`,
      goal: '< 15%',
      met: busy.ratio < 1.15,
    },
  ]
}

// Run alone: node --import tsx bench/tracing.ts
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  printTable(await benchTracing())
}
