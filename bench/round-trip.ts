/**
 * Timing rounds of round trips to a server: by wall clock, and by the CPU time both ends spent (the main thread of
 * this process, and the server's main thread as it reports it), for comparisons in turns (see `takeTurns`).
 *
 * Why both: a round trip is split between two processes, so this process's CPU time alone leaves out the server's
 * share of the work, and wall clock alone also times every wait for a core on a loaded machine. The wall-clock
 * ratio is what a caller sees; the CPU-time ratio is not stretched by those waits.
 */
import { performance } from 'node:perf_hooks'

import { mainThreadCpuMs, type RoundTime } from './harness.js'

/**
 * Milliseconds of CPU time (user + system) a Redis server reports in the `cpu` section of `INFO`: its main
 * thread's (`used_cpu_*_main_thread`, Redis 6.2 and later), or the whole process's where it does not report that.
 * `null` when the text has neither. The figures are in seconds with microseconds' precision.
 */
export function redisCpuMs(info: string): number | null {
  const field = (name: string): number | null => {
    const match = new RegExp(`^${name}:([0-9.]+)\\r?$`, 'm').exec(info)
    return match === null ? null : Number(match[1]) * 1000
  }
  const mainUser = field('used_cpu_user_main_thread')
  const mainSys = field('used_cpu_sys_main_thread')
  if (mainUser !== null && mainSys !== null) return mainUser + mainSys
  const user = field('used_cpu_user')
  const sys = field('used_cpu_sys')
  return user !== null && sys !== null ? user + sys : null
}

/**
 * How many clients in a `CLIENT LIST` reply are not named `name`: other processes' connections, whose commands a
 * server's CPU time counts as well as ours.
 */
export function otherClients(clientList: string, name: string): number {
  return clientList
    .split('\n')
    .filter((line) => line.trim() !== '' && !` ${line} `.includes(` name=${name} `)).length
}

/** One round of round trips, per operation: wall-clock milliseconds, and CPU milliseconds of each end. */
export interface RoundTrips {
  readonly wall: number
  /** This process's main thread; `null` where the platform does not tell it. */
  readonly client: number | null
  /** The server's, as read before and after the round; `null` where it did not say. */
  readonly server: number | null
}

/**
 * Times `run`, one round of `ops` round trips, reading the server's CPU time with `serverCpuMs` before and after
 * (outside the wall-clock span: the reads' own round trips are not timed). `null` for the CPU figures where either
 * clock cannot be read.
 */
export async function timeRoundTrips(
  run: () => unknown,
  ops: number,
  serverCpuMs: () => Promise<number | null>,
): Promise<RoundTrips> {
  const serverStart = await serverCpuMs()
  const clientStart = mainThreadCpuMs()
  const start = performance.now()
  await run()
  const wall = performance.now() - start
  const clientEnd = mainThreadCpuMs()
  const serverEnd = await serverCpuMs()
  return {
    wall: wall / ops,
    client: clientStart === null || clientEnd === null ? null : (clientEnd - clientStart) / ops,
    server: serverStart === null || serverEnd === null ? null : (serverEnd - serverStart) / ops,
  }
}

/**
 * A round's {@link RoundTime} for `takeTurns`, judged by wall clock: `wall` as measured, and `cpu` the CPU time
 * of both ends together (client + server), or the wall-clock time where either is unknown. The comparison's
 * `wallRatio` is then the wall-clock median of per-round ratios, and its `ratio` the CPU one.
 */
export function roundTripTime(time: RoundTrips): RoundTime {
  return {
    wall: time.wall,
    cpu: time.client === null || time.server === null ? time.wall : time.client + time.server,
  }
}
