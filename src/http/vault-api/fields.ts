/**
 * Request fields: the JSON body (or query) of a Vault API call, checked against the fields its endpoint declares.
 * Checks are by type only; the store checks values (durations, policy names, metadata limits).
 *
 * Vault decodes loosely (`mapstructure.WeakDecode`): `"true"` and `1` are booleans, `"5"` an integer, `42` the
 * string `"42"` and `"a,b"` a policy list, and clients rely on it (node-vault sends `ttl` only as a string). This
 * accepts the same forms: a string field or metadata value takes a number (its decimal text) or a boolean (`"1"`
 * or `"0"`); a boolean takes a number (non-zero is true) and `""` (false); an integer takes a boolean and `""` (0).
 * Fractions stay refused where an integer is expected (Vault truncates them). As in Vault,
 * an unknown field is ignored with the warning `Endpoint ignored these unrecognized parameters: [...]`. A field
 * Vault declares and tokentree does not implement is either ignored with a warning (`unsupported`, where ignoring
 * it cannot widen what a token may do) or refused when set (`cidrs`: bound CIDR blocks, whose absence would let a
 * token be used from anywhere).
 *
 * @packageDocumentation
 */
import { describeValue, invalidRequest } from '../../errors.js'
import { parseGoBool } from '../../go-bool.js'

/**
 * The type of one field. `strings`: a list of strings (an array, or one comma-separated string); `policies`: the
 * same, of policy names (trimmed, lower-cased). `unsupported`: declared by Vault, not implemented, ignored with a
 * warning. `cidrs`: CIDR blocks a token would be bound to, not implemented, refused unless empty.
 */
export type FieldKind =
  'string' | 'bool' | 'int' | 'duration' | 'strings' | 'policies' | 'map' | 'unsupported' | 'cidrs'

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
        : K extends 'strings' | 'policies'
          ? string[]
          : K extends 'map'
            ? Record<string, string>
            : never

/** The decoded fields of a request: each present only if it was sent (and not `null`). */
export type DecodedFields<S extends FieldSchema> = { [K in keyof S]?: FieldValue<S[K]> }

/** Field names echoed in error messages; anything else is described, not repeated. */
const PRINTABLE_FIELD = /^[A-Za-z0-9_-]{1,64}$/

/** An integer written as a string. */
const INTEGER_TEXT = /^-?\d{1,15}$/

/** Decoded fields, and the warnings Vault would add to the answer about the fields it ignored. */
export interface DecodeResult<S extends FieldSchema> {
  readonly fields: DecodedFields<S>
  readonly warnings: readonly string[]
}

/**
 * Checks `input` against `schema` and returns the decoded fields, with Vault's warning for unknown fields (names
 * sorted, as Vault sorts them; a name that is not a plain identifier is not repeated).
 *
 * @throws {@link TokenStoreError} `invalid_request` for a value of the wrong type or a non-empty `cidrs` field.
 */
export function decodeFields<S extends FieldSchema>(
  input: Readonly<Record<string, unknown>>,
  schema: S,
): DecodeResult<S> {
  const result: Record<string, unknown> = {}
  const unknown: string[] = []
  const unsupported: string[] = []
  for (const name of Object.keys(input)) {
    const kind = Object.hasOwn(schema, name) ? schema[name] : undefined
    const value = input[name]
    if (kind === undefined) {
      unknown.push(PRINTABLE_FIELD.test(name) ? name : '(unprintable name)')
    } else if (kind === 'unsupported') {
      unsupported.push(name)
    } else if (kind === 'cidrs') {
      if (!isEmptyList(value)) {
        throw invalidRequest(
          `tokentree does not support '${name}': binding tokens to CIDR blocks is not implemented`,
        )
      }
    } else if (value !== null && value !== undefined) {
      result[name] = decodeValue(name, kind, value)
    }
  }
  const warnings: string[] = []
  if (unknown.length > 0) {
    warnings.push(`Endpoint ignored these unrecognized parameters: [${unknown.sort().join(' ')}]`)
  }
  for (const name of unsupported.sort()) {
    warnings.push(`tokentree does not implement '${name}'; it was ignored`)
  }
  return { fields: result as DecodedFields<S>, warnings }
}

