/**
 * Output as Vault's CLI prints it: `-format=table` (the default: `Key  Value` columns, durations humanised),
 * `-format=json` (the API's answer, indented), and `-field=NAME` (one value, raw). Pure: returns text.
 *
 * @packageDocumentation
 */
import { UsageError } from './args.js'
import type { JsonObject } from './client.js'

/**
 * Control characters: C0 (newlines included), DEL and C1, and the invisible marks that reorder or break a line on
 * screen (bidirectional embeddings, overrides and isolates, U+2028/U+2029).
 */
const CONTROL =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g

/** The same, but for line feeds and tabs: the output's own structure (the last guard, at the sink). */
const CONTROL_BUT_LINES =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g

/**
 * `text` from a server with its control characters written out (`\x1b`, `\x0a`, `\u202e`; with `keepLines`, line
 * feeds and tabs kept): a value is printed on its own line of a table, and a server must not be able to move the
 * cursor, clear the screen, set the terminal's title, reorder a row or forge another line (`\r` then a fake
 * `root_token` row) through it.
 */
export function printable(text: string, keepLines = false): string {
  return text.replace(keepLines ? CONTROL_BUT_LINES : CONTROL, escapeControl)
}

function escapeControl(char: string): string {
  const code = char.charCodeAt(0)
  return code <= 0xff
    ? `\\x${code.toString(16).padStart(2, '0')}`
    : `\\u${code.toString(16).padStart(4, '0')}`
}

/** The output formats `-format` accepts. */
export type OutputFormat = 'table' | 'json'

/** Reads `-format`. @throws {@link UsageError} for another value. */
export function parseFormat(value: string | undefined): OutputFormat {
  if (value === undefined || value === 'table') return 'table'
  if (value === 'json') return 'json'
  throw new UsageError(`Invalid output format: ${value}`)
}

/** Seconds as Vault prints a duration: `768h`, `1h30m`, `59m59s`, `0s`. */
export function humanDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds === 0) return '0s'
  const sign = seconds < 0 ? '-' : ''
  let rest = Math.abs(Math.trunc(seconds))
  const hours = Math.floor(rest / 3600)
  rest -= hours * 3600
  const minutes = Math.floor(rest / 60)
  const secs = rest - minutes * 60
  let text = ''
  if (hours > 0) text += `${String(hours)}h`
  if (minutes > 0 || (hours > 0 && secs > 0)) text += `${String(minutes)}m`
  if (secs > 0) text += `${String(secs)}s`
  // Vault trims trailing zero units: 1h0m0s → 1h, 1h0m5s → 1h0m5s.
  return sign + text
}

/** A value as Go's `%v` prints it: lists `[a b]`, maps `map[k:v]`, null `<nil>`. */
export function plainValue(value: unknown): string {
  if (value === null || value === undefined) return '<nil>'
  if (Array.isArray(value)) return `[${value.map(plainValue).join(' ')}]`
  if (typeof value === 'object') {
    const entries = Object.entries(value as JsonObject).sort(([a], [b]) => (a < b ? -1 : 1))
    return `map[${entries.map(([k, v]) => `${k}:${plainValue(v)}`).join(' ')}]`
  }
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- objects and arrays are handled above
  return String(value)
}

/** Whether Vault's table output shows this data key as a duration. */
function isDurationKey(key: string): boolean {
  return key === 'ttl' || key.endsWith('_ttl') || key === 'period' || key.endsWith('_period')
}

/** A value for the table: durations humanised. */
function tableValue(key: string, value: unknown): string {
  return isDurationKey(key) && typeof value === 'number' ? humanDuration(value) : plainValue(value)
}

