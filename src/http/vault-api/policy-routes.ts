/**
 * ACL policies and capabilities over HTTP, with Vault's request and response shapes: `sys/policy` (list),
 * `sys/policy/:name` (read, write, delete), `sys/policies/acl` (LIST), `sys/policies/acl/:name`, and
 * `sys/capabilities`, `sys/capabilities-self`, `sys/capabilities-accessor`, over `store.policies` and
 * `store.capabilities*`.
 *
 * The older `sys/policy` and `sys/capabilities*` answers repeat their `data` at the top of the body, as Vault's do
 * for the clients written against them (`response.rules`, `response.capabilities`).
 *
 * @packageDocumentation
 */
import { normalizePolicyName } from '../../acl/builtin.js'
import { TokenStoreError, invalidRequest } from '../../errors.js'
import type { PolicyEntry } from '../../policy-store.js'
import { errorResult, type HttpResult } from '../bearer.js'
import { NO_CONTENT, envelope } from './responses.js'
import { required, route, type Route } from './route.js'

/** Fields of a policy write. `rules` is the older name of `policy`; `name` repeats the path's (node-vault sends it). */
const WRITE_FIELDS = { policy: 'string', rules: 'string', name: 'string' } as const

/** Fields of the capabilities endpoints: `paths`, or the older `path`, each a list or a comma-separated string. */
const CAPABILITY_FIELDS = { paths: 'strings', path: 'strings' } as const

/** A `sys/*` answer with its `data` also at the top of the body, as Vault answers the older endpoints. */
function flattened(data: Record<string, unknown>): HttpResult {
  const answer = envelope({ data, mountType: 'system' })
  return { ...answer, body: { ...data, ...(answer.body as Record<string, unknown>) } }
}

/** The policy text of a write. */
function policyText(fields: { readonly policy?: string; readonly rules?: string }): string {
  return required(fields.policy ?? fields.rules, "'policy' parameter not supplied or empty")
}

/** The paths asked about, deduplicated in order. */
function pathsOf(fields: { readonly paths?: string[]; readonly path?: string[] }): string[] {
  const paths = fields.paths !== undefined && fields.paths.length > 0 ? fields.paths : fields.path
  if (paths === undefined || paths.length === 0) throw invalidRequest('paths must be supplied')
  return [...new Set(paths.map((path) => path.trim()))]
}

/** Vault's capabilities answer: each path's capabilities, and `capabilities` alone when one path was asked. */
async function capabilitiesAnswer(
  paths: readonly string[],
  of: (path: string) => Promise<string[]>,
): Promise<HttpResult> {
  // Without a prototype, a path named `__proto__` is a key like any other rather than a prototype to set.
  const data = Object.create(null) as Record<string, unknown>
  for (const path of paths) data[path] = await of(path)
  if (paths.length === 1) data.capabilities = data[paths[0] as string]
  return flattened(data)
}

/** A store call about a named token or accessor: an unknown one is 400, as Vault answers, not 403. */
async function aboutSubject<T>(call: Promise<T>, message: string): Promise<T> {
  try {
    return await call
  } catch (error) {
    if (error instanceof TokenStoreError && error.code === 'invalid_token')
      throw invalidRequest(message)
    throw error
  }
}

/** `GET sys/policy` and `LIST sys/policy`: every name, `root` and `default` included. */
const listPolicies: Route = route({
  operation: 'list-policies',
  ops: ['read', 'list'],
  fields: {},
  async run({ store }) {
    const keys = await store.policies.list()
    return flattened({ keys, policies: keys })
  },
})

/**
 * Reads, writes or deletes one policy. A read of an unknown policy is 404 with no messages, as Vault answers;
 * writes and deletes answer 204. `shape` is how a read answers: `rules` (`sys/policy/:name`) or `policy`
 * (`sys/policies/acl/:name`).
 */
