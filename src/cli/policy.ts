/**
 * `tokentree policy write | read | list | delete`: Vault's `vault policy …` commands, over `sys/policy`.
 *
 * @packageDocumentation
 */
import { readFile } from 'node:fs/promises'

import { UsageError } from './args.js'
import { ApiError, type JsonObject } from './client.js'
import { ENV_HELP, EXIT, clientFor, printSuccess, type Command } from './command.js'
import { parseFormat } from './format.js'
import { expectArgs } from './token.js'

/** A policy file that cannot be read: a local error (exit status 1). */
export class LocalError extends Error {
  override readonly name = 'LocalError'
}

/** A policy name for the URL path. */
function policyPath(name: string): string {
  if (name === '') throw new UsageError('Missing policy name')
  return `sys/policy/${encodeURIComponent(name.toLowerCase())}`
}

/** `policy write`. */
export const policyWrite: Command = {
  name: 'policy write',
  action: 'uploading policy',
  synopsis: 'Upload a policy from a file or stdin',
  flags: {},
  help: `Usage: tokentree policy write NAME PATH

  Uploads a policy (HCL or JSON) under NAME, replacing any policy of that name.
  PATH "-" reads standard input.

      $ tokentree policy write web ./web-policy.hcl
      $ cat web-policy.hcl | tokentree policy write web -

${ENV_HELP}`,
  async run(args, io) {
    expectArgs(args, 2, 2)
    const [name, file] = args.positionals as [string, string]
    let text: string
    try {
      text = file === '-' ? await io.readStdin() : await readFile(file, 'utf8')
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error)
      throw new LocalError(`Error opening policy file: ${reason}`)
    }
    const client = await clientFor(io)
    await client.request({ method: 'PUT', path: policyPath(name), body: { policy: text } })
    return printSuccess(`Uploaded policy: ${name}`, io)
  },
}

/** `policy read`. */
export const policyRead: Command = {
  name: 'policy read',
  action: (args) => `reading policy named ${(args.positionals[0] ?? '').trim().toLowerCase()}`,
  synopsis: "Print a policy's rules",
  flags: { format: 'string' },
  help: `Usage: tokentree policy read [options] NAME

  Prints the rules of the named policy.

      $ tokentree policy read web

  A policy that does not exist prints "No policy named: NAME" (exit status 2).

Options:
  -format=table|json       Print the rules as written (default), or
                           {"policy": rules} as JSON.

${ENV_HELP}`,
  async run(args, io) {
    expectArgs(args, 1, 1)
    const format = parseFormat(args.strings.get('format'))
    const name = (args.positionals[0] as string).trim().toLowerCase()
    const client = await clientFor(io)
    let answer: JsonObject
    try {
      answer = (await client.request({ method: 'GET', path: policyPath(name) })) ?? {}
    } catch (error) {
      // Vault's client reads a 404 as no rules, which its command reports as no such policy.
      if (!(error instanceof ApiError && error.status === 404)) throw error
      answer = {}
    }
    const data = (answer.data ?? answer) as JsonObject
    const rules = data.rules ?? data.policy ?? answer.rules
    if (typeof rules !== 'string' || rules === '') {
      io.err(`No policy named: ${name}\n`)
      return EXIT.remote
    }
    io.out(
      format === 'json'
        ? `${JSON.stringify({ policy: rules }, null, 2)}\n`
        : rules.endsWith('\n')
          ? rules
          : `${rules}\n`,
    )
    return EXIT.ok
  },
}

/** `policy list`. */
export const policyList: Command = {
  name: 'policy list',
  action: 'listing policies',
  synopsis: 'List policy names',
  flags: { format: 'string' },
  help: `Usage: tokentree policy list [options]

  Lists the names of the policies, one a line.

Options:
  -format=table|json       Print one name a line (default) or a JSON array.

${ENV_HELP}`,
  async run(args, io) {
    expectArgs(args, 0, 0)
    const format = parseFormat(args.strings.get('format'))
    const client = await clientFor(io)
    const answer = (await client.request({ method: 'GET', path: 'sys/policy' })) ?? {}
    const data = (answer.data ?? answer) as JsonObject
    const list = data.policies ?? data.keys ?? answer.policies
    const names = Array.isArray(list) ? list.map(String) : []
    io.out(
      format === 'json'
        ? `${JSON.stringify(names, null, 2)}\n`
        : names.map((n) => `${n}\n`).join(''),
    )
    return EXIT.ok
  },
}

/** `policy delete`. */
export const policyDelete: Command = {
  name: 'policy delete',
  action: 'deleting policy',
  synopsis: 'Delete a policy',
  flags: {},
  help: `Usage: tokentree policy delete NAME

  Deletes the named policy. Tokens that hold it keep the name, which grants
  nothing any more.

      $ tokentree policy delete web

${ENV_HELP}`,
  async run(args, io) {
    expectArgs(args, 1, 1)
    const name = args.positionals[0] as string
    const client = await clientFor(io)
    await client.request({ method: 'DELETE', path: policyPath(name) })
    return printSuccess(`Deleted policy: ${name}`, io)
  },
}
