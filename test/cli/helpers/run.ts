/**
 * Running the built `tokentree` command (dist/cli.js) as a child process, as a user's shell would.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** The repository's root. */
export const ROOT_DIR = fileURLToPath(new URL('../../../', import.meta.url))

/** The built command. */
export const BIN = fileURLToPath(new URL('../../../dist/cli.js', import.meta.url))

/** Why the CLI tests cannot run: they test the build, which `npm run build` makes (CI builds first). */
export const MISSING_BUILD = existsSync(BIN)
  ? undefined
  : 'dist/cli.js is missing: run `npm run build` before `npm test` (the CLI tests run the built command)'

/** Fails the calling test with {@link MISSING_BUILD} when there is no build. */
export function requireBuild(): void {
  assert.equal(MISSING_BUILD, undefined, MISSING_BUILD)
}

/** What one run of the command did. */
export interface RunResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Environment variables that would point the command elsewhere than the test says. */
const CLEAN_ENV = {
  VAULT_ADDR: '',
  VAULT_TOKEN: '',
  VAULT_DEV_ROOT_TOKEN_ID: '',
  VAULT_DEV_LISTEN_ADDRESS: '',
  TOKENTREE_SECRET: '',
  npm_lifecycle_event: undefined,
}

/** The environment for a child: the test's, without Vault settings, plus `env`. */
export function childEnv(env: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const merged = { ...process.env, ...CLEAN_ENV, ...env }
  return Object.fromEntries(Object.entries(merged).filter(([, value]) => value !== undefined))
}

/** Runs `tokentree …args` to completion. */
export async function tokentree(
  args: readonly string[],
  options: { env?: Record<string, string | undefined>; input?: string; home?: string } = {},
): Promise<RunResult> {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT_DIR,
    env: childEnv({
      ...(options.home === undefined ? {} : { HOME: options.home }),
      ...options.env,
    }),
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  child.stdin.end(options.input ?? '')
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve))
  return { code, stdout, stderr }
}

/** A server process started by a test, once it has printed its address and root token. */
export interface StartedServer {
  readonly child: ChildProcess
  readonly address: string
  readonly rootToken: string
  output(): string
}

/**
 * Spawns `command args` (the dev server, directly or through npm) and waits for the dev server's banner.
 */
export async function startServer(
  command: string,
  args: readonly string[],
  env: Record<string, string | undefined> = {},
  cwd = ROOT_DIR,
): Promise<StartedServer> {
  const child = spawn(command, args, { cwd, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const ready = new Promise<{ address: string; rootToken: string }>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
      const address = /listening on (http:\/\/\S+)/.exec(stdout)?.[1]
      const rootToken = /^Root Token: (\S+)$/m.exec(stdout)?.[1]
      if (address !== undefined && rootToken !== undefined) resolve({ address, rootToken })
    })
    child.once('exit', (code) => {
      reject(new Error(`server exited with ${String(code)} before it was ready: ${stderr}`))
    })
  })
  const { address, rootToken } = await ready
  return { child, address, rootToken, output: () => stdout }
}

/** Signals a child and resolves to how it exited. */
export async function stopChild(
  child: ChildProcess,
  signal: NodeJS.Signals,
): Promise<{ code: number | null; signal: string | null }> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return { code: child.exitCode, signal: child.signalCode }
  }
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.once('exit', (code, by) => {
      resolve({ code, signal: by })
    }),
  )
  child.kill(signal)
  return exited
}

/** Resolves once nothing answers at `address` any more (the server has stopped), or rejects after `ms`. */
export async function waitUntilDown(address: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    try {
      await fetch(`${address}/v1/sys/health`, { signal: AbortSignal.timeout(500) })
    } catch {
      return
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`the server at ${address} still answers after ${String(ms)} ms`)
}