/** Whether a CIDR field asks for nothing: absent, `null`, `''`, `[]`, or a list of empty strings. */
function isEmptyList(value: unknown): boolean {
  if (value === null || value === undefined) return true
  if (typeof value === 'string') return value.trim() === ''
  if (Array.isArray(value))
    return value.every((item) => typeof item === 'string' && item.trim() === '')
  return false
}

/**
 * Parses a boolean as Vault's weak decoding reads one: a boolean, a Go-style word (`true`, `1`, `F`...), `""`
 * (false), or a number (non-zero is true).
 */
export function parseBool(name: string, value: unknown): boolean {
  if (typeof value === 'boolean') return value
  if (typeof value === 'string') {
    const parsed = value === '' ? false : parseGoBool(value)
    if (parsed !== undefined) return parsed
  }
  if (typeof value === 'number' && Number.isFinite(value)) return value !== 0
  throw invalidRequest(`Expected \`${name}\` to be a boolean, got ${describeValue(value)}`)
}

/**
 * A scalar as the string Vault's weak decoding makes of it: a string as it is, a finite number as its decimal
 * text, a boolean as `"1"` or `"0"`; `undefined` for anything else.
 */
function weakString(value: unknown): string | undefined {
  if (typeof value === 'string') return value
  if (typeof value === 'number' && Number.isFinite(value)) return String(value)
  if (typeof value === 'boolean') return value ? '1' : '0'
  return undefined
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
    case 'string': {
      const text = weakString(value)
      if (text !== undefined) return text
      throw invalidRequest(`Expected \`${name}\` to be a string, got ${describeValue(value)}`)
    }
    case 'bool':
      return parseBool(name, value)
    case 'int':
      return parseInteger(name, value)
    case 'duration':
      if (typeof value === 'string' || typeof value === 'number') return value
      throw invalidRequest(
        `Expected \`${name}\` to be seconds or a duration string such as '1h', got ${describeValue(value)}`,
      )
    case 'strings':
      return parseStringList(name, value, (text) => text)
    case 'policies':
      return parseStringList(name, value, policyName)
    case 'map':
      return parseStringMap(name, value)
    case 'unsupported':
    case 'cidrs':
      return undefined
  }
}

function parseInteger(name: string, value: unknown): number {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return value
  if (typeof value === 'string' && INTEGER_TEXT.test(value)) return Number(value)
  if (value === '') return 0
  if (typeof value === 'boolean') return value ? 1 : 0
  throw invalidRequest(`Expected \`${name}\` to be an integer, got ${describeValue(value)}`)
}

/**
 * An array of strings, or one comma-separated string (Vault's `TypeCommaStringSlice`), each item passed through
 * `clean`: for policy names, trimmed and lower-cased as the store keeps them (and as a policy's parameter rules must
 * see them: `Admin` is `admin`).
 */
function parseStringList(name: string, value: unknown, clean: (text: string) => string): string[] {
  if (typeof value === 'string') return value.split(',').map(clean)
  if (Array.isArray(value)) {
    return value.map((item: unknown, index) => {
      const text = weakString(item)
      if (text !== undefined) return clean(text)
      throw invalidRequest(
        `Expected \`${name}[${index}]\` to be a string, got ${describeValue(item)}`,
      )
    })
  }
  throw invalidRequest(
    `Expected \`${name}\` to be an array of strings, got ${describeValue(value)}`,
  )
}

function policyName(text: string): string {
  return text.trim().toLowerCase()
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
    const text = weakString(item)
    if (text === undefined) {
      throw invalidRequest(
        `Expected the values of \`${name}\` to be strings, got ${describeValue(item)}`,
      )
    }
    map[key] = text
  }
  return map
}
