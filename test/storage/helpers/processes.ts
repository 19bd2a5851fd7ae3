/**
 * Spawning worker processes (`node --import tsx worker.ts`) and talking to them line by line.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

import type { WorkerCommand } from './worker.js'

const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url))

/** A running worker process. */
export class Worker {
  readonly child: ChildProcess
  readonly #replies: Array<(reply: { result?: unknown; error?: string; ready?: boolean }) => void> =
    []
  readonly ready: Promise<unknown>

  constructor(env: Record<string, string>) {
    this.child = spawn(process.execPath, ['--import', 'tsx', WORKER], {
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'inherit'],
    })
    const stdout = this.child.stdout
    if (stdout === null) throw new Error('no stdout')
    createInterface({ input: stdout }).on('line', (line) => {
      this.#replies.shift()?.(JSON.parse(line) as { result?: unknown; error?: string })
    })
    this.ready = new Promise((resolve) => this.#replies.push(resolve))
  }

  /** Sends a command; resolves to its result (commands are answered in order). */
  async send<T>(command: WorkerCommand): Promise<T> {
    const reply = new Promise<{ result?: unknown; error?: string }>((resolve) =>
      this.#replies.push(resolve),
    )
    this.child.stdin?.write(`${JSON.stringify(command)}\n`)
    const { result, error } = await reply
    if (error !== undefined) throw new Error(`worker failed: ${error}`)
    return result as T
  }

  /** Closes stdin and waits for the process to exit. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    const exited = new Promise((resolve) => this.child.once('exit', resolve))
    this.child.stdin?.end()
    await exited
  }

  /** Kills the process at once, as a crash would. */
  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    const exited = new Promise((resolve) => this.child.once('exit', resolve))
    this.child.kill('SIGKILL')
    await exited
  }
}
