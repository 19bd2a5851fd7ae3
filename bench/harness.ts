/**
 * Shared pieces of the benchmarks: timing with warm-up and rounds, medians, and formatting.
 */
import { closeSync, openSync, readSync } from 'node:fs'
import { performance } from 'node:perf_hooks'

/** One measured quantity of a scenario. */
export interface Measurement {
  /** Median over the measured rounds. */
  readonly median: number
  /** Every measured round, in order. */
  readonly rounds: readonly number[]
}

/** One line of the results table. */
export interface Row {
  readonly scenario: string
  readonly subject: string
  readonly baseline: string
  readonly ratio: string
  readonly goal: string
  readonly met: boolean
  /**
   * `false` for a target the library does not meet yet: an unmet one prints `no (target)` and does not fail the
   * run. Default `true`.
   */
  readonly enforced?: boolean
}

/** The median of a non-empty list. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  const upper = sorted[middle] ?? Number.NaN
  return sorted.length % 2 === 1 ? upper : ((sorted[middle - 1] ?? upper) + upper) / 2
}

/** Milliseconds taken by `run`. */
export async function timeMs(run: () => unknown): Promise<number> {
  const start = performance.now()
  await run()
  return performance.now() - start
}

/** `/proc/self/schedstat`, open for the life of the process: the main thread's scheduler statistics (Linux). */
const schedstat = openSchedstat()
/** Where {@link mainThreadCpuMs} reads it into. */
const schedstatBytes = Buffer.alloc(128)

function openSchedstat(): number | null {
  try {
    const fd = openSync('/proc/self/schedstat', 'r')
    if (readSync(fd, Buffer.alloc(128), 0, 128, 0) > 0) return fd
    closeSync(fd)
  } catch {
    // Not Linux, or no scheduler statistics: callers fall back to wall-clock time.
  }
  return null
}

/**
 * Milliseconds the main thread has spent on a CPU since it started, or `null` where the platform does not tell
 * (read from `/proc/self/schedstat`, whose first field is the thread's run time in nanoseconds: the process's main
 * thread only, so neither the time it waited for a CPU nor V8's helper threads count).
 *
 * Why: on a shared machine a single-threaded loop can be on a CPU a third of the wall-clock time, so wall-clock
 * rounds measure the other processes as much as the code. A CPU-bound comparison judged by on-CPU time holds still
 * under load, and on an idle machine it equals wall-clock time.
 */
export function mainThreadCpuMs(): number | null {
  if (schedstat === null) return null
  const length = readSync(schedstat, schedstatBytes, 0, schedstatBytes.length, 0)
  const text = schedstatBytes.toString('latin1', 0, length)
  return Number(text.slice(0, text.indexOf(' '))) / 1e6
}

/** Wall-clock and main-thread CPU milliseconds (`cpu` is `null` where {@link mainThreadCpuMs} is) taken by `run`. */
export async function timeCpuMs(run: () => unknown): Promise<{ wall: number; cpu: number | null }> {
  const cpuStart = mainThreadCpuMs()
  const start = performance.now()
  await run()
  const wall = performance.now() - start
  const cpuEnd = mainThreadCpuMs()
  return { wall, cpu: cpuStart === null || cpuEnd === null ? null : cpuEnd - cpuStart }
}

/**
 * Runs `round` `warmup` times unmeasured, then `rounds` times measured, and returns the median of what each
 * measured round returned (a duration, a rate: whatever the scenario measures).
 */
export async function measure(
  round: () => Promise<number> | number,
  options: { warmup: number; rounds: number },
): Promise<Measurement> {
  for (let i = 0; i < options.warmup; i++) await round()
  const results: number[] = []
  for (let i = 0; i < options.rounds; i++) results.push(await round())
  return { median: median(results), rounds: results }
}

/** `1.23 µs` style, for per-operation costs given in milliseconds. */
export function perOp(ms: number): string {
  const us = ms * 1000
  return us < 1 ? `${(us * 1000).toFixed(0)} ns/op` : `${us.toFixed(2)} µs/op`
}

/** Prints rows as a Markdown table (it reads fine in a terminal and pastes into the README). */
export function printTable(rows: readonly Row[]): void {
  const header = ['scenario', 'tokentree', 'baseline (same run)', 'ratio', 'goal', 'met']
  const lines = rows.map((row) => [
    row.scenario,
    row.subject,
    row.baseline,
    row.ratio,
    row.goal,
    row.met ? 'yes' : row.enforced === false ? 'no (target)' : 'NO',
  ])
  const widths = header.map((title, column) =>
    Math.max(title.length, ...lines.map((line) => (line[column] ?? '').length)),
  )
  const format = (cells: readonly string[]): string =>
    `| ${cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join(' | ')} |`
  console.log(format(header))
  console.log(`|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`)
  for (const line of lines) console.log(format(line))
}
