/**
 * `tokentree list PATH`: Vault's `vault list`, a listing of any path of the Vault API (`auth/token/accessors`,
 * `sys/leases/lookup/PREFIX`, `auth/token/roles`), with its output and exit statuses.
 *
 * @packageDocumentation
 */
import { ApiError, type JsonObject } from './client.js'
import { ENV_HELP, EXIT, clientFor, type Command } from './command.js'
import { parseFormat, printable } from './format.js'
import { expectArgs } from './token.js'

/** `list`. */
export const listCommand: Command = {
  name: 'list',
  action: (args) => `listing ${folderPath(args.positionals[0] ?? '')}`,
  synopsis: 'List the keys at a path (accessors, leases, roles)',
  flags: { format: 'string' },
  help: `Usage: tokentree list [options] PATH

  Lists the keys at PATH of the Vault API, as "vault list" does: the accessor
  of every live token, the lease ids under a prefix, the token roles.

      $ tokentree list auth/token/accessors
      $ tokentree list sys/leases/lookup/database/creds/web
      $ tokentree list auth/token/roles

  Exits with status 2 when the path has no keys.

Options:
  -format=table|json       Print "Keys" and one key a line, sorted (default),
                           or the keys as a JSON array.

${ENV_HELP}`,
  async run(args, io) {
    expectArgs(args, 1, 1)
    const format = parseFormat(args.strings.get('format'))
    const path = folderPath(args.positionals[0] as string)
    const client = await clientFor(io)
    let answer: JsonObject | null
    try {
      answer = await client.request({ method: 'GET', path: `${encodePath(path)}?list=true` })
    } catch (error) {
      // Vault answers a listing with no keys with 404 and no message: nothing there, not a failure to report.
      if (!(error instanceof ApiError && error.status === 404 && error.errors.length === 0)) {
        throw error
      }
      answer = null
    }
    const keys = listedKeys(answer)
    if (keys === null) {
      if (format === 'json') io.out('{}\n')
      else io.err(`No value found at ${path}\n`)
      return EXIT.remote
    }
    io.out(format === 'json' ? `${JSON.stringify(keys, null, 2)}\n` : keysTable(keys))
    return EXIT.ok
  },
}

/** The path as Vault's CLI lists it: no leading `/`, one trailing `/` (a listing is of a folder). */
export function folderPath(path: string): string {
  const trimmed = path.replace(/^\/+/, '')
  return trimmed.endsWith('/') ? trimmed : `${trimmed}/`
}

/** Each segment of `path` percent-encoded, the `/` between them kept. */
function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/')
}

/** The answer's `data.keys` as strings, or `null` when it has none (an empty list counts as none, as in Vault). */
export function listedKeys(answer: JsonObject | null): string[] | null {
  const data = answer?.data
  if (typeof data !== 'object' || data === null) return null
  const keys = (data as JsonObject).keys
  if (!Array.isArray(keys) || keys.length === 0) return null
  return keys.map(String)
}

/** Vault's table of a listing: a `Keys` header, its underline, then the keys sorted, one a line. */
export function keysTable(keys: readonly string[]): string {
  // The default order compares UTF-16 code units: byte order for the ASCII keys Vault's paths hold, as Go sorts.
  const sorted = [...keys].sort()
  return `Keys\n----\n${sorted.map((key) => `${printable(key)}\n`).join('')}`
}
