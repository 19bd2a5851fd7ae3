/**
 * Command-line arguments the way Vault's CLI reads them: `-flag=value`, `-flag value`, `--flag=value` and
 * `--flag value` all work; a boolean flag stands alone (`-orphan`) or takes `=true`/`=false`; list flags repeat
 * (`-policy=a -policy=b`); key-value flags repeat too (`-metadata user=alice`). `--` ends the flags. Pure: no I/O.
 *
 * @packageDocumentation
 */

/** How a flag takes its value. */
export type FlagKind = 'string' | 'boolean' | 'list' | 'map'

/** The flags a command accepts, by name without dashes. */
export type FlagSpec = Readonly<Record<string, FlagKind>>

/** What {@link parseArgs} found. */
export interface ParsedArgs {
  /** String flags, by name; the last occurrence wins. */
  readonly strings: ReadonlyMap<string, string>
  /** Boolean flags that were given, by name. */
  readonly booleans: ReadonlyMap<string, boolean>
  /** List flags, by name, in the order given. */
  readonly lists: ReadonlyMap<string, readonly string[]>
  /** Key-value flags, by name. */
  readonly maps: ReadonlyMap<string, Readonly<Record<string, string>>>
  /** The arguments that are not flags. */
  readonly positionals: readonly string[]
  /** Whether `-h`, `-help` or `--help` was given. */
  readonly help: boolean
}

/** A mistake in the command line: exit status 1 and the command's help, as Vault's CLI does. */
export class UsageError extends Error {
  override readonly name = 'UsageError'
}

/** Words a boolean flag accepts after `=`, as Go's `strconv.ParseBool`. */
const BOOLEAN_WORDS: ReadonlyMap<string, boolean> = new Map([
  ['1', true],
  ['t', true],
  ['true', true],
  ['TRUE', true],
  ['True', true],
  ['0', false],
  ['f', false],
  ['false', false],
  ['FALSE', false],
  ['False', false],
])

/**
 * Reads `argv` against `spec`.
 *
 * @throws {@link UsageError} for an unknown flag, a missing or malformed value.
 */
export function parseArgs(argv: readonly string[], spec: FlagSpec): ParsedArgs {
  const strings = new Map<string, string>()
  const booleans = new Map<string, boolean>()
  const lists = new Map<string, string[]>()
  const maps = new Map<string, Record<string, string>>()
  const positionals: string[] = []
  let help = false
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1))
      break
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg)
      continue
    }
    const body = arg.slice(arg.startsWith('--') ? 2 : 1)
    const eq = body.indexOf('=')
    const name = eq === -1 ? body : body.slice(0, eq)
    let value = eq === -1 ? undefined : body.slice(eq + 1)
    if (name === 'h' || name === 'help') {
      help = true
      continue
    }
    const kind = Object.hasOwn(spec, name) ? spec[name] : undefined
    if (kind === undefined) throw new UsageError(`flag provided but not defined: -${name}`)
    if (kind === 'boolean') {
      const parsed = value === undefined ? true : BOOLEAN_WORDS.get(value)
      if (parsed === undefined) {
        throw new UsageError(`invalid boolean value for -${name}: expected true or false`)
      }
      booleans.set(name, parsed)
      continue
    }
    if (value === undefined) {
      value = argv[i + 1]
      if (value === undefined) throw new UsageError(`flag needs an argument: -${name}`)
      i++
    }
    if (kind === 'string') strings.set(name, value)
    else if (kind === 'list') lists.set(name, [...(lists.get(name) ?? []), value])
    else {
      const sep = value.indexOf('=')
      if (sep <= 0) throw new UsageError(`invalid value for -${name}: expected key=value`)
      const entries = maps.get(name) ?? (Object.create(null) as Record<string, string>)
      entries[value.slice(0, sep)] = value.slice(sep + 1)
      maps.set(name, entries)
    }
  }
  return { strings, booleans, lists, maps, positionals, help }
}