/** The rows Vault's table shows for a secret (an API answer), in its order. */
export function secretRows(secret: JsonObject): [string, unknown][] {
  const rows: [string, unknown][] = []
  const leaseDuration = Number(secret.lease_duration ?? 0)
  if (typeof secret.lease_id === 'string' && secret.lease_id !== '') {
    rows.push(['lease_id', secret.lease_id])
  }
  if (leaseDuration > 0 || rows.length > 0) {
    rows.push(['lease_duration', humanDuration(leaseDuration)])
    rows.push(['lease_renewable', secret.renewable ?? false])
  }
  const auth = secret.auth
  if (typeof auth === 'object' && auth !== null) {
    const a = auth as JsonObject
    rows.push(['token', a.client_token])
    rows.push(['token_accessor', a.accessor])
    rows.push(['token_duration', humanDuration(Number(a.lease_duration ?? 0))])
    rows.push(['token_renewable', a.renewable])
    rows.push(['token_policies', a.token_policies ?? a.policies])
    rows.push(['identity_policies', a.identity_policies ?? []])
    rows.push(['policies', a.policies])
    const meta = (a.metadata ?? {}) as JsonObject
    for (const key of Object.keys(meta).sort()) rows.push([`token_meta_${key}`, meta[key]])
  }
  const data = secret.data
  if (typeof data === 'object' && data !== null && !Array.isArray(data)) {
    for (const key of Object.keys(data).sort()) {
      rows.push([key, tableValue(key, (data as JsonObject)[key])])
    }
  }
  return rows
}

/** Key/value rows as Vault's aligned two-column table, with its header. */
export function table(rows: readonly (readonly [string, unknown])[]): string {
  const all: [string, string][] = [
    ['Key', 'Value'],
    ['---', '-----'],
    ...rows.map(([k, v]): [string, string] => [
      printable(k),
      printable(typeof v === 'string' ? v : plainValue(v)),
    ]),
  ]
  const width = Math.max(...all.map(([k]) => k.length))
  return all.map(([k, v]) => `${k.padEnd(width)}    ${v}`.trimEnd()).join('\n') + '\n'
}

/** A secret in the chosen format. */
export function formatSecret(secret: JsonObject, format: OutputFormat): string {
  if (format === 'json') return `${JSON.stringify(secret, null, 2)}\n`
  const rows = secretRows(secret)
  return rows.length === 0 ? '' : table(rows)
}

/**
 * One field of a secret, as `-field` prints it: a string raw, anything else as `%v` (or JSON with
 * `-format=json`). Looks in the table's rows first (`token`, `token_accessor`, …), then `data`, then the answer.
 *
 * @throws {@link UsageError} when the secret has no such field.
 */
export function formatField(secret: JsonObject, field: string, format: OutputFormat): string {
  let found: { value: unknown } | undefined
  const auth = secret.auth as JsonObject | null | undefined
  const data = secret.data as JsonObject | null | undefined
  if (auth !== undefined && auth !== null) {
    const byName: Record<string, unknown> = {
      token: auth.client_token,
      token_accessor: auth.accessor,
      token_duration: humanDuration(Number(auth.lease_duration ?? 0)),
      token_renewable: auth.renewable,
      token_policies: auth.token_policies ?? auth.policies,
      identity_policies: auth.identity_policies ?? [],
      policies: auth.policies,
    }
    if (Object.hasOwn(byName, field)) found = { value: byName[field] }
  }
  if (found === undefined && data !== undefined && data !== null && Object.hasOwn(data, field)) {
    found = { value: data[field] }
  }
  if (found === undefined && Object.hasOwn(secret, field)) found = { value: secret[field] }
  if (found === undefined) throw new FieldError(`Field "${field}" not present in secret`)
  if (format === 'json') return `${JSON.stringify(found.value, null, 2)}\n`
  // Every control character written out, line feeds too: `TOKEN=$(tokentree … -field=token)` must get one line.
  return printable(typeof found.value === 'string' ? found.value : plainValue(found.value))
}

/** `-field` named something the answer does not have: exit status 1, as Vault. */
export class FieldError extends Error {
  override readonly name = 'FieldError'
}
