/**
 * Built-ins: policy-name normalisation and checks as Vault does them, and the trimmed `default` policy text.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'

import {
  DEFAULT_POLICY,
  DEFAULT_POLICY_TEXT,
  ROOT_POLICY,
  normalizePolicyName,
  parsePolicy,
} from '../../src/acl/index.js'
import { TokenStoreError } from '../../src/errors.js'

test('normalizePolicyName(): trims and lower-cases, as Vault', () => {
  assert.equal(normalizePolicyName('  Deploy '), 'deploy')
  assert.equal(normalizePolicyName('DEFAULT'), DEFAULT_POLICY)
  assert.equal(normalizePolicyName('Root'), ROOT_POLICY)
  assert.equal(normalizePolicyName('team/app-ç'), 'team/app-ç')
  assert.equal(normalizePolicyName('x'.repeat(256)), 'x'.repeat(256))
  assert.equal(normalizePolicyName('team-\u{1f600}'), 'team-\u{1f600}')
})

test('normalizePolicyName(): refuses non-strings, empty, over-long and control characters', () => {
  for (const name of [
    '',
    '   ',
    'x'.repeat(257),
    'a\nb',
    'a\u0000',
    '\u007f',
    '\u009b',
    'a\ud800',
    '\udc00b',
    42,
    null,
    undefined,
    ['a'],
  ]) {
    assert.throws(
      () => normalizePolicyName(name as string),
      (error: unknown) => error instanceof TokenStoreError && error.code === 'invalid_request',
      JSON.stringify(name),
    )
  }
})

test("DEFAULT_POLICY_TEXT: Vault's default, without the endpoints tokentree does not serve", () => {
  const rules = parsePolicy(DEFAULT_POLICY_TEXT).rules
  for (const rule of rules) {
    assert.deepEqual(
      rule.capabilities,
      rule.path === 'auth/token/lookup-self' ? ['read'] : ['update'],
    )
    assert.doesNotMatch(rule.path, /cubbyhole|identity|sys\/tools|sys\/internal|control-group/)
  }
  assert.ok(rules.some((rule) => rule.path === 'sys/capabilities-self'))
})
