/**
 * The dev server's original entry, kept for scripts that run `node --import tsx src/dev-server.ts --port …`.
 * `npm start` and `tokentree server -dev` (src/cli/server.ts) are the supported ways; this one shares their code.
 *
 * ```sh
 * node --import tsx src/dev-server.ts --port 8300   # or PORT=8300; --host / HOST likewise
 * ```
 *
 * Prints `Root Token: <token>` on a line of its own. Everything is lost on exit. Stops cleanly on SIGINT and
 * SIGTERM: stops accepting, closes open connections, closes the store, and exits with status 0.
 *
 * @packageDocumentation
 */
import { parseArgs } from 'node:util'

import { runDevServer, type DevServerConfig } from './cli/server.js'

/** Vault's dev-server address. */
const DEFAULT_HOST = '127.0.0.1'
const DEFAULT_PORT = 8200

/** Exit status for bad command-line input, as `sysexits.h`'s EX_USAGE. */
const EXIT_USAGE = 64

const USAGE = `Usage: node --import tsx src/dev-server.ts [--port <port>] [--host <host>] [--dev-root-token-id <id>]
Environment: PORT, HOST, VAULT_DEV_ROOT_TOKEN_ID
`

function parseConfig(argv: string[], env: NodeJS.ProcessEnv): DevServerConfig {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'dev-root-token-id': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  })
  if (values.help === true) {
    process.stdout.write(USAGE)
    process.exit(0)
  }
  const portText = values.port ?? env.PORT ?? String(DEFAULT_PORT)
  const port = Number(portText)
  if (!/^\d{1,5}$/.test(portText) || port > 65535) {
    throw new Error(`Expected the port to be an integer from 0 to 65535, got '${portText}'`)
  }
  const host = values.host ?? env.HOST ?? DEFAULT_HOST
  return { host, port, rootTokenId: values['dev-root-token-id'] ?? env.VAULT_DEV_ROOT_TOKEN_ID }
}

async function main(): Promise<void> {
  let config: DevServerConfig
  try {
    config = parseConfig(process.argv.slice(2), process.env)
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${USAGE}`)
    process.exitCode = EXIT_USAGE
    return
  }
  process.exitCode = await runDevServer(config, {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    isTTY: process.stdout.isTTY,
    env: process.env,
    readStdin: () => Promise.resolve(''),
  })
}

main().catch((error: unknown) => {
  const code =
    typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : ''
  const message = error instanceof Error ? error.message : String(error)
  process.stderr.write(
    code === 'EADDRINUSE'
      ? `The address is in use; choose another with --port or PORT.\n${message}\n`
      : `${message}\n`,
  )
  process.exitCode = 1
})
