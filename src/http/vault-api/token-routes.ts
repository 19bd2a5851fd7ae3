/**
 * The `auth/token/*` endpoints of Vault's token auth method, over a `TokenStore`.
 *
 * Every one of them runs after the calling token was authenticated (one use spent), as Vault's request handling
 * does before any handler, so even `lookup-self` costs a use.
 *
 * @packageDocumentation
 */
import { TokenStoreError, invalidRequest } from '../../errors.js'
import type { CreateTokenOptions } from '../../options.js'
import type { TokenStore } from '../../token-store.js'
import type { TokenInfo } from '../../types.js'
import { errorResult, type HttpResult } from '../bearer.js'
import type { DecodedFields } from './fields.js'
import { NO_CONTENT, authResult, envelope, lookupData } from './responses.js'
import { aboutTarget, required, route, type Route } from './route.js'

/**
 * Fields of `create` and `create-orphan`, as Vault decodes them. Metadata is `meta` only, as in Vault (which ignores
 * a `metadata`): an alias would let a request carry metadata past a policy's `denied_parameters` on `meta`.
 */
const CREATE_FIELDS = {
  id: 'string',
  policies: 'policies',
  meta: 'map',
  no_parent: 'bool',
  no_default_policy: 'bool',
  renewable: 'bool',
  ttl: 'duration',
  lease: 'duration',
  explicit_max_ttl: 'duration',
  period: 'duration',
  display_name: 'string',
  num_uses: 'int',
  type: 'string',
  entity_alias: 'unsupported',
  bound_cidrs: 'cidrs',
} as const

/** Token creation takes `create` or `update` on its path, as Vault's does. */
const CREATE_OPERATIONS = ['create', 'update'] as const

const TOKEN_FIELD = { token: 'string' } as const
const ACCESSOR_FIELD = { accessor: 'string' } as const
const RENEW_FIELDS = { token: 'string', increment: 'duration' } as const
const RENEW_ACCESSOR_FIELDS = { accessor: 'string', increment: 'duration' } as const
const NO_FIELDS = {} as const

/** Vault's messages for a missing target. */
const MISSING_TOKEN_ID = 'missing token ID'
const MISSING_ACCESSOR = 'missing accessor'
const INVALID_ACCESSOR = 'invalid accessor'
const TOKEN_NOT_FOUND = 'token not found'
const REVOKE_ORPHAN_SUDO = 'root or sudo privileges required to revoke and orphan'

/** Vault's messages for a caller that may not create tokens at all, answered with 400. */
const BATCH_PARENT = 'batch tokens cannot create more tokens'
const LIMITED_USE_PARENT = 'restricted use token cannot generate child tokens'

/** Vault's warning on `auth/token/tidy`. */
const TIDY_WARNING =
  "Tidy operation successfully started. Any information from the operation will be printed to Vault's server logs."

/**
 * Vault's checks of the caller and the request before any token is created: a batch or limited-use caller cannot
 * create tokens (its last use counts), and `num_uses` cannot be negative.
 *
 * @throws {@link TokenStoreError} `invalid_request` with Vault's message.
 */
function checkCreation(caller: TokenInfo, fields: CreateFields): void {
  if (caller.type === 'batch') throw invalidRequest(BATCH_PARENT)
  if (caller.numUses > 0 || caller.lastUse === true) throw invalidRequest(LIMITED_USE_PARENT)
  if (fields.num_uses !== undefined && fields.num_uses < 0) {
    throw invalidRequest('number of uses cannot be negative')
  }
}

/**
 * `store.create` as Vault's create handlers answer: a request the creation rules refuse (policies beyond the
 * parent's or the role's, an orphan, id or period without root, a duplicate id) is their `ErrInvalidRequest`, 400,
 * not the 403 of a refused path.
 */
async function createToken(store: TokenStore, options: CreateTokenOptions): Promise<HttpResult> {
  try {
    return authResult(await store.create(options))
  } catch (error) {
    if (
      error instanceof TokenStoreError &&
      (error.code === 'permission_denied' || error.code === 'conflict')
    ) {
      throw invalidRequest(error.message)
    }
    throw error
  }
}

type CreateFields = DecodedFields<typeof CREATE_FIELDS>

/** Mutable view of the store's create options, filled field by field. */
type CreateOptionsDraft = { -readonly [K in keyof CreateTokenOptions]: CreateTokenOptions[K] }

