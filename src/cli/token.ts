/**
 * `tokentree token create | lookup | renew | revoke | capabilities`: Vault's `vault token …` commands, over the
 * `auth/token/*` and `sys/capabilities*` endpoints.
 *
 * @packageDocumentation
 */
import { UsageError, type ParsedArgs } from './args.js'
import type { JsonObject } from './client.js'
import {
  ENV_HELP,
  EXIT,
  OUTPUT_FLAGS,
  OUTPUT_HELP,
  clientFor,
  printSecret,
  printSuccess,
  type Command,
} from './command.js'
import { parseFormat } from './format.js'

/** `-use-limit` must be a whole number, as Vault's int flag. */
function parseUseLimit(text: string): number {
  if (!/^\d+$/.test(text)) throw new UsageError(`invalid value for -use-limit: expected an integer`)
  return Number(text)
}

/** Throws Vault's message when the positional arguments are not within `min`..`max`. */
export function expectArgs(args: ParsedArgs, min: number, max: number): void {
  const got = args.positionals.length
  if (got > max)
    throw new UsageError(`Too many arguments (expected ${expected(min, max)}, got ${got})`)
  if (got < min)
    throw new UsageError(`Not enough arguments (expected ${expected(min, max)}, got ${got})`)
}

function expected(min: number, max: number): string {
  return min === max ? String(min) : `${String(min)}-${String(max)}`
}

/** `token create`. */
export const tokenCreate: Command = {
  name: 'token create',
  action: 'creating token',
  synopsis: 'Create a new token',
  flags: {
    ...OUTPUT_FLAGS,
    id: 'string',
    'display-name': 'string',
    ttl: 'string',
    'explicit-max-ttl': 'string',
    period: 'string',
    renewable: 'boolean',
    orphan: 'boolean',
    'no-default-policy': 'boolean',
    'use-limit': 'string',
    role: 'string',
    type: 'string',
    policy: 'list',
    metadata: 'map',
  },
  help: `Usage: tokentree token create [options]

  Creates a new token, a child of the calling token unless -orphan. Its policies
  default to the caller's and must be a subset of them (unless the caller is
  root).

      $ tokentree token create -policy=web -ttl=1h -metadata user=alice
      $ tokentree token create -field=token

Token Options:
  -policy=NAME             A policy for the token; repeat for more.
  -metadata=KEY=VALUE      Metadata for the token (audit, lookups); repeatable.
  -ttl=DURATION            Initial TTL (30m, 1h, 3600); renewals extend it.
  -explicit-max-ttl=DUR    A hard limit no renewal passes.
  -period=DURATION         A periodic token: renewals reset the TTL to this.
  -use-limit=N             Revoked after N uses (0: unlimited).
  -orphan                  No parent: outlives the caller (needs root).
  -no-default-policy       Leave out the "default" policy.
  -renewable=false         Forbid renewal.
  -display-name=NAME       A display name (not secret).
  -role=NAME               Create against the role auth/token/roles/NAME.
  -type=service|batch      The token type.
  -id=ID                   The token's id (needs root).

${OUTPUT_HELP}
${ENV_HELP}`,
  async run(args, io) {
    expectArgs(args, 0, 0)
    parseFormat(args.strings.get('format'))
    const s = args.strings
    const body: JsonObject = {}
    const policies = args.lists.get('policy')
    if (policies !== undefined) body.policies = policies
    const metadata = args.maps.get('metadata')
    if (metadata !== undefined) body.meta = metadata
    const map: [string, string][] = [
      ['id', 'id'],
      ['display-name', 'display_name'],
      ['ttl', 'ttl'],
      ['explicit-max-ttl', 'explicit_max_ttl'],
      ['period', 'period'],
      ['type', 'type'],
    ]
    for (const [flag, field] of map) {
      const value = s.get(flag)
      if (value !== undefined) body[field] = value
    }
    const useLimit = s.get('use-limit')
    if (useLimit !== undefined) body.num_uses = parseUseLimit(useLimit)
    if (args.booleans.get('orphan') === true) body.no_parent = true
    if (args.booleans.has('no-default-policy')) {
      body.no_default_policy = args.booleans.get('no-default-policy')
    }
    if (args.booleans.has('renewable')) body.renewable = args.booleans.get('renewable')
    const role = s.get('role')
    const path =
      role === undefined ? 'auth/token/create' : `auth/token/create/${encodeURIComponent(role)}`
    const client = await clientFor(io)
    return printSecret(await client.request({ method: 'POST', path, body }), args, io)
  },
}

