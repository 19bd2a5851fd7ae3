/**
 * `tokentree migrate`: creates or updates the PostgreSQL schema a `PostgresStorage` needs (`migrate()` from
 * `tokentree/postgres`). It talks to PostgreSQL, not to the Vault API.
 *
 * @packageDocumentation
 */
import { UsageError } from './args.js'
import { EXIT, printSuccess, type Command } from './command.js'

/** `migrate`. */
export const migrateCommand: Command = {
  name: 'migrate',
  action: 'migrating',
  synopsis: 'Create or update the PostgreSQL schema',
  flags: { 'postgres-url': 'string', schema: 'string' },
  help: `Usage: tokentree migrate [options]

  Creates or updates the tables a PostgresStorage needs, in one transaction.
  Safe to run again; run it before starting instances on a new version.
  Needs the pg package.

      $ tokentree migrate -postgres-url=postgres://localhost/app
      $ DATABASE_URL=postgres://localhost/app tokentree migrate -schema=tokens

Options:
  -postgres-url=URL        The database (default: DATABASE_URL).
  -schema=NAME             The schema (default: tokentree).`,
  async run(args, io) {
    if (args.positionals.length > 0) {
      throw new UsageError(
        `Too many arguments (expected 0, got ${String(args.positionals.length)})`,
      )
    }
    const url = args.strings.get('postgres-url') ?? (io.env.DATABASE_URL || undefined)
    if (url === undefined) throw new UsageError('Missing -postgres-url (or DATABASE_URL)')
    const schema = args.strings.get('schema')
    const [{ default: pg }, { migrate }] = await Promise.all([
      import('pg'),
      import('../storage/postgres/index.js'),
    ])
    const pool = new pg.Pool({ connectionString: url, max: 1 })
    pool.on('error', () => {
      // Reported by the query that meets it.
    })
    try {
      await migrate(pool, schema === undefined ? {} : { schema })
    } finally {
      await pool.end()
    }
    printSuccess(`Migrated schema: ${schema ?? 'tokentree'}`, io)
    return EXIT.ok
  },
}
