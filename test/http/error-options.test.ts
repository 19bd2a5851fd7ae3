/**
 * The per-request error options `tokenAuth()` leaves for the guards after it: the last `tokenAuth()` on a request
 * decides, including when it has the default options (which are not written for a request without an entry).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { createErrorOptionsRegistry } from '../../src/http/error-format.js'

const onError = (): void => undefined

test('a request without options gets the Vault format and no onError', () => {
  const registry = createErrorOptionsRegistry<typeof onError>()
  const request = {}
  assert.deepEqual(registry.get(request), { format: 'vault', onError: undefined, scope: undefined })
  registry.set(request, { format: 'vault', onError: undefined, scope: undefined })
  assert.deepEqual(registry.get(request), { format: 'vault', onError: undefined, scope: undefined })
})

test('options are kept per request', () => {
  const registry = createErrorOptionsRegistry<typeof onError>()
  const [first, second] = [{}, {}]
  registry.set(first, { format: 'rfc6750', onError: undefined, scope: undefined })
  registry.set(second, { format: 'vault', onError, scope: undefined })
  assert.deepEqual(registry.get(first), { format: 'rfc6750', onError: undefined, scope: undefined })
  assert.deepEqual(registry.get(second), { format: 'vault', onError, scope: undefined })
  assert.deepEqual(registry.get({}), { format: 'vault', onError: undefined, scope: undefined })
})

test('a later tokenAuth with the default options replaces an earlier one', () => {
  const registry = createErrorOptionsRegistry<typeof onError>()
  const request = {}
  registry.set(request, { format: 'rfc6750', onError, scope: undefined })
  registry.set(request, { format: 'vault', onError: undefined, scope: undefined })
  assert.deepEqual(registry.get(request), { format: 'vault', onError: undefined, scope: undefined })
})
