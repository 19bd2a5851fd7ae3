/**
 * Response wrapping driven by Python's hvac (Debian's `python3-hvac`), on each host (node:http, Express, Koa): the
 * flow of hvac's own wrapping integration tests (`test_wrapped_token_*`, `test_wrapped_client_token_*` of
 * `tests/integration_tests/v1/test_system_backend.py`, and `sys.unwrap` of a `write(..., wrap_ttl=...)` answer as in
 * `tests/integration_tests/api/system_backend/test_wrapping.py`, with `sys/wrapping/wrap` in place of AppRole's
 * secret-id, another auth method). Skipped, with the reason, when no Python with hvac is found; set
 * `TOKENTREE_PYTHON` to choose the interpreter.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { TokenStore } from '../../src/index.js'
import { findHvacPython, runHvacScript } from './helpers/hvac.js'
import { VAULT_HOSTS, listen } from './helpers/servers.js'

/** The flow, in Python. argv: base URL, root token. Prints `hvac wrapping ok` at the end. */
const SCRIPT = String.raw`
import sys
import hvac
from hvac import exceptions

url, root = sys.argv[1], sys.argv[2]

def as_client(token):
    return hvac.Client(url=url, token=token)

c = as_client(root)

def expect(error, call):
    try:
        call()
    except error:
        return
    raise AssertionError('expected %s' % error.__name__)

# wrapped token: success
wrap = c.auth.token.create(wrap_ttl='1m')
assert wrap['auth'] is None and wrap['wrap_info']['ttl'] == 60, wrap
assert wrap['wrap_info']['creation_path'] == 'auth/token/create'
result = c.sys.unwrap(wrap['wrap_info']['token'])
assert result['auth']['client_token']
assert result['auth']['accessor'] == wrap['wrap_info']['wrapped_accessor']
lookup = c.auth.token.lookup(result['auth']['client_token'])
assert result['auth']['client_token'] == lookup['data']['id']

# intercepted: the second unwrap is refused with 400
wrap = c.auth.token.create(wrap_ttl='1m')
c.sys.unwrap(wrap['wrap_info']['token'])
expect(exceptions.InvalidRequest, lambda: c.sys.unwrap(wrap['wrap_info']['token']))

# cleanup: unwrapping leaves the client's token alone
wrap = c.auth.token.create(wrap_ttl='1m')
before = c.token
c.sys.unwrap(wrap['wrap_info']['token'])
assert c.token == before and c.is_authenticated()

# revoked before unwrap: the answer unwraps, the token in it is dead
wrap = c.auth.token.create(wrap_ttl='1m')
c.auth.token.revoke_accessor(wrap['wrap_info']['wrapped_accessor'])
result = c.sys.unwrap(wrap['wrap_info']['token'])
assert result['auth']['client_token']
expect(exceptions.Forbidden, lambda: c.auth.token.lookup(result['auth']['client_token']))

# the wrapping token as the client's token: success, intercept, cleanup, revoke
wrap = c.auth.token.create(wrap_ttl='1m')
w = as_client(wrap['wrap_info']['token'])
result = w.sys.unwrap()
assert result['auth']['client_token']
mine = as_client(result['auth']['client_token'])
assert mine.auth.token.lookup(result['auth']['client_token'])['data']['id'] == result['auth']['client_token']

wrap = c.auth.token.create(wrap_ttl='1m')
w = as_client(wrap['wrap_info']['token'])
w.sys.unwrap()
expect(exceptions.InvalidRequest, lambda: w.sys.unwrap())

wrap = c.auth.token.create(wrap_ttl='1m')
c.auth.token.revoke_accessor(wrap['wrap_info']['wrapped_accessor'])
result = as_client(wrap['wrap_info']['token']).sys.unwrap()
expect(exceptions.Forbidden, lambda: c.auth.token.lookup(result['auth']['client_token']))

# any answer with data: write(..., wrap_ttl=...) then sys.unwrap
result = c.write('sys/wrapping/wrap', wrap_ttl='10s', secret_id='s3cr3t', secret_id_accessor='acc')
assert 'token' in result['wrap_info'] and 's3cr3t' not in str(result)
unwrapped = c.sys.unwrap(result['wrap_info']['token'])
assert unwrapped['data'] == {'secret_id': 's3cr3t', 'secret_id_accessor': 'acc'}, unwrapped

# a header on an answer that cannot be wrapped is refused, and the revoke does not happen
t = c.auth.token.create(ttl='1h')['auth']['client_token']
expect(exceptions.InvalidRequest, lambda: c.write('auth/token/revoke', wrap_ttl='1m', token=t))
assert as_client(t).is_authenticated()

print('hvac wrapping ok')
`

const found = findHvacPython()

for (const [host, makeServer] of Object.entries(VAULT_HOSTS)) {
  test(
    `hvac: response wrapping over ${host} (hvac's wrapped-token tests)`,
    { skip: 'skip' in found ? found.skip : false, timeout: 60_000 },
    async () => {
      assert.ok('python' in found)
      const store = new TokenStore()
      const root = await store.createRoot()
      const server = await listen(makeServer(store))
      try {
        const { code, output } = await runHvacScript(
          found.python,
          SCRIPT,
          server.url,
          root.clientToken,
        )
        assert.equal(code, 0, output)
        assert.match(output, /hvac wrapping ok/)
      } finally {
        await server.close()
        await store.close()
      }
    },
  )
}
