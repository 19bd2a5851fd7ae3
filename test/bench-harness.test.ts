/**
 * The bench harness's CPU clock: the main thread's time on a CPU grows with work done, not with time spent
 * waiting, and never exceeds the wall-clock time around it. Skipped where the platform does not tell it.
 */
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'node:test'

import { mainThreadCpuMs, timeCpuMs } from '../bench/harness.js'

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
