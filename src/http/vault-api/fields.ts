/**
 * Request fields: the JSON body (or query) of a Vault API call, checked against the fields its endpoint declares.
 * Checks are by type only; the store checks values (durations, policy names, metadata limits).
 *
 * Vault decodes loosely (`mapstructure.WeakDecode`): `"true"` is a boolean, `"5"` an integer and `"a,b"` a policy
 * list, and clients rely on it (node-vault sends `ttl` only as a string). This accepts the same forms, but an
 * unknown field is an error here, where Vault only warns, so a misspelt `no_parnet` cannot silently widen a token.
 *
 * @packageDocumentation
 */
import { describeValue, invalidRequest } from '../../errors.js'

/** The type of one field. */
export type FieldKind = 'string' | 'bool' | 'int' | 'duration' | 'policies' | 'map'

/** The fields of an endpoint, by their snake_case name. */
export type FieldSchema = Readonly<Record<string, FieldKind>>

/** The decoded value of a field of this kind. */
export type FieldValue<K extends FieldKind> = K extends 'string'
  ? string
  : K extends 'bool'
    ? boolean
    : K extends 'int'
      ? number
      : K extends 'duration'
        ? number | string
        : K extends 'policies'
          ? string[]
          : Record<string, string>

/** The decoded fields of a request: each present only if it was sent (and not `null`). */
export type DecodedFields<S extends FieldSchema> = { [K in keyof S]?: FieldValue<S[K]> }

/** Field names echoed in error messages; anything else is described, not repeated. */
const PRINTABLE_FIELD = /^[A-Za-z0-9_-]{1,64}$/

/** Go's `strconv.ParseBool` spellings, which Vault accepts for booleans. */
const TRUE_WORDS = new Set(['1', 't', 'T', 'true', 'TRUE', 'True'])
const FALSE_WORDS = new Set(['0', 'f', 'F', 'false', 'FALSE', 'False'])

/** An integer written as a string. */
const INTEGER_TEXT = /^-?\d{1,15}$/

/**
 * Checks `input` against `schema` and returns the decoded fields.
 *
 * @throws {@link TokenStoreError} `invalid_request` for an unknown field or a value of the wrong type.
 */
export function decodeFields<S extends FieldSchema>(
  input: Readonly<Record<string, unknown>>,
  schema: S,
): DecodedFields<S> {
  const result: Record<string, unknown> = {}
  for (const name of Object.keys(input)) {
    const kind = Object.hasOwn(schema, name) ? schema[name] : undefined
    if (kind === undefined) {
      throw invalidRequest(
        PRINTABLE_FIELD.test(name)
          ? `unknown field '${name}'`
          : 'unknown field with an unprintable name',
      )
    }
    const value = input[name]
    if (value !== null && value !== undefined) result[name] = decodeValue(name, kind, value)
  }
  return result as DecodedFields<S>
}

/** Parses a Go-style boolean (`true`, `1`, `F`...) from a query parameter or a field. */
export function parseBool(name: string, value: unknown): boolean {
  if (typeof value === 'boolean') return value
  if (typeof value === 'string') {
    if (TRUE_WORDS.has(value)) return true
    if (FALSE_WORDS.has(value)) return false
  }
  throw invalidRequest(`Expected \`${name}\` to be a boolean, got ${describeValue(value)}`)
}

/**
 * Vault's `sync` flag of revocations: the body's field, else the query parameter, else `true` (finish before
 * answering).
 *
 * @throws {@link TokenStoreError} `invalid_request` for a malformed query value.
 */
export function syncRequested(field: boolean | undefined, query: URLSearchParams): boolean {
  if (field !== undefined) return field
  const queried = query.get('sync')
  return queried === null ? true : parseBool('sync', queried)
}

function decodeValue(name: string, kind: FieldKind, value: unknown): unknown {
  switch (kind) {
    case 'string':
      if (typeof value === 'string') return value
      throw invalidRequest(`Expected \`${name}\` to be a string, got ${describeValue(value)}`)
    case 'bool':
      return parseBool(name, value)
    case 'int':
      return parseInteger(name, value)
    case 'duration':
      if (typeof value === 'string' || typeof value === 'number') return value
      throw invalidRequest(
        `Expected \`${name}\` to be seconds or a duration string such as '1h', got ${describeValue(value)}`,
      )
    case 'policies':
      return parseStringList(name, value)
    case 'map':
      return parseStringMap(name, value)
  }
}

function parseInteger(name: string, value: unknown): number {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return value
  if (typeof value === 'string' && INTEGER_TEXT.test(value)) return Number(value)
  throw invalidRequest(`Expected \`${name}\` to be an integer, got ${describeValue(value)}`)
}

/** An array of strings, or one comma-separated string (Vault's `TypeCommaStringSlice`). */
function parseStringList(name: string, value: unknown): string[] {
  if (typeof value === 'string') return value.split(',')
  if (Array.isArray(value)) {
    return value.map((item: unknown, index) => {
      if (typeof item === 'string') return item
      throw invalidRequest(
        `Expected \`${name}[${index}]\` to be a string, got ${describeValue(item)}`,
      )
    })
  }
  throw invalidRequest(
    `Expected \`${name}\` to be an array of strings, got ${describeValue(value)}`,
  )
}

function parseStringMap(name: string, value: unknown): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidRequest(
      `Expected \`${name}\` to be an object of strings, got ${describeValue(value)}`,
    )
  }
  // A prototype-free copy: a `__proto__` key stays a plain key.
  const map: Record<string, string> = Object.create(null) as Record<string, string>
  for (const [key, item] of Object.entries(value)) {
    if (typeof item !== 'string') {
      throw invalidRequest(
        `Expected the values of \`${name}\` to be strings, got ${describeValue(item)}`,
      )
    }
    map[key] = item
  }
  return map
}
