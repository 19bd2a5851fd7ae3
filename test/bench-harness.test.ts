/**
 * The bench harness's CPU clock: the main thread's time on a CPU grows with work done, not with time spent
 * waiting, and never exceeds the wall-clock time around it. Skipped where the platform does not tell it.
 * And the pure parts of its comparisons in turns: the order of turns, per-round ratios and their median; and of
 * its round-trip rounds: the Redis server's CPU time read from `INFO cpu`, and both ends' CPU time per operation.
 */
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'node:test'

import {
  baselineFirst,
  clockNote,
  compareInTurns,
  mainThreadCpuMs,
  median,
  roundRatios,
  summarizeTurns,
  timeCpuMs,
  type RoundTime,
} from '../bench/harness.js'
import { otherClients, redisCpuMs, roundTripTime, timeRoundTrips } from '../bench/round-trip.js'

const available = mainThreadCpuMs() !== null

test(
  'bench harness: main-thread CPU time counts work, not waiting',
  { skip: !available && 'no /proc/self/schedstat' },
  async () => {
    const spin = await timeCpuMs(() => {
      const end = performance.now() + 30
      while (performance.now() < end);
    })
    assert.ok(spin.cpu !== null && spin.cpu > 0, `spinning took CPU time: ${spin.cpu}`)
    assert.ok(spin.cpu <= spin.wall + 1, `CPU ${spin.cpu} ms within wall ${spin.wall} ms`)
    const idle = await timeCpuMs(() => sleep(50))
    assert.ok(idle.wall >= 45, `slept ${idle.wall} ms`)
    assert.ok((idle.cpu ?? Infinity) < 25, `sleeping 50 ms took ${idle.cpu} ms of CPU`)
  },
)

test(
  'bench harness: the CPU clock is up to date at every read, not only at scheduler ticks',
  {
    skip: !available && 'no /proc/self/schedstat',
  },
  () => {
    // A stale read repeats the last tick's total: spinning between reads, every read must move on.
    let last = mainThreadCpuMs() ?? 0
    for (let read = 0; read < 20; read++) {
      const end = performance.now() + 0.2
      while (performance.now() < end);
      const now = mainThreadCpuMs() ?? 0
      assert.ok(now > last, `read ${read}: ${now} ms after ${last} ms`)
      last = now
    }
  },
)

test('bench harness: turns alternate, baseline first in even rounds', () => {
  assert.deepEqual(
    Array.from({ length: 6 }, (_, round) => baselineFirst(round)),
    [true, false, true, false, true, false],
  )
})

test('bench harness: per-round ratios pair rounds by index and refuse lists of different lengths', () => {
  assert.deepEqual(roundRatios([1, 2, 4], [2, 3, 4]), [2, 1.5, 1])
  assert.throws(() => roundRatios([1, 2], [1]), RangeError)
})

test('bench harness: median of odd and even lists, unsorted input left alone', () => {
  const values = [5, 1, 3]
  assert.equal(median(values), 3)
  assert.deepEqual(values, [5, 1, 3])
  assert.equal(median([4, 1, 3, 2]), 2.5)
})

test('bench harness: a comparison judges by the median of per-round ratios, not the ratio of medians', () => {
  const round = (cpu: number, wall: number): RoundTime => ({ cpu, wall })
  // A burst of load from elsewhere spoils the subject's turn of the second round: one ratio of three, outvoted.
  // The per-side medians would come from different rounds and say 3.3 / 2 = 1.65×.
  const baseline = [round(2, 4), round(1, 2), round(3, 6)]
  const subject = [round(2.2, 5), round(5, 10), round(3.3, 7.5)]
  const comparison = summarizeTurns(baseline, subject, 'CPU time')
  assert.equal(comparison.baseline, 2)
  assert.equal(comparison.subject, 3.3)
  assert.ok(Math.abs(comparison.ratio - 1.1) < 1e-12, `ratio ${comparison.ratio}`)
  assert.equal(comparison.wallRatio, 1.25)
  assert.equal(comparison.baselineWall, 4)
  assert.equal(comparison.subjectWall, 7.5)
  assert.equal(comparison.clock, 'CPU time')
  assert.equal(clockNote(comparison, '1.25×'), 'CPU time; wall clock 1.25×')
  assert.equal(clockNote({ ...comparison, clock: 'wall clock' }, '1.25×'), 'wall clock')
})

