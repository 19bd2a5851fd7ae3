/**
 * `tokentree lease lookup | renew | revoke`: Vault's `vault lease …` commands, over `sys/leases/*`.
 *
 * @packageDocumentation
 */
import {
  ENV_HELP,
  OUTPUT_FLAGS,
  OUTPUT_HELP,
  clientFor,
  printSecret,
  printSuccess,
  type Command,
} from './command.js'
import { parseFormat } from './format.js'
import { expectArgs, pathOf } from './token.js'

/** `lease lookup`. */
export const leaseLookup: Command = {
  name: 'lease lookup',
  action: 'looking up lease',
  synopsis: 'Look up a lease',
  flags: { ...OUTPUT_FLAGS },
  help: `Usage: tokentree lease lookup [options] LEASE_ID

  Displays a lease: its id, issue and expire times, TTL and whether it renews.

      $ tokentree lease lookup database/creds/readonly/2f6a614c

${OUTPUT_HELP}
${ENV_HELP}`,
  async run(args, io) {
    expectArgs(args, 1, 1)
    parseFormat(args.strings.get('format'))
    const client = await clientFor(io)
    const answer = await client.request({
      method: 'PUT',
      path: 'sys/leases/lookup',
      body: { lease_id: args.positionals[0] },
    })
    return printSecret(answer, args, io)
  },
}

/** `lease renew`. */
export const leaseRenew: Command = {
  name: 'lease renew',
  action: 'renewing lease',
  synopsis: 'Renew a lease',
  flags: { ...OUTPUT_FLAGS, increment: 'string', i: 'string' },
  help: `Usage: tokentree lease renew [options] LEASE_ID

  Renews a lease, asking for a new TTL from now (the server may cap it).

      $ tokentree lease renew -increment=1h database/creds/readonly/2f6a614c

Options:
  -increment=DURATION, -i  The TTL asked for.

${OUTPUT_HELP}
${ENV_HELP}`,
  async run(args, io) {
    expectArgs(args, 1, 1)
    parseFormat(args.strings.get('format'))
    const increment = args.strings.get('increment') ?? args.strings.get('i')
    const client = await clientFor(io)
    const answer = await client.request({
      method: 'PUT',
      path: 'sys/leases/renew',
      body: { lease_id: args.positionals[0], ...(increment === undefined ? {} : { increment }) },
    })
    return printSecret(answer, args, io)
  },
}

/** `lease revoke`. */
export const leaseRevoke: Command = {
  name: 'lease revoke',
  action: 'revoking lease',
  synopsis: 'Revoke a lease, or every lease under a prefix',
  flags: { prefix: 'boolean' },
  help: `Usage: tokentree lease revoke [options] LEASE_ID | PREFIX

  Revokes a lease; the host that issued its secret hears of it and destroys it.

      $ tokentree lease revoke database/creds/readonly/2f6a614c
      $ tokentree lease revoke -prefix database/creds

Options:
  -prefix                  Revoke every lease (and token) under the prefix.

${ENV_HELP}`,
  async run(args, io) {
    expectArgs(args, 1, 1)
    const id = args.positionals[0] as string
    const client = await clientFor(io)
    if (args.booleans.get('prefix') === true) {
      await client.request({ method: 'PUT', path: `sys/leases/revoke-prefix/${pathOf(id)}` })
      return printSuccess(`Revoked any leases with prefix: ${id}`, io)
    }
    await client.request({ method: 'PUT', path: 'sys/leases/revoke', body: { lease_id: id } })
    return printSuccess(`Revoked lease: ${id}`, io)
  },
}
