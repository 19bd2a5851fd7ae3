/**
 * Shared pieces of the benchmarks: timing with warm-up and rounds (by wall clock or by main-thread CPU time),
 * comparisons in turns, medians, and formatting.
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
  // The kernel brings the running thread's total up to date only on a scheduler tick (every 4 ms at 250 Hz) or a
  // switch, so a bare read can be milliseconds stale: a third of a 15 ms round. getrusage(RUSAGE_SELF), which
  // `process.cpuUsage` calls, brings the calling thread's total up to date first, making the read exact.
  process.cpuUsage()
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

/** One round of one side of a {@link compareInTurns} comparison: milliseconds per operation. */
export interface RoundTime {
  /** Main-thread CPU time, or wall-clock time where the platform does not tell it (see {@link mainThreadCpuMs}). */
  readonly cpu: number
  readonly wall: number
}

/** What {@link compareInTurns} found. */
export interface Comparison {
  /** Median milliseconds per operation of the baseline's rounds, by `clock`. */
  readonly baseline: number
  /** Median milliseconds per operation of the subject's rounds, by `clock`. */
  readonly subject: number
  /**
   * The median over rounds of the subject's time over the baseline's, by `clock`: the figure to judge by. With an
   * odd number of rounds, `1 / ratio` is the median of the per-round speed ratios as well.
   */
  readonly ratio: number
  /** The same by wall clock, printed beside it: the gap between the two shows how loaded the machine was. */
  readonly wallRatio: number
  /** Median wall-clock milliseconds per operation of the baseline's rounds. */
  readonly baselineWall: number
  /** Median wall-clock milliseconds per operation of the subject's rounds. */
  readonly subjectWall: number
  /** What `ratio` was measured by: main-thread CPU time, or wall clock where the platform does not tell it. */
  readonly clock: 'CPU time' | 'wall clock'
}

/** Rounds and operations of a {@link compareInTurns} comparison. */
export interface TurnsOptions {
  /** Rounds left out at the start (each still runs both sides). */
  readonly warmup: number
  /** Measured rounds: many short ones (30 to 60), an odd number so that the median is one round's. */
  readonly rounds: number
  /** Operations in one call of each side, to turn round times into per-operation times. */
  readonly ops: number | { readonly baseline: number; readonly subject: number }
}

/**
 * Whether the baseline runs first in round `round`: it does in even rounds, the subject in odd ones (A B, B A, A B,
 * …), so that neither side always runs on the heels of the other and inherits its garbage or its cold caches.
 */
export function baselineFirst(round: number): boolean {
  return round % 2 === 0
}

/** Per-round ratios `subject[i] / baseline[i]`; the lists must be the same length. */
export function roundRatios(baseline: readonly number[], subject: readonly number[]): number[] {
  if (baseline.length !== subject.length)
    throw new RangeError(
      `${subject.length} subject rounds against ${baseline.length} baseline rounds`,
    )
  return subject.map((time, i) => time / (baseline[i] as number))
}

/**
 * Sums up rounds that took turns: the median time of each side, and the median of the per-round ratios, by CPU
 * time and by wall clock. The median of ratios, not the ratio of medians: a burst of load from elsewhere slows
 * both turns of a round alike and cancels out of that round's ratio, and the rounds it skews are outvoted.
 */
export function summarizeTurns(
  baseline: readonly RoundTime[],
  subject: readonly RoundTime[],
  clock: Comparison['clock'],
): Comparison {
  const cpu = (time: RoundTime): number => time.cpu
  const wall = (time: RoundTime): number => time.wall
  return {
    baseline: median(baseline.map(cpu)),
    subject: median(subject.map(cpu)),
    ratio: median(roundRatios(baseline.map(cpu), subject.map(cpu))),
    wallRatio: median(roundRatios(baseline.map(wall), subject.map(wall))),
    baselineWall: median(baseline.map(wall)),
    subjectWall: median(subject.map(wall)),
    clock,
  }
}

/** `CPU time; wall clock 1.02×` (or `wall clock` alone where there was no CPU time), for a row's ratio cell. */
export function clockNote(comparison: Comparison, wallFigure: string): string {
  return comparison.clock === 'CPU time' ? `CPU time; wall clock ${wallFigure}` : 'wall clock'
}

/** What rounds are judged by here: main-thread CPU time, or wall clock where the platform does not tell it. */
export const ROUND_CLOCK: Comparison['clock'] = schedstat === null ? 'wall clock' : 'CPU time'

/** Times `run`, one round of `ops` operations: milliseconds per operation, as a {@link RoundTime}. */
export async function timeRound(run: () => unknown, ops: number): Promise<RoundTime> {
  const { wall, cpu } = await timeCpuMs(run)
  return { cpu: (cpu ?? wall) / ops, wall: wall / ops }
}

/**
 * Runs `baseline` and `subject` in turns, `warmup + rounds` rounds in the order {@link baselineFirst} gives, each
 * call timing its own round (with {@link timeRound}, or around the part that counts), and sums up the measured
 * rounds with {@link summarizeTurns}.
 */
export async function takeTurns(
  baseline: () => Promise<RoundTime>,
  subject: () => Promise<RoundTime>,
  options: Pick<TurnsOptions, 'warmup' | 'rounds'>,
): Promise<Comparison> {
  const baselineTimes: RoundTime[] = []
  const subjectTimes: RoundTime[] = []
  for (let round = 0; round < options.warmup + options.rounds; round++) {
    let baselineTime: RoundTime
    let subjectTime: RoundTime
    if (baselineFirst(round)) {
      baselineTime = await baseline()
      subjectTime = await subject()
    } else {
      subjectTime = await subject()
      baselineTime = await baseline()
    }
    if (round < options.warmup) continue
    baselineTimes.push(baselineTime)
    subjectTimes.push(subjectTime)
  }
  return summarizeTurns(baselineTimes, subjectTimes, ROUND_CLOCK)
}

/**
 * Compares `subject` with `baseline` over many short rounds in turns (see {@link takeTurns}), timed by the main
 * thread's CPU time (wall clock where the platform does not tell it). Each call of `baseline` or `subject` is one
 * round of `ops` operations; keep one to a few tens of milliseconds.
 *
 * Why: on a shared two-core machine a wall-clock round also times whatever else runs: nine long wall-clock rounds
 * put `authenticate` at 0.95–1.06× its floor's speed alone and at 0.80× in a full `npm run bench`. CPU time leaves
 * out the waits for a core; short turns a moment apart share what remains (cache and memory-bus contention,
 * frequency changes); and the median of per-round ratios ignores the rounds that a burst still spoils.
 */
export function compareInTurns(
  baseline: () => unknown,
  subject: () => unknown,
  options: TurnsOptions,
): Promise<Comparison> {
  const ops =
    typeof options.ops === 'number' ? { baseline: options.ops, subject: options.ops } : options.ops
  return takeTurns(
    () => timeRound(baseline, ops.baseline),
    () => timeRound(subject, ops.subject),
    options,
  )
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
