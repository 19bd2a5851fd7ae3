/**
 * What every command shares: its shape, the process's streams, Vault's exit statuses, and the output flags.
 *
 * @packageDocumentation
 */
import type { FlagSpec, ParsedArgs } from './args.js'
import { VaultClient, settingsFromEnv, type JsonObject } from './client.js'
import { formatField, formatSecret, parseFormat, printable } from './format.js'

/** Vault's CLI exit statuses. */
export const EXIT = {
  /** Success. */
  ok: 0,
  /** A local error: bad flags, wrong number of arguments, a failed validation, a missing file. */
  local: 1,
  /** A remote error: the server refused or could not be reached. */
  remote: 2,
} as const

/** The streams and environment a command runs with (a test passes its own). */
export interface CommandIo {
  /** Writes to standard output. */
  readonly out: (text: string) => void
  /** Writes to standard error. */
  readonly err: (text: string) => void
  /** Whether standard output is a terminal (`-field` ends with a newline only then, as in Vault). */
  readonly isTTY: boolean
  /** The environment (`VAULT_ADDR`, `VAULT_TOKEN`, …). */
  readonly env: NodeJS.ProcessEnv
  /** Reads standard input to the end (`policy write NAME -`). */
  readonly readStdin: () => Promise<string>
}

/** One command (`token create`). */
export interface Command {
  /** The words that name it after `tokentree`. */
  readonly name: string
  /** One line for the command list. */
  readonly synopsis: string
  /**
   * What it was doing, for error messages: `Error ${action}: …` (`creating token`); a function of the arguments
   * where Vault's message names what was asked (`listing auth/token/accessors/`).
   */
  readonly action: string | ((args: ParsedArgs) => string)
  /** The help text `-h` prints: one screen. */
  readonly help: string
  /** The flags it accepts. */
  readonly flags: FlagSpec
  /** Runs it; resolves to the exit status. */
  run(args: ParsedArgs, io: CommandIo): Promise<number>
}

/** The output flags every API command takes. */
export const OUTPUT_FLAGS: FlagSpec = { format: 'string', field: 'string' }

/** The help lines for {@link OUTPUT_FLAGS}. */
export const OUTPUT_HELP = `Output Options:
  -format=table|json   Print a table (default) or the API's JSON answer.
  -field=NAME          Print only this field (token, token_accessor, ...).`

/** The environment lines shared by every API command's help. */
export const ENV_HELP = `Environment:
  VAULT_ADDR               The API's address (default http://127.0.0.1:8200).
  VAULT_TOKEN              The calling token (else the one in ~/.vault-token).`

/** A client from the environment. */
export async function clientFor(io: CommandIo): Promise<VaultClient> {
  return new VaultClient(await settingsFromEnv(io.env))
}

/** Prints an API answer per `-format` and `-field`. Resolves to the exit status. */
export function printSecret(secret: JsonObject | null, args: ParsedArgs, io: CommandIo): number {
  const format = parseFormat(args.strings.get('format'))
  const field = args.strings.get('field')
  const answer = secret ?? {}
  if (field !== undefined) {
    const text = formatField(answer, field, format)
    io.out(format === 'table' && io.isTTY ? `${text}\n` : text)
  } else {
    io.out(formatSecret(answer, format))
  }
  const warnings = answer.warnings
  if (Array.isArray(warnings) && warnings.length > 0 && format === 'table') {
    io.err(
      `WARNING! The following warnings were returned from Vault:\n\n${warnings
        .map((w) => `  * ${printable(String(w))}`)
        .join('\n')}\n`,
    )
  }
  return EXIT.ok
}

/** Prints Vault's `Success! …` line (the same whatever `-format`). Resolves to the exit status. */
export function printSuccess(text: string, io: CommandIo): number {
  io.out(`Success! ${text}\n`)
  return EXIT.ok
}
