/**
 * The `tokentree` command: finds the command the words name, parses its flags, runs it, and maps failures to
 * Vault's exit statuses (1 local, 2 remote). Error messages go to standard error and never contain a token.
 *
 * @packageDocumentation
 */
import { TokenStoreError } from '../errors.js'
import { UsageError, parseArgs, type ParsedArgs } from './args.js'
import { ApiError, ConnectionError } from './client.js'
import { EXIT, type Command, type CommandIo } from './command.js'
import { FieldError } from './format.js'
import { leaseLookup, leaseRenew, leaseRevoke } from './lease.js'
import { listCommand } from './list.js'
import { migrateCommand } from './migrate.js'
import { LocalError, policyDelete, policyList, policyRead, policyWrite } from './policy.js'
import { server } from './server.js'
import { tokenCapabilities, tokenCreate, tokenLookup, tokenRenew, tokenRevoke } from './token.js'

/** Every command, in the order `tokentree -h` lists them. */
export const COMMANDS: readonly Command[] = [
  server,
  tokenCreate,
  tokenLookup,
  tokenRenew,
  tokenRevoke,
  tokenCapabilities,
  leaseLookup,
  leaseRenew,
  leaseRevoke,
  policyWrite,
  policyRead,
  policyList,
  policyDelete,
  listCommand,
  migrateCommand,
]

/** The families that group commands (`token`, `lease`, `policy`). */
const FAMILIES = ['token', 'lease', 'policy'] as const

/** `tokentree -h`. */
export function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length))
  return `Usage: tokentree <command> [options] [args]

  Vault's token workflow for tokentree: a dev server, and a client for the
  Vault API at VAULT_ADDR (tokentree's, a host's, or Vault itself).

      $ tokentree server -dev
      $ export VAULT_ADDR=http://127.0.0.1:8200 VAULT_TOKEN=<Root Token>
      $ tokentree token create -policy=web -ttl=1h

Commands:
${COMMANDS.map((c) => `    ${c.name.padEnd(width)}    ${c.synopsis}`).join('\n')}

Run "tokentree <command> -h" for a command's options. Flags take one dash or
two, and "-flag=value" or "-flag value". Exit status: 0 ok, 1 local error
(bad flags or arguments), 2 server error.
`
}

/** The help of a family (`tokentree token`). */
function familyHelp(family: string): string {
  const commands = COMMANDS.filter((c) => c.name.startsWith(`${family} `))
  const width = Math.max(...commands.map((c) => c.name.length))
  return `Usage: tokentree ${family} <subcommand> [options] [args]

Subcommands:
${commands.map((c) => `    ${c.name.padEnd(width)}    ${c.synopsis}`).join('\n')}

Run "tokentree ${family} <subcommand> -h" for its options.
`
}

/** The command `argv` names, and the rest of `argv`. */
function findCommand(argv: readonly string[]): { command?: Command; rest: readonly string[] } {
  const [first, second] = argv
  const pair = COMMANDS.find((c) => c.name === `${String(first)} ${String(second)}`)
  if (pair !== undefined) return { command: pair, rest: argv.slice(2) }
  const single = COMMANDS.find((c) => c.name === first)
  if (single !== undefined) return { command: single, rest: argv.slice(1) }
  return { rest: argv }
}

/** A failure's message, with a store error's cause (a driver's message) when there is one. */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error)
  if (error instanceof TokenStoreError && error.cause instanceof Error) {
    return `${error.message}: ${error.cause.message}`
  }
  return error.message
}

/**
 * Runs the command line `argv` (without `node` and the script). Resolves to the exit status; never throws.
 */
export async function main(argv: readonly string[], io: CommandIo): Promise<number> {
  const [first] = argv
  if (
    first === undefined ||
    first === '-h' ||
    first === '-help' ||
    first === '--help' ||
    first === 'help'
  ) {
    io.out(mainHelp())
    return first === undefined ? EXIT.local : EXIT.ok
  }
  if (first === '-v' || first === '-version' || first === '--version' || first === 'version') {
    io.out(`tokentree ${VERSION}\n`)
    return EXIT.ok
  }
  const { command, rest } = findCommand(argv)
  if (command === undefined) {
    const family = FAMILIES.find((f) => f === first)
    if (family !== undefined) {
      const help = argv.length === 1 || ['-h', '-help', '--help'].includes(String(argv[1]))
      if (help) {
        io.out(familyHelp(family))
        return argv.length === 1 ? EXIT.local : EXIT.ok
      }
      io.err(`Unknown subcommand: ${family} ${String(argv[1])}\n\n${familyHelp(family)}`)
      return EXIT.local
    }
    io.err(`Unknown command: ${first}\n\n${mainHelp()}`)
    return EXIT.local
  }
  let args: ParsedArgs | undefined
  try {
    args = parseArgs(rest, command.flags)
    if (args.help) {
      io.out(`${command.help}\n`)
      return EXIT.ok
    }
    return await command.run(args, io)
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`${error.message}\n\n${command.help}\n`)
      return EXIT.local
    }
    if (error instanceof FieldError || error instanceof LocalError) {
      io.err(`${error.message}\n`)
      return EXIT.local
    }
    const remote =
      error instanceof ApiError ||
      error instanceof ConnectionError ||
      (error instanceof TokenStoreError && error.code === 'storage_unavailable')
    const action =
      typeof command.action === 'string'
        ? command.action
        : args === undefined
          ? command.name
          : command.action(args)
    io.err(`Error ${action}: ${describe(error)}\n`)
    return remote ? EXIT.remote : EXIT.local
  }
}

/** The package version, filled in by the build (`define`), else read at run time. */
declare const __TOKENTREE_VERSION__: string | undefined
const VERSION = typeof __TOKENTREE_VERSION__ === 'string' ? __TOKENTREE_VERSION__ : 'dev'
