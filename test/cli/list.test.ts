/**
 * `tokentree list PATH` through the built command: against tokentree's Vault API (token accessors, lease ids,
 * roles, the answers for nothing there and for a refusal), and against a stand-in that records the request, so the
 * client is pinned to what Vault's `vault list` sends.
 */
import assert from 'node:assert/strict'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { after, before, describe, test } from 'node:test'

import { folderPath, keysTable, listedKeys } from '../../src/cli/list.js'
import { listen, type Running } from '../http/helpers/servers.js'
import { MISSING_BUILD, requireBuild, tokentree, type RunResult } from './helpers/run.js'
import { servedStore } from './helpers/served-store.js'

test('list: the path becomes a folder, keys print sorted under "Keys", and an empty list is no list', () => {
  assert.equal(folderPath('auth/token/accessors'), 'auth/token/accessors/')
  assert.equal(folderPath('/auth/token/accessors/'), 'auth/token/accessors/')
  assert.equal(keysTable(['b', 'a-', 'A']), 'Keys\n----\nA\na-\nb\n')
  assert.deepEqual(listedKeys({ data: { keys: ['x', 1] } }), ['x', '1'])
  assert.equal(listedKeys({ data: { keys: [] } }), null)
  assert.equal(listedKeys({ data: {} }), null)
  assert.equal(listedKeys(null), null)
})

describe('tokentree list', { skip: MISSING_BUILD }, () => {
  const served = servedStore()
  const run = (args: string[], token?: string): Promise<RunResult> =>
    served.run(['list', ...args], token)

  test('auth/token/accessors: every live token, sorted in a table, as an array in JSON', async () => {
    const kept = await served.store.create({ parent: served.root, policies: ['web'] })
    const gone = await served.store.create({ parent: served.root, policies: ['web'] })
    await served.store.revoke(gone.clientToken)
    const live = (await served.store.list({ limit: 1000 })).tokens.map((t) => t.accessor)
    assert.ok(live.includes(kept.accessor))

    const table = await run(['auth/token/accessors'])
    assert.equal(table.code, 0, table.stderr)
    assert.equal(table.stdout, keysTable(live))
    assert.doesNotMatch(table.stdout, new RegExp(gone.accessor))

    const json = await run(['-format=json', '/auth/token/accessors/'])
    assert.equal(json.code, 0, json.stderr)
    assert.deepEqual((JSON.parse(json.stdout) as string[]).sort(), [...live].sort())
  })

  test('lease ids under a prefix, and token roles', async () => {
    const owner = await served.store.create({ parent: served.root, policies: ['web'] })
    const lease = await served.store.createLease(owner.clientToken, { path: 'database/creds/web' })
    const leases = await run(['sys/leases/lookup/database/creds/web'])
    assert.equal(leases.code, 0, leases.stderr)
    assert.equal(leases.stdout, keysTable([lease.leaseId.slice('database/creds/web/'.length)]))

    await served.store.roles.write('deployer', { allowedPolicies: ['deploy'] })
    await served.store.roles.write('auditor', { allowedPolicies: ['audit'] })
    const roles = await run(['auth/token/roles'])
    assert.equal(roles.code, 0, roles.stderr)
    assert.equal(roles.stdout, 'Keys\n----\nauditor\ndeployer\n')
  })

  test('nothing there: "No value found at PATH/" (in JSON, {}) and exit status 2', async () => {
    const table = await run(['sys/leases/lookup/nothing/here'])
    assert.equal(table.code, 2)
    assert.equal(table.stdout, '')
    assert.equal(table.stderr, 'No value found at sys/leases/lookup/nothing/here/\n')
    const json = await run(['-format=json', 'sys/leases/lookup/nothing/here'])
    assert.equal(json.code, 2)
    assert.equal(json.stdout, '{}\n')
  })

  test('a refusal is a remote error (2) with the server message and no token; no path is a local one (1)', async () => {
    const web = await served.store.create({ parent: served.root, policies: ['web'] })
    const refused = await run(['auth/token/accessors'], web.clientToken)
    assert.equal(refused.code, 2)
    // Vault's wording: the path listed, then the API's error.
    assert.match(refused.stderr, /^Error listing auth\/token\/accessors\/: /)
    assert.match(refused.stderr, /permission denied/)
    assert.doesNotMatch(refused.stderr, new RegExp(web.clientToken))
    const missing = await run([])
    assert.equal(missing.code, 1)
    assert.match(missing.stderr, /^Not enough arguments \(expected 1, got 0\)/)
  })
})

describe('tokentree list against a recording stand-in', { skip: MISSING_BUILD }, () => {
  const seen: { method: string; url: string; token: string | undefined }[] = []
  let standIn: Running

  before(async () => {
    requireBuild()
    standIn = await listen((req: IncomingMessage, res: ServerResponse) => {
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        token: req.headers['x-vault-token'] as string | undefined,
      })
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ data: { keys: ['b/', 'a b'] } }))
    })
  })
  after(async () => {
    await standIn.close()
  })

  test("sends Vault's listing request: GET PATH/?list=true, segments encoded, with the token", async () => {
    const result = await tokentree(['list', 'sys/leases/lookup/odd name'], {
      env: { VAULT_ADDR: standIn.url, VAULT_TOKEN: 's.standin' },
    })
    assert.equal(result.code, 0, result.stderr)
    assert.equal(result.stdout, 'Keys\n----\na b\nb/\n')
    assert.deepEqual(seen, [
      { method: 'GET', url: '/v1/sys/leases/lookup/odd%20name/?list=true', token: 's.standin' },
    ])
  })
})
