/**
 * A second independent client: Python's hvac (Debian's `python3-hvac`) drives the same flow as the node-vault
 * tests against the node:http host. Skipped, with the reason, when no Python with hvac is found; set
 * `TOKENTREE_PYTHON` to choose the interpreter.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { TokenStore } from '../../src/index.js'
import { createVaultServer } from '../../src/http/vault-api/server.js'
import { findHvacPython, runHvacScript } from './helpers/hvac.js'
import { listen } from './helpers/servers.js'

/** The flow, in Python. argv: base URL, root token. Prints `hvac flow ok` at the end. */
const SCRIPT = String.raw`
import sys
import hvac
from hvac import exceptions

url, root = sys.argv[1], sys.argv[2]

def as_client(token):
    return hvac.Client(url=url, token=token)

c = as_client(root)
assert c.is_authenticated()

# Policies: the sys/policy methods, and the newer sys/policies/acl API (the installed hvac may predate its
# *_acl_policy methods, so those are the same requests through hvac's adapter; LIST as GET ?list=true).
APP = 'path "auth/token/create" { capabilities = ["update"] }\npath "auth/token/revoke-orphan" { capabilities = ["update"] }\n'
c.sys.create_or_update_policy('app', APP)
assert c.sys.read_policy('app')['data']['rules'] == APP
assert c.sys.read_policy('app')['rules'] == APP
listed = c.sys.list_policies()
assert listed['data']['policies'] == ['app', 'default', 'root'], listed
c.sys.create_or_update_policy('tmp', {'path': {'secret/*': {'capabilities': ['read']}}})
assert 'secret/*' in c.sys.read_policy('tmp')['data']['rules']
c.sys.delete_policy('tmp')
try:
    c.sys.read_policy('tmp')
    raise AssertionError('a deleted policy is gone')
except exceptions.InvalidPath:
    pass
try:
    c.sys.delete_policy('default')
    raise AssertionError('default cannot be deleted')
except exceptions.InvalidRequest:
    pass
try:
    c.sys.create_or_update_policy('bad', 'path "x" { capabilities = ["fly"] }')
    raise AssertionError('a malformed policy is refused')
except exceptions.InvalidRequest:
    pass
c.adapter.put('/v1/sys/policies/acl/acl-one', json={'policy': 'path "a/*" { capabilities = ["list"] }'})
assert c.adapter.get('/v1/sys/policies/acl/acl-one')['data'] == {'name': 'acl-one', 'policy': 'path "a/*" { capabilities = ["list"] }'}
assert 'acl-one' in c.adapter.get('/v1/sys/policies/acl', params={'list': 'true'})['data']['keys']
c.adapter.delete('/v1/sys/policies/acl/acl-one')
assert 'acl-one' not in c.adapter.get('/v1/sys/policies/acl', params={'list': 'true'})['data']['keys']

a = c.auth.token.create(policies=['app'], ttl='1h', meta={'team': 'a'})['auth']
assert a['policies'] == ['app', 'default'], a['policies']
assert a['lease_duration'] == 3600 and a['renewable'] is True and a['orphan'] is False

data = as_client(a['client_token']).auth.token.lookup_self()['data']
assert data['path'] == 'auth/token/create' and data['meta'] == {'team': 'a'}
assert isinstance(data['creation_time'], int) and data['expire_time'].endswith('Z')

b = as_client(a['client_token']).auth.token.create(ttl='10m')['auth']
assert b['policies'] == ['app', 'default']
assert c.auth.token.renew(b['client_token'], increment='2h')['auth']['lease_duration'] == 7200
assert as_client(b['client_token']).auth.token.renew_self(increment=600)['auth']['lease_duration'] == 600

c.auth.token.revoke(a['client_token'])
assert not as_client(a['client_token']).is_authenticated()
assert not as_client(b['client_token']).is_authenticated(), 'the child dies with its parent'

p = c.auth.token.create(policies=['app'])['auth']
k = as_client(p['client_token']).auth.token.create()['auth']
try:
    as_client(p['client_token']).auth.token.revoke_and_orphan_children(p['client_token'])
    raise AssertionError('revoke-orphan needs sudo')
except exceptions.InvalidRequest as error:
    assert 'sudo' in str(error)

# Capabilities, by token, by accessor and of the caller itself.
caps = c.sys.get_capabilities(paths=['auth/token/create'], token=p['client_token'])
assert caps['capabilities'] == ['update'] and caps['auth/token/create'] == ['update'], caps
caps = c.sys.get_capabilities(paths=['auth/token/create', 'secret/x'], accessor=p['accessor'])
assert caps['data']['auth/token/create'] == ['update'] and caps['data']['secret/x'] == ['deny'], caps
caps = as_client(p['client_token']).sys.get_capabilities(paths=['auth/token/lookup-self'])
assert caps['capabilities'] == ['read'], caps
assert c.sys.get_capabilities(paths=['anything'])['capabilities'] == ['root']

# A default-only token: its own endpoints, nothing else.
d = c.auth.token.create(policies=['default'])['auth']
dc = as_client(d['client_token'])
assert dc.auth.token.lookup_self()['data']['policies'] == ['default']
for denied in (lambda: dc.auth.token.create(), lambda: dc.auth.token.lookup(p['client_token'])):
    try:
        denied()
        raise AssertionError('default does not allow it')
    except exceptions.Forbidden:
        pass
c.auth.token.revoke_and_orphan_children(p['client_token'])
assert not as_client(p['client_token']).is_authenticated()
assert as_client(k['client_token']).auth.token.lookup_self()['data']['orphan'] is True

c.sys.revoke_prefix('auth/token/create')
assert not as_client(k['client_token']).is_authenticated()
assert c.is_authenticated()

try:
    as_client('hvs.bogus').auth.token.lookup_self()
    raise AssertionError('a bogus token must be refused')
except exceptions.Forbidden as error:
    assert 'hvs.bogus' not in str(error)

print('hvac flow ok')
`

const found = findHvacPython()
if ('skip' in found) process.stdout.write(`# hvac test skipped: ${found.skip}\n`)

test(
  'hvac drives policies, capabilities, create, lookup-self, renew, revoke, revoke-orphan and revoke-prefix',
  {
    skip: 'skip' in found ? found.skip : false,
    timeout: 60_000,
  },
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
      assert.match(output, /hvac flow ok/)
    } finally {
      await server.close()
    }
  },
)
