/**
 * `tokentree server -dev` and `tokentree migrate` through the built command: the banner, Vault's flags, a token
 * created through it, a clean stop (status 0) on SIGTERM and SIGINT, also under `npm start`, and the shared
 * storages (skipped with a printed reason when Redis or PostgreSQL is absent, unless TOKENTREE_REQUIRE_SERVICES=1).
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, test } from 'node:test'

import pg from 'pg'

import { DATABASE_URL, REDIS_URL, skipReason, uniqueSuffix } from '../storage/helpers/services.js'
import {
  BIN,
  MISSING_BUILD,
  requireBuild,
  startServer,
  stopChild,
  tokentree,
  waitUntilDown,
} from './helpers/run.js'

const LISTEN = '-dev-listen-address=127.0.0.1:0'

describe('tokentree server -dev', { skip: MISSING_BUILD }, () => {
  test('serves the API with -dev-root-token-id; token create through it; exits 0 on SIGTERM', async () => {
    requireBuild()
    const server = await startServer(process.execPath, [
      BIN,
      'server',
      '-dev',
      LISTEN,
      '--dev-root-token-id',
      'dev-root',
    ])
    try {
      assert.equal(server.rootToken, 'dev-root')
      assert.match(server.output(), /export VAULT_ADDR='http:\/\/127\.0\.0\.1:\d+'/)
      const created = await tokentree(['token', 'create', '-policy=web', '-format=json'], {
        env: { VAULT_ADDR: server.address, VAULT_TOKEN: 'dev-root' },
      })
      assert.equal(created.code, 0, created.stderr)
      assert.deepEqual(
        (JSON.parse(created.stdout) as { auth: { policies: string[] } }).auth.policies,
        ['default', 'web'],
      )
    } finally {
      assert.deepEqual(await stopChild(server.child, 'SIGTERM'), { code: 0, signal: null })
    }
    assert.match(server.output(), /SIGTERM received, shutting down/)
  })

  test('VAULT_DEV_ROOT_TOKEN_ID and VAULT_DEV_LISTEN_ADDRESS from the environment; exits 0 on SIGINT', async () => {
    requireBuild()
    const server = await startServer(process.execPath, [BIN, 'server', '-dev'], {
      VAULT_DEV_ROOT_TOKEN_ID: 'env-root',
      VAULT_DEV_LISTEN_ADDRESS: '127.0.0.1:0',
    })
    assert.equal(server.rootToken, 'env-root')
    assert.deepEqual(await stopChild(server.child, 'SIGINT'), { code: 0, signal: null })
  })

  test('npm start runs it, and a SIGTERM to npm stops the server', async () => {
    requireBuild()
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
    const server = await startServer(npm, ['start', '--silent', '--', LISTEN])
    await stopChild(server.child, 'SIGTERM')
    await waitUntilDown(server.address)
    assert.match(server.output(), /SIGTERM received, shutting down/)
  })

  test('a second start on the same address fails with status 1', async () => {
    requireBuild()
    const server = await startServer(process.execPath, [BIN, 'server', '-dev', LISTEN])
    try {
      const listen = `-dev-listen-address=${server.address.replace('http://', '')}`
      const second = await tokentree(['server', '-dev', listen])
      assert.equal(second.code, 1)
      assert.match(second.stderr, /EADDRINUSE/)
    } finally {
      await stopChild(server.child, 'SIGTERM')
    }
  })
})

/** Starts a dev server on shared storage, creates a token, restarts, and finds the token still there. */
async function sharedStoreRoundTrip(flags: string[]): Promise<void> {
  const env = { TOKENTREE_SECRET: randomBytes(32).toString('hex') }
  const args = [BIN, 'server', '-dev', LISTEN, '-dev-root-token-id=shared-root', ...flags]
  const first = await startServer(process.execPath, args, env)
  let token: string
  try {
    const created = await tokentree(['token', 'create', '-policy=web', '-field=token'], {
      env: { VAULT_ADDR: first.address, VAULT_TOKEN: 'shared-root' },
    })
    assert.equal(created.code, 0, created.stderr)
    token = created.stdout
  } finally {
    assert.deepEqual(await stopChild(first.child, 'SIGTERM'), { code: 0, signal: null })
  }
  const second = await startServer(process.execPath, args, env)
  try {
    assert.equal(second.rootToken, 'shared-root')
    const looked = await tokentree(['token', 'lookup', '-field=policies', token], {
      env: { VAULT_ADDR: second.address, VAULT_TOKEN: 'shared-root' },
    })
    assert.equal(looked.code, 0, looked.stderr)
    assert.equal(looked.stdout, '[default web]')
  } finally {
    assert.deepEqual(await stopChild(second.child, 'SIGTERM'), { code: 0, signal: null })
  }
}

describe(
  'tokentree server -dev on shared storage, and migrate',
  { skip: MISSING_BUILD },
  async () => {
    const redisSkip = await skipReason('Redis', REDIS_URL, 6379)
    const pgSkip = await skipReason('PostgreSQL', DATABASE_URL, 5432)

    test(
      '-redis-url with a secret the store refuses: exits 1 at once, the connection closed',
      { skip: redisSkip ?? false, timeout: 30_000 },
      async () => {
        requireBuild()
        const started = Date.now()
        const result = await tokentree(['server', '-dev', LISTEN, `-redis-url=${REDIS_URL}`], {
          env: { TOKENTREE_SECRET: 'short' },
        })
        assert.equal(result.code, 1, result.stderr)
        assert.match(result.stderr, /secret/i)
        assert.ok(Date.now() - started < 10_000, 'the process ended on its own')
      },
    )

    test('-redis-url: tokens outlive a restart', { skip: redisSkip ?? false }, async () => {
      requireBuild()
      const prefix = `tokentree-cli-${uniqueSuffix()}:`
      try {
        await sharedStoreRoundTrip([`-redis-url=${REDIS_URL}`, `-redis-key-prefix=${prefix}`])
      } finally {
        const { Redis } = await import('ioredis')
        const redis = new Redis(REDIS_URL)
        const keys = await redis.keys(`${prefix}*`)
        if (keys.length > 0) await redis.del(...keys)
        await redis.quit()
      }
    })

    test(
      'migrate, then -postgres-url: tokens outlive a restart',
      { skip: pgSkip ?? false },
      async () => {
        requireBuild()
        const schema = `cli_${uniqueSuffix()}`
        try {
          const migrated = await tokentree([
            'migrate',
            `-postgres-url=${DATABASE_URL}`,
            `-schema=${schema}`,
          ])
          assert.equal(migrated.code, 0, migrated.stderr)
          assert.equal(migrated.stdout, `Success! Migrated schema: ${schema}\n`)
          const again = await tokentree(['migrate', `-schema=${schema}`], { env: { DATABASE_URL } })
          assert.equal(again.code, 0, again.stderr)
          await sharedStoreRoundTrip([
            `-postgres-url=${DATABASE_URL}`,
            `-postgres-schema=${schema}`,
          ])
        } finally {
          const pool = new pg.Pool({ connectionString: DATABASE_URL })
          await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
          await pool.end()
        }
      },
    )

    test('migrate against an unreachable database is a remote error (2)', async () => {
      requireBuild()
      const result = await tokentree([
        'migrate',
        '-postgres-url=postgres://nobody@127.0.0.1:1/none',
      ])
      assert.equal(result.code, 2)
      assert.match(result.stderr, /^Error migrating: PostgreSQL failed during migrate/)
    })
  },
)