/**
 * Maps Vault's create fields to the store's options (without `parent`). `type` is `service` or `batch`; absent or
 * `''` leaves the choice to the store (and a role's `token_type`).
 *
 * @throws {@link TokenStoreError} `invalid_request` for an unknown token type.
 */
function createOptions(fields: CreateFields): CreateOptionsDraft {
  const type = fields.type === undefined || fields.type === '' ? undefined : fields.type
  if (type !== undefined && type !== 'service' && type !== 'batch') {
    throw invalidRequest("invalid 'token_type' value")
  }
  const options: CreateOptionsDraft = {}
  const metadata = fields.meta
  const ttl = fields.ttl ?? fields.lease
  if (fields.id !== undefined) options.id = fields.id
  if (fields.policies !== undefined) options.policies = fields.policies
  if (metadata !== undefined) options.metadata = metadata
  if (fields.no_parent !== undefined) options.noParent = fields.no_parent
  if (fields.no_default_policy !== undefined) options.noDefaultPolicy = fields.no_default_policy
  if (fields.renewable !== undefined) options.renewable = fields.renewable
  if (ttl !== undefined) options.ttl = ttl
  if (fields.explicit_max_ttl !== undefined) options.explicitMaxTtl = fields.explicit_max_ttl
  if (fields.period !== undefined) options.period = fields.period
  if (fields.display_name !== undefined) options.displayName = fields.display_name
  if (fields.num_uses !== undefined) options.numUses = fields.num_uses
  if (type !== undefined) options.type = type
  return options
}

/** The lookup data of the calling token: on its last use, `num_uses` is `-1`, as Vault shows it. */
function selfData(caller: TokenInfo, callerToken: string): Record<string, unknown> {
  const data = lookupData(caller, callerToken)
  if (caller.lastUse === true) data.num_uses = -1
  return data
}