test('bench harness: compareInTurns runs both sides in alternating order and keeps only measured rounds', async () => {
  const order: string[] = []
  const comparison = await compareInTurns(
    () => order.push('a'),
    () => order.push('b'),
    { warmup: 1, rounds: 3, ops: { baseline: 10, subject: 1000 } },
  )
  assert.deepEqual(order, ['a', 'b', 'b', 'a', 'a', 'b', 'b', 'a'])
  assert.equal(comparison.clock, available ? 'CPU time' : 'wall clock')
  assert.ok(Number.isFinite(comparison.baseline) && comparison.baseline >= 0)
})

/** `INFO cpu` as Redis 7 answers it (CRLF line ends), main-thread fields optional. */
function infoCpu(mainThread: boolean): string {
  const lines = [
    '# CPU',
    'used_cpu_sys:1.250000',
    'used_cpu_user:2.500000',
    'used_cpu_sys_children:9.000000',
    'used_cpu_user_children:9.000000',
  ]
  if (mainThread)
    lines.push('used_cpu_sys_main_thread:0.250000', 'used_cpu_user_main_thread:0.500125')
  return `${lines.join('\r\n')}\r\n`
}

test("bench harness: Redis CPU time is its main thread's user + system time, else the process's", () => {
  assert.ok(Math.abs((redisCpuMs(infoCpu(true)) ?? 0) - 750.125) < 1e-9)
  // Before Redis 6.2 there are no main-thread fields; the children's (forks for RDB/AOF) never count.
  assert.equal(redisCpuMs(infoCpu(false)), 3750)
  assert.equal(redisCpuMs('# CPU\r\nused_cpu_sys:1.0\r\n'), null)
  assert.equal(redisCpuMs(''), null)
})

test('bench harness: a round of round trips gives per-operation wall and CPU time of both ends', async () => {
  const serverReads = [10, 30]
  let runs = 0
  const time = await timeRoundTrips(
    () => {
      runs += 1
    },
    4,
    () => Promise.resolve(serverReads.shift() ?? null),
  )
  assert.equal(runs, 1)
  assert.equal(serverReads.length, 0, 'the server clock is read before and after')
  assert.equal(time.server, 5)
  assert.equal(time.client === null, !available)
  // Judged by wall clock; `cpu` is both ends' CPU time, or the wall clock where either is unknown.
  assert.deepEqual(roundTripTime({ wall: 9, client: 2, server: 3 }), { wall: 9, cpu: 5 })
  assert.deepEqual(roundTripTime({ wall: 9, client: 2, server: null }), { wall: 9, cpu: 9 })
  assert.deepEqual(roundTripTime({ wall: 9, client: null, server: 3 }), { wall: 9, cpu: 9 })
  const unknown = await timeRoundTrips(
    () => undefined,
    1,
    () => Promise.resolve(null),
  )
  assert.equal(unknown.server, null)
})

test("bench harness: other clients on a Redis are those of CLIENT LIST not named the bench's", () => {
  const line = (id: number, name: string): string =>
    `id=${id} addr=127.0.0.1:4${id} laddr=127.0.0.1:6379 fd=8 name=${name} age=0 idle=0 cmd=client|list`
  const ours = 'tokentree-bench-42'
  assert.equal(otherClients(`${line(1, ours)}\n${line(2, ours)}\n`, ours), 0)
  // Unnamed, or named alike but longer (another bench process whose pid starts with ours): someone else's.
  const list = [line(1, ours), line(2, ''), line(3, `${ours}1`), line(4, 'app')].join('\n')
  assert.equal(otherClients(`${list}\n`, ours), 3)
})