/** `token lookup`. */
export const tokenLookup: Command = {
  name: 'token lookup',
  action: 'looking up token',
  synopsis: 'Display information about a token',
  flags: { ...OUTPUT_FLAGS, accessor: 'boolean' },
  help: `Usage: tokentree token lookup [options] [TOKEN | ACCESSOR]

  Displays information about a token (the calling token when none is given).
  Looking a token up does not use one of its uses.

      $ tokentree token lookup
      $ tokentree token lookup -accessor 8609694a-cdbc-db9b-d345-e782dbb562ed

Options:
  -accessor                Treat the argument as an accessor, not a token.

${OUTPUT_HELP}
${ENV_HELP}`,
  async run(args, io) {
    const accessor = args.booleans.get('accessor') === true
    expectArgs(args, accessor ? 1 : 0, 1)
    parseFormat(args.strings.get('format'))
    const [target] = args.positionals
    const client = await clientFor(io)
    const answer =
      target === undefined
        ? await client.request({ method: 'GET', path: 'auth/token/lookup-self' })
        : accessor
          ? await client.request({
              method: 'POST',
              path: 'auth/token/lookup-accessor',
              body: { accessor: target },
            })
          : await client.request({
              method: 'POST',
              path: 'auth/token/lookup',
              body: { token: target },
            })
    return printSecret(answer, args, io)
  },
}

/** `token renew`. */
export const tokenRenew: Command = {
  name: 'token renew',
  action: 'renewing token',
  synopsis: 'Renew a token lease',
  flags: { ...OUTPUT_FLAGS, accessor: 'boolean', increment: 'string', i: 'string' },
  help: `Usage: tokentree token renew [options] [TOKEN | ACCESSOR]

  Renews a token's lease (the calling token when none is given), extending its
  TTL within its max TTL. A periodic token is reset to its period.

      $ tokentree token renew
      $ tokentree token renew -increment=30m hvs.CAESIJ...

Options:
  -increment=DURATION, -i  The TTL asked for, from now (the server may cap it).
  -accessor                Treat the argument as an accessor, not a token.

${OUTPUT_HELP}
${ENV_HELP}`,
  async run(args, io) {
    const accessor = args.booleans.get('accessor') === true
    expectArgs(args, accessor ? 1 : 0, 1)
    parseFormat(args.strings.get('format'))
    const increment = args.strings.get('increment') ?? args.strings.get('i')
    const body: JsonObject = increment === undefined ? {} : { increment }
    const [target] = args.positionals
    const client = await clientFor(io)
    const call =
      target === undefined
        ? { path: 'auth/token/renew-self', body }
        : accessor
          ? { path: 'auth/token/renew-accessor', body: { ...body, accessor: target } }
          : { path: 'auth/token/renew', body: { ...body, token: target } }
    return printSecret(await client.request({ method: 'POST', ...call }), args, io)
  },
}

