/**
 * The README's quick start runs as written: its first TypeScript block is copied to a file in this repository
 * (where `tokentree` resolves to the sources), run with tsx against the in-memory store on a free port, and driven
 * through log in, a protected route, a child key, a TokenStoreError turned into a response, log out, and SIGTERM.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { test } from 'node:test'

const ROOT_DIR = fileURLToPath(new URL('../', import.meta.url))

/** The first ```ts block after the `## Quick start` heading. */
export function quickStart(readme: string): string {
  const section = readme.slice(readme.indexOf('\n## Quick start'))
  const match = /```ts\n([\s\S]*?)\n```/.exec(section)
  if (match?.[1] === undefined)
    throw new Error('README.md has no ```ts block under "## Quick start"')
  return match[1]
}

test(
  'README quick start: log in, protect a route, a child key, errors, log out, SIGTERM',
  { timeout: 60_000 },
  async () => {
    const code = quickStart(await readFile(new URL('../README.md', import.meta.url), 'utf8'))
    const file = fileURLToPath(
      new URL(`./.tmp-readme-${randomBytes(4).toString('hex')}.ts`, import.meta.url),
    )
    await writeFile(file, code)
    const child = spawn(process.execPath, ['--import', 'tsx', file], {
      cwd: ROOT_DIR,
      env: { ...process.env, PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    try {
      let stderr = ''
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
      const port = await new Promise<number>((resolve, reject) => {
        let stdout = ''
        child.stdout.on('data', (chunk: Buffer) => {
          stdout += chunk.toString()
          const found = /"port":(\d+)/.exec(stdout)?.[1]
          if (found !== undefined) resolve(Number(found))
        })
        child.once('exit', (status) => {
          reject(new Error(`quick start exited with ${String(status)}: ${stderr}`))
        })
      })
      const base = `http://127.0.0.1:${String(port)}`
      const post = (path: string, body?: unknown, token?: string): Promise<Response> =>
        fetch(`${base}${path}`, {
          method: 'POST',
          headers: {
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
            ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        })
      const me = (token: string): Promise<Response> =>
        fetch(`${base}/me`, { headers: { authorization: `Bearer ${token}` } })

      assert.equal((await post('/login', { username: 'alice', password: 'nope' })).status, 401)
      const login = await post('/login', { username: 'alice', password: 'wonderland' })
      assert.equal(login.status, 200)
      const { token } = (await login.json()) as { token: string }
      assert.deepEqual(await (await me(token)).json(), {
        user: 'alice',
        policies: ['default', 'user'],
      })
      assert.equal((await fetch(`${base}/me`)).status, 401)

      const keys = await post('/keys', undefined, token)
      assert.equal(keys.status, 200)
      const { key } = (await keys.json()) as { key: string }
      assert.equal((await me(key)).status, 200)

      // A limited-use key may not create keys: the store's TokenStoreError becomes a 403 with its message.
      const refused = await post('/keys', undefined, key)
      assert.equal(refused.status, 403)
      const body = (await refused.json()) as { errors: string[] }
      assert.equal(body.errors.length, 1)
      assert.notEqual(
        body.errors[0],
        'permission denied',
        'the message is the store error, not the guard',
      )
      assert.ok(!JSON.stringify(body).includes(key))

      assert.equal((await post('/logout', undefined, token)).status, 204)
      assert.equal((await me(token)).status, 403)
      assert.equal((await me(key)).status, 403, 'the child key dies with the session')

      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      assert.equal(await exited, 0, stderr)
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      await rm(file, { force: true })
    }
  },
)
