/**
 * The dev server (`npm start`) as a child process: it prints `Root Token: …`, serves the Vault API on the port
 * it is given, and exits cleanly (status 0) on SIGTERM and SIGINT.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { test } from 'node:test'

import { call } from './helpers/servers.js'

const ROOT_DIR = fileURLToPath(new URL('../../', import.meta.url))

interface Started {
  readonly child: ChildProcess
  readonly url: string
  readonly rootToken: string
  output(): string
}

/** Starts the dev server and waits for its root token and address. */
async function start(args: string[], env: Record<string, string> = {}): Promise<Started> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/dev-server.ts', ...args], {
    cwd: ROOT_DIR,
    env: { ...process.env, PORT: '', HOST: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const ready = new Promise<{ url: string; rootToken: string }>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
      const url = /listening on (http:\/\/\S+)/.exec(stdout)?.[1]
      const rootToken = /^Root Token: (\S+)$/m.exec(stdout)?.[1]
      if (url !== undefined && rootToken !== undefined) resolve({ url, rootToken })
    })
    child.once('exit', (code) => {
      reject(new Error(`dev server exited with ${String(code)} before it was ready: ${stderr}`))
    })
  })
  const { url, rootToken } = await ready
  return { child, url, rootToken, output: () => stdout }
}

async function stop(
  child: ChildProcess,
  signal: NodeJS.Signals,
): Promise<{ code: number | null; signal: string | null }> {
  const exited = once(child, 'exit') as Promise<[number | null, string | null]>
  child.kill(signal)
  const [code, by] = await exited
  return { code, signal: by }
}

/**
 * Vault's `default` policy, as a dev Vault enforces it: a `default`-only token may look itself up, but not create
 * tokens or look up another; a policy written through `sys/policy` takes effect at once.
 */
async function enforcesDefault(server: Started): Promise<void> {
  const v1 = `${server.url}/v1`
  const created = await call(`${v1}/auth/token/create`, {
    token: server.rootToken,
    body: { policies: ['default'] },
  })
  assert.equal(created.status, 200)
  const token = (created.json as { auth: { client_token: string } }).auth.client_token
  assert.equal((await call(`${v1}/auth/token/lookup-self`, { token })).status, 200)
  const create = await call(`${v1}/auth/token/create`, { token, body: {} })
  assert.equal(create.status, 403)
  assert.deepEqual(create.json, { errors: ['permission denied'] })
  const lookup = await call(`${v1}/auth/token/lookup`, { token, body: { token: server.rootToken } })
  assert.equal(lookup.status, 403)
  const policy = await call(`${v1}/sys/policy/default`, {
    method: 'PUT',
    token: server.rootToken,
    body: { policy: 'path "auth/token/create" { capabilities = ["update"] }' },
  })
  assert.equal(policy.status, 204)
  assert.equal((await call(`${v1}/auth/token/create`, { token, body: {} })).status, 200)
  assert.equal((await call(`${v1}/auth/token/lookup-self`, { token })).status, 403)
}

test(
  'dev server: prints the root token, serves the Vault API, enforces `default`, exits 0 on SIGTERM',
  { timeout: 30_000 },
  async () => {
    const server = await start(['--port', '0', '--host', '127.0.0.1'])
    try {
      assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/)
      const self = await call(`${server.url}/v1/auth/token/lookup-self`, {
        token: server.rootToken,
      })
      assert.equal(self.status, 200)
      assert.deepEqual((self.json as { data: { policies: string[] } }).data.policies, ['root'])
      const health = await call(`${server.url}/v1/sys/health`)
      assert.equal(health.status, 200)
      await enforcesDefault(server)
    } finally {
      assert.deepEqual(await stop(server.child, 'SIGTERM'), { code: 0, signal: null })
    }
  },
)

test(
  'dev server: PORT and VAULT_DEV_ROOT_TOKEN_ID from the environment, exits 0 on SIGINT',
  { timeout: 30_000 },
  async () => {
    const server = await start([], {
      PORT: '0',
      HOST: '127.0.0.1',
      VAULT_DEV_ROOT_TOKEN_ID: 'dev-root',
    })
    try {
      assert.equal(server.rootToken, 'dev-root')
      assert.equal(
        (await call(`${server.url}/v1/auth/token/lookup-self`, { token: 'dev-root' })).status,
        200,
      )
    } finally {
      assert.deepEqual(await stop(server.child, 'SIGINT'), { code: 0, signal: null })
    }
  },
)

test('dev server: a malformed port is a usage error', { timeout: 30_000 }, async () => {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/dev-server.ts', '--port', 'http'],
    {
      cwd: ROOT_DIR,
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  )
  const [code] = (await once(child, 'exit')) as [number | null]
  assert.equal(code, 64)
})
