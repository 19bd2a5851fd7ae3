/**
 * The `sys/wrapping/*` endpoints, as Vault serves them:
 *
 * - `unwrap`: the wrapping token in the body (any authenticated caller, "third party") or as the calling token
 *   itself; answers the held response exactly as it was (status 200, Vault's envelope with `data` or `auth`).
 * - `lookup`: `creation_ttl`, `creation_time`, `creation_path`, spending nothing; needs no calling token.
 * - `rewrap`: the held response moves to a new wrapping token (same creation TTL and path); answers `wrap_info`.
 * - `wrap`: wraps the request body; needs `X-Vault-Wrap-TTL`.
 *
 * The wrapping token is checked before the calling token is used, and an invalid one is answered 400 with Vault's
 * message `wrapping token is not valid or does not exist`, whichever way it was presented.
 *
 * @packageDocumentation
 */
import { TokenStoreError, invalidRequest } from '../../errors.js'
import type { TokenStore } from '../../token-store.js'
import { PERMISSION_DENIED_MESSAGE, errorResult, type HttpResult } from '../bearer.js'
import { INVALID_WRAPPING_TOKEN, wrappedEnvelope } from './response-wrapping.js'
import { envelope } from './responses.js'
import { route, type Route } from './route.js'

const TOKEN_FIELD = { token: 'string' } as const

/** Vault's message for `sys/wrapping/wrap` without `X-Vault-Wrap-TTL`. */
const WRAP_TTL_REQUIRED = 'endpoint requires response wrapping to be used'

/** `sys/wrapping/unwrap`. */
const unwrap: Route = route({
  operation: 'unwrap',
  ops: ['update'],
  fields: TOKEN_FIELD,
  async beforeAuth({ store, fields, presentedToken }) {
    if (fields.token !== undefined) {
      // Third party: check the wrapping token first, then authenticate the caller as usual.
      await checkWrapping(store, fields.token)
      return null
    }
    if (presentedToken === null) return errorResult(403, PERMISSION_DENIED_MESSAGE)
    return unwrapped(await aboutWrapping(store.unwrap(presentedToken)))
  },
  async run({ store, fields }) {
    return unwrapped(await aboutWrapping(store.unwrap(fields.token ?? '')))
  },
})

/**
 * `sys/wrapping/lookup`: unauthenticated in Vault, so it never uses the calling token. POST with the token in the
 * body, or GET with it in the query string (`?token=…`), or either with it as the calling token.
 */
const lookup: Route = route({
  operation: 'lookup-wrapping',
  ops: ['read', 'update'],
  fields: TOKEN_FIELD,
  async beforeAuth({ store, fields, presentedToken }) {
    const token = fields.token ?? presentedToken
    if (token === null || token === '') throw invalidRequest('missing "token" value in input')
    const found = await store.lookupWrapping(token)
    if (found === null) throw invalidRequest(INVALID_WRAPPING_TOKEN)
    return envelope({
      data: {
        creation_ttl: found.creationTtl,
        creation_time: found.creationTime.toISOString(),
        creation_path: found.creationPath,
      },
      mountType: 'system',
    })
  },
  run() {
    // beforeAuth always answers.
    return Promise.resolve(errorResult(500, 'internal error'))
  },
})

/** `sys/wrapping/rewrap`. */
const rewrap: Route = route({
  operation: 'rewrap',
  ops: ['update'],
  fields: TOKEN_FIELD,
  async beforeAuth({ store, fields, presentedToken }) {
    if (fields.token !== undefined) {
      await checkWrapping(store, fields.token)
      return null
    }
    if (presentedToken === null) return errorResult(403, PERMISSION_DENIED_MESSAGE)
    return { status: 200, body: wrappedEnvelope(await aboutWrapping(store.rewrap(presentedToken))) }
  },
  async run({ store, fields }) {
    const info = await aboutWrapping(store.rewrap(fields.token ?? ''))
    return { status: 200, body: wrappedEnvelope(info) }
  },
})

/** `sys/wrapping/wrap`: answers the body as `data`, which the core then wraps. */
const wrap: Route = route({
  operation: 'wrap',
  ops: ['update'],
  fields: {},
  anyFields: true,
  beforeAuth({ wrapTtl }) {
    // Refused before the caller's token is used.
    if (wrapTtl === null) throw invalidRequest(WRAP_TTL_REQUIRED)
    return Promise.resolve(null)
  },
  run({ input }) {
    return Promise.resolve(envelope({ data: { ...input }, mountType: 'system' }))
  },
})

/** The `sys/wrapping/*` routes, by path below the mount prefix. */
export const WRAPPING_ROUTES: ReadonlyMap<string, Route> = new Map([
  ['sys/wrapping/unwrap', unwrap],
  ['sys/wrapping/lookup', lookup],
  ['sys/wrapping/rewrap', rewrap],
  ['sys/wrapping/wrap', wrap],
])

/**
 * The answer of an unwrap: the held response as it was when it is one of this API's (Vault's envelope), else the
 * held value as `data` (a value wrapped by `store.wrap`; one that is not an object comes as `data.value`).
 */
function unwrapped(value: unknown): HttpResult {
  if (isEnvelope(value)) return { status: 200, body: value }
  const data = isPlainObject(value) ? { ...value } : { value }
  return envelope({ data, mountType: 'system' })
}

function isEnvelope(value: unknown): value is Record<string, unknown> {
  return isPlainObject(value) && typeof value.request_id === 'string' && 'wrap_info' in value
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Refuses, with Vault's 400, a token that is not a live wrapping token. Spends nothing. */
async function checkWrapping(store: TokenStore, token: string): Promise<void> {
  if (token === '' || (await store.lookupWrapping(token)) === null) {
    throw invalidRequest(INVALID_WRAPPING_TOKEN)
  }
}

/** Runs a wrapping call, answering an invalid wrapping token with Vault's 400 rather than 403. */
async function aboutWrapping<T>(call: Promise<T>): Promise<T> {
  try {
    return await call
  } catch (error) {
    if (error instanceof TokenStoreError && error.code === 'invalid_token') {
      throw invalidRequest(INVALID_WRAPPING_TOKEN)
    }
    throw error
  }
}
