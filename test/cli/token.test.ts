/**
 * `tokentree token …` through the built command (dist/cli.js), against the Vault API served over a store in this
 * process (the server `tokentree server -dev` runs; test/cli/server.test.ts starts that one).
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'

import { call } from '../http/helpers/servers.js'
import { MISSING_BUILD, tokentree, type RunResult } from './helpers/run.js'
import { servedStore } from './helpers/served-store.js'

interface AuthAnswer {
  auth: {
    client_token: string
    accessor: string
    policies: string[]
    metadata: Record<string, string> | null
    lease_duration: number
    orphan: boolean
  }
}
interface LookupAnswer {
  data: Record<string, unknown> & { policies: string[]; accessor: string; ttl: number }
}

describe('tokentree token', { skip: MISSING_BUILD }, () => {
  // The ACL decides, as in Vault: a `web` token may create children (the `default` policy alone may not).
  const served = servedStore(async (store) => {
    await store.policies.write('web', 'path "auth/token/create" { capabilities = ["update"] }')
  })
  /** Runs the command as root (or as `token`) against the test's server. */
  const run = (args: string[], token?: string): Promise<RunResult> => served.run(args, token)
  const createJson = async (args: string[], token?: string): Promise<AuthAnswer> => {
    const result = await run(['token', 'create', '-format=json', ...args], token)
    assert.equal(result.code, 0, result.stderr)
    return JSON.parse(result.stdout) as AuthAnswer
  }
  const usable = async (token: string): Promise<boolean> =>
    (await served.store.lookup(token)) !== null

  test('token create: repeatable -policy, -metadata k=v, -ttl; -format=json prints the API answer', async () => {
    const answer = await createJson([
      '-policy=web',
      '-policy',
      'ops',
      '-metadata',
      'user=alice',
      '--metadata=team=a=b',
      '-ttl=1h',
    ])
    assert.deepEqual(answer.auth.policies, ['default', 'ops', 'web'])
    assert.deepEqual(answer.auth.metadata, { user: 'alice', team: 'a=b' })
    assert.equal(answer.auth.lease_duration, 3600)
    assert.ok(await usable(answer.auth.client_token))
  })

  test('token create: --flag value and -flag=value forms, booleans alone or =false', async () => {
    const answer = await createJson([
      '--policy',
      'web',
      '--use-limit',
      '3',
      '-orphan',
      '-no-default-policy=true',
      '-renewable=false',
      '-display-name=ci',
      '-explicit-max-ttl=2h',
      '--ttl',
      '30m',
    ])
    assert.equal(answer.auth.orphan, true)
    assert.deepEqual(answer.auth.policies, ['web'])
    const info = await served.store.lookup(answer.auth.client_token)
    assert.ok(info)
    assert.equal(info.numUses, 3)
    assert.equal(info.renewable, false)
    assert.equal(info.explicitMaxTtl, 7200)
    assert.match(info.displayName, /ci/)
  })

  test('token create: the table shows Vault rows; -field=token prints the token alone', async () => {
    const table = await run(['token', 'create', '-policy=web', '-ttl=90m', '-metadata=user=bob'])
    assert.equal(table.code, 0, table.stderr)
    const lines = table.stdout.trimEnd().split('\n')
    assert.match(lines[0] ?? '', /^Key\s+Value$/)
    assert.match(table.stdout, /^token\s+hvs\.\S+$/m)
    assert.match(table.stdout, /^token_duration\s+1h30m$/m)
    assert.match(table.stdout, /^token_policies\s+\[default web\]$/m)
    assert.match(table.stdout, /^token_meta_user\s+bob$/m)
    const field = await run(['token', 'create', '-policy=web', '-field=token'])
    assert.equal(field.code, 0, field.stderr)
    assert.match(field.stdout, /^hvs\.[\w-]+$/) // no newline when stdout is not a terminal, as Vault
    assert.ok(await usable(field.stdout))
    const missing = await run(['token', 'create', '-field=nope'])
    assert.equal(missing.code, 1)
    assert.match(missing.stderr, /Field "nope" not present/)
  })

  test('token create -role and -period (root) and -type=batch', async () => {
    const role = await call(`${served.url}/v1/auth/token/roles/ci`, {
      token: served.root,
      body: { allowed_policies: ['deploy'], orphan: true },
    })
    assert.ok(role.status < 300, role.text)
    const byRole = await createJson(['-role=ci', '-policy=deploy'])
    assert.equal(byRole.auth.orphan, true)
    assert.deepEqual(byRole.auth.policies, ['default', 'deploy'])
    const periodic = await createJson(['-period=10m'])
    assert.equal((await served.store.lookup(periodic.auth.client_token))?.period, 600)
    const batch = await run(['token', 'create', '-type=batch', '-policy=web', '-field=token'])
    assert.equal(batch.code, 0, batch.stderr)
    assert.match(batch.stdout, /^hvb\./)
  })

  test('token lookup: self, a token, -accessor; never spends a use', async () => {
    const self = await run(['token', 'lookup'])
    assert.equal(self.code, 0, self.stderr)
    assert.match(self.stdout, /^policies\s+\[root\]$/m)
    assert.match(self.stdout, /^ttl\s+0s$/m)
    const child = await createJson(['-policy=web', '-use-limit=2', '-ttl=2h'])
    const byToken = await run(['token', 'lookup', '-format=json', child.auth.client_token])
    assert.equal(byToken.code, 0, byToken.stderr)
    const looked = JSON.parse(byToken.stdout) as LookupAnswer
    assert.equal(looked.data.accessor, child.auth.accessor)
    assert.equal(looked.data.num_uses, 2)
    const byAccessor = await run([
      'token',
      'lookup',
      '-accessor',
      '-field=policies',
      '--', // an accessor may begin with '-'; '--' ends the flags, as in Vault's CLI
      child.auth.accessor,
    ])
    assert.equal(byAccessor.stdout, '[default web]')
    assert.equal((await served.store.lookup(child.auth.client_token))?.numUses, 2)
    const table = await run(['token', 'lookup', child.auth.client_token])
    assert.match(table.stdout, /^ttl\s+(1h59m\d+s|2h)$/m)
  })

  test('token renew: a token with -increment, -accessor, and self', async () => {
    const child = await createJson(['-policy=web', '-ttl=10m'])
    const renewed = await run([
      'token',
      'renew',
      '-increment=30m',
      '-format=json',
      child.auth.client_token,
    ])
    assert.equal(renewed.code, 0, renewed.stderr)
    assert.equal((JSON.parse(renewed.stdout) as AuthAnswer).auth.lease_duration, 1800)
    const byAccessor = await run([
      'token',
      'renew',
      '-i',
      '20m',
      '-accessor',
      '--',
      child.auth.accessor,
    ])
    assert.equal(byAccessor.code, 0, byAccessor.stderr)
    assert.match(byAccessor.stdout, /^token_duration\s+20m$/m)
    assert.doesNotMatch(byAccessor.stdout, /hvs\./, 'renewing by accessor must not print the token')
    const self = await run(
      ['token', 'renew', '-increment=15m', '-field=token_duration'],
      child.auth.client_token,
    )
    assert.equal(self.code, 0, self.stderr)
    assert.equal(self.stdout, '15m')
  })

  test('token revoke: a token and its children, -self, -accessor, -mode=orphan, -mode=path', async () => {
    const parent = await createJson(['-policy=web'])
    const child = await createJson(['-policy=web'], parent.auth.client_token)
    const revoked = await run(['token', 'revoke', parent.auth.client_token])
    assert.equal(revoked.code, 0, revoked.stderr)
    assert.equal(revoked.stdout, 'Success! Revoked token (if it existed)\n')
    assert.equal(await usable(child.auth.client_token), false)

    const self = await createJson(['-policy=web'])
    assert.equal((await run(['token', 'revoke', '-self'], self.auth.client_token)).code, 0)
    assert.equal(await usable(self.auth.client_token), false)

    const byAccessor = await createJson(['-policy=web'])
    assert.equal(
      (await run(['token', 'revoke', '-accessor', '--', byAccessor.auth.accessor])).code,
      0,
    )
    assert.equal(await usable(byAccessor.auth.client_token), false)

    const top = await createJson(['-policy=web'])
    const kept = await createJson(['-policy=web'], top.auth.client_token)
    assert.equal((await run(['token', 'revoke', '-mode=orphan', top.auth.client_token])).code, 0)
    assert.equal(await usable(top.auth.client_token), false)
    assert.equal(await usable(kept.auth.client_token), true)

    const underPath = await createJson(['-policy=web'])
    const pathRun = await run(['token', 'revoke', '-mode=path', 'auth/token/create'])
    assert.equal(pathRun.code, 0, pathRun.stderr)
    assert.equal(await usable(underPath.auth.client_token), false)
    assert.equal(await usable(served.root), true)
  })

  test('usage errors exit 1 with the help on stderr; server errors exit 2; no token ever on stderr', async () => {
    // The full list of usage errors is in test/cli/main.test.ts (in-process); two go through the binary here.
    const cases: [string[], RegExp][] = [
      [['token', 'create', '-bogus'], /flag provided but not defined: -bogus/],
      [['frobnicate'], /Unknown command/],
    ]
    for (const [args, message] of cases) {
      const result = await run(args)
      assert.equal(result.code, 1, `${args.join(' ')}: ${result.stderr}`)
      assert.match(result.stderr, message)
      assert.equal(result.stdout, '')
    }
    const secret = (await createJson(['-policy=web'])).auth.client_token
    await run(['token', 'revoke', secret])
    const remote = [
      await run(['token', 'lookup', secret]),
      await run(['token', 'renew', secret]),
      await run(['token', 'lookup'], secret),
      await run(
        ['token', 'create', '-policy=root'],
        (await createJson(['-policy=web'])).auth.client_token,
      ),
    ]
    for (const result of remote) {
      assert.equal(result.code, 2, result.stderr)
      assert.match(result.stderr, /^Error [a-z ]+: Error making API request\./)
      assert.match(result.stderr, /Code: 40\d/)
      assert.ok(!result.stderr.includes(secret), 'stderr must not contain the token')
      assert.ok(!result.stderr.includes(served.root), 'stderr must not contain the calling token')
    }
    const down = await tokentree(['token', 'lookup'], {
      env: { VAULT_ADDR: 'http://127.0.0.1:1', VAULT_TOKEN: served.root },
    })
    assert.equal(down.code, 2)
    assert.ok(!down.stderr.includes(served.root))
  })

  test('the token comes from ~/.vault-token when VAULT_TOKEN is unset', async () => {
    const home = await mkdtemp(join(tmpdir(), 'tokentree-home-'))
    try {
      await writeFile(join(home, '.vault-token'), `${served.root}\n`)
      const result = await tokentree(['token', 'lookup', '-field=policies'], {
        home,
        env: { VAULT_ADDR: served.url },
      })
      assert.equal(result.code, 0, result.stderr)
      assert.equal(result.stdout, '[root]')
    } finally {
      await rm(home, { recursive: true, force: true })
    }
  })
})