/** `token revoke`. */
export const tokenRevoke: Command = {
  name: 'token revoke',
  action: 'revoking token',
  synopsis: 'Revoke a token and its children',
  flags: { self: 'boolean', accessor: 'boolean', mode: 'string' },
  help: `Usage: tokentree token revoke [options] [TOKEN | ACCESSOR | PATH]

  Revokes a token, every token created under it, and their leases.

      $ tokentree token revoke hvs.CAESIJ...
      $ tokentree token revoke -self
      $ tokentree token revoke -mode=orphan hvs.CAESIJ...
      $ tokentree token revoke -mode=path auth/github/login

Options:
  -self                    Revoke the calling token.
  -accessor                Treat the argument as an accessor, not a token.
  -mode=orphan             Revoke only this token; its children become orphans.
  -mode=path               Revoke every token created at or below the path.

${ENV_HELP}`,
  async run(args, io) {
    const self = args.booleans.get('self') === true
    const accessor = args.booleans.get('accessor') === true
    const mode = args.strings.get('mode')
    const got = args.positionals.length
    if (mode !== undefined && mode !== 'orphan' && mode !== 'path') {
      throw new UsageError(`Invalid -mode: ${mode} (expected orphan or path)`)
    }
    if (self && got > 0)
      throw new UsageError(`Too many arguments with -self (expected 0, got ${got})`)
    if (!self && got > 1)
      throw new UsageError(`Too many arguments (expected 1 or -self, got ${got})`)
    if (!self && got < 1)
      throw new UsageError(`Not enough arguments (expected 1 or -self, got ${got})`)
    if (self && accessor) throw new UsageError('Cannot use -self with -accessor!')
    if (self && mode !== undefined) throw new UsageError('Cannot use -self with -mode!')
    if (accessor && mode !== undefined)
      throw new UsageError(`Cannot use -accessor with -mode=${mode}!`)
    const target = args.positionals[0] ?? ''
    const client = await clientFor(io)
    if (self) await client.request({ method: 'POST', path: 'auth/token/revoke-self' })
    else if (accessor) {
      await client.request({
        method: 'POST',
        path: 'auth/token/revoke-accessor',
        body: { accessor: target },
      })
    } else if (mode === 'orphan') {
      await client.request({
        method: 'POST',
        path: 'auth/token/revoke-orphan',
        body: { token: target },
      })
    } else if (mode === 'path') {
      await client.request({ method: 'PUT', path: `sys/leases/revoke-prefix/${pathOf(target)}` })
    } else {
      await client.request({ method: 'POST', path: 'auth/token/revoke', body: { token: target } })
    }
    return printSuccess('Revoked token (if it existed)', io)
  },
}

/** `token capabilities`. */
export const tokenCapabilities: Command = {
  name: 'token capabilities',
  action: 'listing capabilities',
  synopsis: "Print a token's capabilities on a path",
  flags: { format: 'string', accessor: 'boolean' },
  help: `Usage: tokentree token capabilities [options] [TOKEN | ACCESSOR] PATH

  Prints the capabilities a token has on a path (the calling token's when only
  the path is given), from its policies: create, read, update, delete, list,
  sudo, or deny.

      $ tokentree token capabilities secret/foo
      $ tokentree token capabilities hvs.CAESIJ... secret/foo

Options:
  -accessor                Treat the first argument as an accessor.
  -format=table|json       Print a comma-separated list (default) or JSON.

${ENV_HELP}`,
  async run(args, io) {
    const accessor = args.booleans.get('accessor') === true
    expectArgs(args, accessor ? 2 : 1, 2)
    const format = parseFormat(args.strings.get('format'))
    const path = args.positionals.at(-1) as string
    const target = args.positionals.length === 2 ? args.positionals[0] : undefined
    const client = await clientFor(io)
    const answer =
      target === undefined
        ? await client.request({
            method: 'POST',
            path: 'sys/capabilities-self',
            body: { paths: [path] },
          })
        : await client.request({
            method: 'POST',
            path: accessor ? 'sys/capabilities-accessor' : 'sys/capabilities',
            body: { ...(accessor ? { accessor: target } : { token: target }), paths: [path] },
          })
    const capabilities = capabilitiesOf(answer ?? {}, path)
    io.out(format === 'json' ? `${JSON.stringify(capabilities)}\n` : `${capabilities.join(', ')}\n`)
    return EXIT.ok
  },
}

/** The capabilities list of a `sys/capabilities*` answer: by path, else `capabilities`, in `data` or on top. */
export function capabilitiesOf(answer: JsonObject, path: string): string[] {
  const data = (answer.data ?? answer) as JsonObject
  const list = data[path] ?? data.capabilities ?? answer[path] ?? answer.capabilities
  return Array.isArray(list) ? list.map(String).sort() : []
}

/** A path for the URL: each segment escaped, slashes kept. */
export function pathOf(path: string): string {
  return path
    .replace(/^\/+|\/+$/g, '')
    .split('/')
    .map(encodeURIComponent)
    .join('/')
}