function policyRoute(shape: 'rules' | 'policy'): Route {
  const read = (entry: PolicyEntry): HttpResult =>
    shape === 'rules'
      ? flattened({ name: entry.name, rules: entry.text })
      : envelope({ data: { name: entry.name, policy: entry.text }, mountType: 'system' })
  return route({
    operation: 'write-policy',
    operationFor: { read: 'read-policy', delete: 'delete-policy' },
    ops: ['read', 'update', 'delete'],
    fields: WRITE_FIELDS,
    aclParam: storedPolicyName,
    async run({ store, fields, param, operation }) {
      if (operation === 'read') {
        const entry = await store.policies.read(param)
        return entry === null ? errorResult(404) : read(entry)
      }
      if (operation === 'delete') {
        await store.policies.delete(param)
        return NO_CONTENT
      }
      await store.policies.write(param, policyText(fields))
      return NO_CONTENT
    },
  })
}

/**
 * The name under which the store reads, writes or deletes a policy (trimmed, lower-cased): the ACL is asked about
 * that one, or a rule on `sys/policy/admin` could be stepped around as `sys/policy/ADMIN`. A name the store
 * refuses is passed on as sent (the request then fails with 400 after the access check, as any other).
 */
function storedPolicyName(param: string): string {
  try {
    return normalizePolicyName(param)
  } catch {
    return param
  }
}

/** `LIST sys/policies/acl`: `data.keys`. */
const listAclPolicies: Route = route({
  operation: 'list-policies',
  ops: ['list'],
  fields: {},
  async run({ store }) {
    return envelope({ data: { keys: await store.policies.list() }, mountType: 'system' })
  },
})

/** `sys/capabilities`: a token's capabilities on paths. Spends none of that token's uses. */
const capabilities: Route = route({
  operation: 'capabilities',
  ops: ['update'],
  fields: { ...CAPABILITY_FIELDS, token: 'string' },
  async run({ store, fields }) {
    const token = required(fields.token, "'token' not supplied")
    return capabilitiesAnswer(pathsOf(fields), (path) =>
      aboutSubject(store.capabilities(token, path), 'invalid token'),
    )
  },
})

/** `sys/capabilities-self`: the calling token's capabilities (in Vault's `default` policy). */
const capabilitiesSelf: Route = route({
  operation: 'capabilities-self',
  ops: ['update'],
  fields: { ...CAPABILITY_FIELDS, token: 'string' },
  async run({ store, fields, callerToken }) {
    return capabilitiesAnswer(pathsOf(fields), (path) =>
      aboutSubject(store.capabilities(callerToken, path), 'invalid token'),
    )
  },
})

/** `sys/capabilities-accessor`: the capabilities of the token with this accessor. */
const capabilitiesAccessor: Route = route({
  operation: 'capabilities-accessor',
  ops: ['update'],
  fields: { ...CAPABILITY_FIELDS, accessor: 'string' },
  async run({ store, fields }) {
    const accessor = required(fields.accessor, "'accessor' not supplied")
    return capabilitiesAnswer(pathsOf(fields), (path) =>
      aboutSubject(store.capabilitiesAccessor(accessor, path), 'invalid accessor'),
    )
  },
})

/** The policy and capabilities routes with a fixed path. */
export const POLICY_ROUTES: ReadonlyMap<string, Route> = new Map([
  ['sys/policy', listPolicies],
  ['sys/policy/', listPolicies],
  ['sys/policies/acl', listAclPolicies],
  ['sys/policies/acl/', listAclPolicies],
  ['sys/capabilities', capabilities],
  ['sys/capabilities-self', capabilitiesSelf],
  ['sys/capabilities-accessor', capabilitiesAccessor],
])

/** The policy routes whose path ends with the policy's name, by the base the name follows. */
export const POLICY_PARAM_ROUTES: ReadonlyMap<string, Route> = new Map([
  ['sys/policy/', policyRoute('rules')],
  ['sys/policies/acl/', policyRoute('policy')],
])
