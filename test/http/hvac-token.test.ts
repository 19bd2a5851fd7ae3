/**
 * The client calls of hvac's own token-auth integration tests (`test_token.py` and the token tests of
 * `test_integration.py`), written afresh, driven by Python's hvac against the dev server's host
 * (createVaultServer, so `LIST` is sent as `LIST`). Lets CI check compatibility without hvac's repository.
 * Skipped, with the reason, when no Python with hvac is found; set `TOKENTREE_PYTHON` to choose the interpreter.
 *
 * Not covered here, with the reason: creating against a role with policies written by `sys/policy` (policies
 * are another helper's work), response wrapping (`wrap_ttl`, another helper's work), and `create_orphan`, which
 * Debian's hvac lacks (`create(no_parent=True)` is used instead).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { TokenStore } from '../../src/index.js'
import { createVaultServer } from '../../src/http/vault-api/server.js'
import { findHvacPython, runHvacScript } from './helpers/hvac.js'
import { listen } from './helpers/servers.js'

/** argv: base URL, root token. Prints `hvac token calls ok` at the end. */
const SCRIPT = String.raw`
import sys
import hvac
from hvac import exceptions

url, root = sys.argv[1], sys.argv[2]
c = hvac.Client(url=url, token=root)

def raises(kind, call, *args, **kwargs):
    try:
        call(*args, **kwargs)
    except kind:
        return
    raise AssertionError('expected %s from %s' % (kind.__name__, call.__name__))

# Clients without a token or with a bad one are not authenticated (403, not 401).
assert not hvac.Client(url=url, token='').is_authenticated()
assert not hvac.Client(url=url, token='not-a-real-token').is_authenticated()
assert c.is_authenticated()

# Token roles: none at first (404 on LIST), create, list, read, create against, delete.
raises(exceptions.InvalidPath, c.auth.token.list_roles)
assert c.auth.token.create_or_update_role('testrole', allowed_policies=['testpolicy']).status_code == 204
assert c.auth.token.list_roles()['data']['keys'] == ['testrole']
role = c.auth.token.read_role('testrole')['data']
assert role['allowed_policies'] == ['testpolicy'] and role['orphan'] is False, role
t = c.auth.token.create(ttl='1h', role_name='testrole', policies=['testpolicy'])['auth']
assert t['policies'] == ['default', 'testpolicy'], t['policies']
c.auth.token.delete_role('testrole')
raises(exceptions.InvalidPath, c.auth.token.list_roles)

# Create, lookup, renew, revoke; children die with their parent.
a = c.auth.token.create(ttl='1h', renewable=True)['auth']
b = hvac.Client(url=url, token=a['client_token']).auth.token.create(ttl='10m')['auth']
assert c.auth.token.lookup(a['client_token'])['data']['id'] == a['client_token']
assert c.auth.token.renew(a['client_token'], increment='2h')['auth']['lease_duration'] == 7200
c.auth.token.revoke(a['client_token'])
raises(exceptions.Forbidden, c.auth.token.lookup, a['client_token'])
raises(exceptions.Forbidden, c.auth.token.lookup, b['client_token'])

# Self operations.
s = hvac.Client(url=url, token=c.auth.token.create(ttl='1h')['auth']['client_token'])
assert s.auth.token.lookup_self()['data']['id'] == s.token
assert s.auth.token.renew_self(increment=600)['auth']['lease_duration'] == 600
s.auth.token.revoke_self()
assert not s.is_authenticated()

# Orphans: revoke-and-orphan keeps the children.
p = c.auth.token.create(ttl='1h')['auth']
k = hvac.Client(url=url, token=p['client_token']).auth.token.create(ttl='1h')['auth']
c.auth.token.revoke_and_orphan_children(p['client_token'])
assert c.auth.token.lookup(k['client_token'])['data']['orphan'] is True
o = c.auth.token.create(ttl='1h', no_parent=True)['auth']
assert o['orphan'] is True

# Accessors.
r = c.auth.token.create(ttl='1h')['auth']
lookup = c.auth.token.lookup_accessor(r['accessor'])['data']
assert lookup['accessor'] == r['accessor'] and not lookup['id']
c.auth.token.revoke_accessor(r['accessor'])
raises(exceptions.InvalidRequest, c.auth.token.lookup_accessor, r['accessor'])
raises(exceptions.Forbidden, c.auth.token.lookup, r['client_token'])

# TTLs: explicit max, plain, periodic.
assert c.auth.token.create(ttl='30m', explicit_max_ttl='5m')['auth']['lease_duration'] == 300
assert c.auth.token.create(ttl='5m')['auth']['lease_duration'] == 300
per = c.auth.token.create(period='30m')['auth']
assert per['lease_duration'] == 1800
assert c.auth.token.lookup(per['client_token'])['data']['period'] == 1800

# Logout, with and without revoking the token.
l = hvac.Client(url=url, token=c.auth.token.create(ttl='1h', renewable=True)['auth']['client_token'])
token = l.token
l.logout(revoke_token=True)
l.token = token
assert not l.is_authenticated()
m = hvac.Client(url=url, token=root)
m.logout()
assert not m.is_authenticated()
assert c.is_authenticated()

print('hvac token calls ok')
`

const found = findHvacPython()
if ('skip' in found) process.stdout.write(`# hvac token test skipped: ${found.skip}\n`)

test(
  "hvac's token-auth calls: roles over LIST, create, lookup, renew, revoke, orphans, accessors, TTLs, logout",
  { skip: 'skip' in found ? found.skip : false, timeout: 60_000 },
  async () => {
    assert.ok('python' in found)
    const store = new TokenStore()
    const root = await store.createRoot()
    const server = await listen(createVaultServer(store))
    try {
      const { code, output } = await runHvacScript(
        found.python,
        SCRIPT,
        server.url,
        root.clientToken,
      )
      assert.equal(code, 0, output)
      assert.match(output, /hvac token calls ok/)
    } finally {
      await server.close()
    }
  },
)
