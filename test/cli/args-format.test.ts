/**
 * The command line's pure parts: Vault-style flag parsing (src/cli/args.ts) and Vault's output formats
 * (src/cli/format.ts).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { UsageError, parseArgs } from '../../src/cli/args.js'
import {
  formatField,
  formatSecret,
  humanDuration,
  plainValue,
  secretRows,
} from '../../src/cli/format.js'

const SPEC = { policy: 'list', metadata: 'map', ttl: 'string', orphan: 'boolean' } as const

test('parseArgs(): -flag=v, -flag v, --flag=v and --flag v all read the same', () => {
  for (const argv of [['-ttl=1h'], ['-ttl', '1h'], ['--ttl=1h'], ['--ttl', '1h']]) {
    assert.equal(parseArgs(argv, SPEC).strings.get('ttl'), '1h', argv.join(' '))
  }
})

test('parseArgs(): lists and maps repeat; booleans stand alone or take =true/=false; -- ends flags', () => {
  const parsed = parseArgs(
    [
      '-policy=a',
      'pos',
      '--policy',
      'b',
      '-metadata',
      'k=v=w',
      '-metadata=x=',
      '-orphan',
      '--',
      '-ttl',
    ],
    SPEC,
  )
  assert.deepEqual(parsed.lists.get('policy'), ['a', 'b'])
  assert.deepEqual({ ...parsed.maps.get('metadata') }, { k: 'v=w', x: '' })
  assert.equal(parsed.booleans.get('orphan'), true)
  assert.deepEqual(parsed.positionals, ['pos', '-ttl'])
  assert.equal(parseArgs(['-orphan=false'], SPEC).booleans.get('orphan'), false)
  assert.equal(parseArgs(['--help'], SPEC).help, true)
  assert.equal(parseArgs(['-h'], SPEC).help, true)
})

test('parseArgs(): unknown flags, missing values, bad booleans and bad pairs are UsageErrors', () => {
  for (const argv of [
    ['-nope'],
    ['-ttl'],
    ['-orphan=yes'],
    ['-metadata', 'novalue'],
    ['-metadata=' + '=v'],
    ['-__proto__=x'],
  ]) {
    assert.throws(() => parseArgs(argv, SPEC), UsageError, argv.join(' '))
  }
})

test('humanDuration(): Vault trims zero units', () => {
  const cases: [number, string][] = [
    [0, '0s'],
    [59, '59s'],
    [60, '1m'],
    [3600, '1h'],
    [5400, '1h30m'],
    [3605, '1h0m5s'],
    [2764800, '768h'],
    [3599, '59m59s'],
  ]
  for (const [seconds, text] of cases) assert.equal(humanDuration(seconds), text)
})

test("plainValue(): Go's %v for lists, maps and null", () => {
  assert.equal(plainValue(['default', 'web']), '[default web]')
  assert.equal(plainValue({ b: 1, a: 'x' }), 'map[a:x b:1]')
  assert.equal(plainValue(null), '<nil>')
  assert.equal(plainValue([]), '[]')
})

test('secretRows()/formatSecret(): auth rows in Vault order, data sorted with durations humanised', () => {
  const secret = {
    lease_duration: 0,
    auth: {
      client_token: 'hvs.x',
      accessor: 'acc',
      policies: ['default', 'web'],
      token_policies: ['default', 'web'],
      metadata: { user: 'alice' },
      lease_duration: 3600,
      renewable: true,
    },
  }
  assert.deepEqual(
    secretRows(secret).map(([k]) => k),
    [
      'token',
      'token_accessor',
      'token_duration',
      'token_renewable',
      'token_policies',
      'identity_policies',
      'policies',
      'token_meta_user',
    ],
  )
  const table = formatSecret(
    { data: { ttl: 90, policies: ['root'], explicit_max_ttl: 0, id: 'x' } },
    'table',
  )
  assert.equal(
    table,
    'Key                 Value\n---                 -----\nexplicit_max_ttl    0s\nid                  x\npolicies            [root]\nttl                 1m30s\n',
  )
  assert.equal(formatSecret({ data: { a: 1 } }, 'json'), '{\n  "data": {\n    "a": 1\n  }\n}\n')
  const renewal = secretRows({ lease_id: 'db/creds/x', lease_duration: 1800, renewable: true })
  assert.deepEqual(renewal, [
    ['lease_id', 'db/creds/x'],
    ['lease_duration', '30m'],
    ['lease_renewable', true],
  ])
})

test('formatField(): auth fields by their table names, then data, then the answer', () => {
  const secret = {
    auth: { client_token: 'hvs.t', accessor: 'a', lease_duration: 60 },
    data: { n: 2 },
  }
  assert.equal(formatField(secret, 'token', 'table'), 'hvs.t')
  assert.equal(formatField(secret, 'token_duration', 'table'), '1m')
  assert.equal(formatField({ data: { policies: ['a', 'b'] } }, 'policies', 'table'), '[a b]')
  assert.equal(formatField({ data: { policies: ['a'] } }, 'policies', 'json'), '[\n  "a"\n]\n')
  assert.equal(formatField({ lease_id: 'l' }, 'lease_id', 'table'), 'l')
  assert.throws(() => formatField(secret, 'nope', 'table'), /Field "nope" not present/)
})