/** The `auth/token/*` routes, by path below `auth/token/`. */
export const TOKEN_ROUTES: Readonly<Record<string, Route>> = {
  create: route({
    operation: 'create',
    ops: ['update'],
    writeOperations: CREATE_OPERATIONS,
    fields: CREATE_FIELDS,
    async run({ store, fields, caller, callerToken }) {
      // The calling token is the parent; the store applies Vault's child rules (no_parent, id and period need
      // root, policies within the parent's, no children from a limited-use token).
      checkCreation(caller, fields)
      return createToken(store, { ...createOptions(fields), parent: callerToken })
    },
  }),

  'create-orphan': route({
    operation: 'create-orphan',
    ops: ['update'],
    writeOperations: CREATE_OPERATIONS,
    fields: CREATE_FIELDS,
    async run({ store, fields, caller, callerToken }) {
      checkCreation(caller, fields)
      // The store applies Vault's child rules against the caller, on parsed values, and checks atomically with the
      // insert that the caller's revocation has not begun; the token just gets no parent. `no_parent` means nothing
      // here: the token is an orphan either way.
      const { noParent, ...options } = createOptions(fields)
      return createToken(store, { ...options, parent: callerToken, orphan: true })
    },
  }),

  lookup: route({
    operation: 'lookup',
    ops: ['read', 'update'],
    fields: TOKEN_FIELD,
    async run({ store, fields, caller, callerToken }) {
      // Without a token (and on GET), Vault looks up the caller, as lookup-self.
      if (fields.token === undefined || fields.token === '') {
        return envelope({ data: selfData(caller, callerToken) })
      }
      const token = fields.token
      const info = await store.lookup(token)
      if (info === null) return errorResult(403, 'bad token')
      return envelope({ data: lookupData(info, token) })
    },
  }),

  'lookup-self': route({
    operation: 'lookup-self',
    ops: ['read', 'update'],
    // Vault declares `token` here and replaces it with the calling token: accepted, and ignored.
    fields: TOKEN_FIELD,
    run({ caller, callerToken }) {
      // The authenticate result is the lookup: no second read, and it shows the use this request spent.
      return Promise.resolve(envelope({ data: selfData(caller, callerToken) }))
    },
  }),

  'lookup-accessor': route({
    operation: 'lookup-accessor',
    ops: ['update'],
    fields: ACCESSOR_FIELD,
    async run({ store, fields }) {
      const details = await store.lookupAccessor(required(fields.accessor, MISSING_ACCESSOR))
      if (details === null) throw invalidRequest(INVALID_ACCESSOR)
      return envelope({ data: lookupData(details, '') })
    },
  }),

  renew: route({
    operation: 'renew',
    ops: ['update'],
    fields: RENEW_FIELDS,
    async run({ store, fields }) {
      const token = required(fields.token, MISSING_TOKEN_ID)
      return authResult(await aboutTarget(store.renew(token, fields.increment), TOKEN_NOT_FOUND))
    },
  }),

  'renew-self': route({
    operation: 'renew-self',
    ops: ['update'],
    // As on lookup-self, Vault declares an unused `token`.
    fields: RENEW_FIELDS,
    async run({ store, fields, callerToken }) {
      return authResult(
        await aboutTarget(store.renew(callerToken, fields.increment), TOKEN_NOT_FOUND),
      )
    },
  }),

  'renew-accessor': route({
    operation: 'renew-accessor',
    ops: ['update'],
    fields: RENEW_ACCESSOR_FIELDS,
    async run({ store, fields }) {
      const accessor = required(fields.accessor, MISSING_ACCESSOR)
      return authResult(
        await aboutTarget(store.renewAccessor(accessor, fields.increment), INVALID_ACCESSOR),
      )
    },
  }),

  revoke: route({
    operation: 'revoke',
    ops: ['update'],
    fields: TOKEN_FIELD,
    async run({ store, fields }) {
      await store.revoke(required(fields.token, MISSING_TOKEN_ID))
      return NO_CONTENT
    },
  }),

  'revoke-self': route({
    operation: 'revoke-self',
    ops: ['update'],
    fields: NO_FIELDS,
    async run({ store, callerToken }) {
      await store.revoke(callerToken)
      return NO_CONTENT
    },
  }),

  'revoke-orphan': route({
    operation: 'revoke-orphan',
    ops: ['update'],
    fields: TOKEN_FIELD,
    async run({ store, fields, callerToken }) {
      // Vault's handler, not its router, asks for sudo here (the root path is `revoke-orphan/*`): a 400, also when
      // a host's `authorize` hook let the call through.
      const held = await store.capabilities(callerToken, 'auth/token/revoke-orphan')
      if (!held.includes('sudo') && !held.includes('root')) throw invalidRequest(REVOKE_ORPHAN_SUDO)
      const token = required(fields.token, MISSING_TOKEN_ID)
      if ((await store.lookup(token)) === null) throw invalidRequest('token to revoke not found')
      await store.revokeOrphan(token)
      return NO_CONTENT
    },
  }),

  'revoke-accessor': route({
    operation: 'revoke-accessor',
    ops: ['update'],
    fields: ACCESSOR_FIELD,
    async run({ store, fields }) {
      const accessor = required(fields.accessor, MISSING_ACCESSOR)
      const known = (await store.lookupAccessor(accessor)) !== null
      await store.revokeAccessor(accessor)
      return known ? NO_CONTENT : envelope({}, ['No token found with this accessor'])
    },
  }),

  tidy: route({
    operation: 'tidy',
    ops: ['update'],
    fields: NO_FIELDS,
    async run({ store }) {
      // Vault starts the tidy in the background and answers 202 at once; the store's tidy is finished first here,
      // so the answer means it is done.
      await store.tidy()
      return { ...envelope({}, [TIDY_WARNING]), status: 202 }
    },
  }),
}

/**
 * `auth/token/create/:role_name`: a child of the calling token, created against the role. The store applies the
 * role's rules (its policy lists, orphan flag, type, path suffix and limits); `no_parent` is ignored, as in Vault,
 * since the role decides orphaning. Guarded as `create-with-role` (root only by default).
 */
export const CREATE_WITH_ROLE: Route = route({
  operation: 'create-with-role',
  ops: ['update'],
  writeOperations: CREATE_OPERATIONS,
  fields: CREATE_FIELDS,
  subject: (_fields, param) => ({ role: param }),
  async run({ store, fields, caller, callerToken, param }) {
    checkCreation(caller, fields)
    if ((await store.roles.read(param)) === null) throw invalidRequest(`unknown role ${param}`)
    const { noParent, ...options } = createOptions(fields)
    return createToken(store, { ...options, parent: callerToken, role: param })
  },
})
