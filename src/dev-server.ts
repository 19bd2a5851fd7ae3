/**
 * `npm start`: an in-memory tokentree behind the Vault-compatible API, like `vault server -dev`.
 *
 * ```sh
 * npm start                       # http://127.0.0.1:8200
 * npm start -- --port 8300        # or PORT=8300 npm start; --host / HOST likewise
 * ```
 *
 * Prints `Root Token: <token>` on a line of its own. Everything is lost on exit. Stops cleanly on SIGINT and
 * SIGTERM: stops accepting, closes open connections, closes the store, and exits with status 0.
 *
 * @packageDocumentation
 */
import type { AddressInfo } from 'node:net'
import { parseArgs } from 'node:util'

import { createVaultServer } from './http/vault-api/server.js'
import { TokenStore } from './index.js'

/** Vault's dev-server address. */
const DEFAULT_HOST = '127.0.0.1'
const DEFAULT_PORT = 8200

/** Exit status for bad command-line input, as `sysexits.h`'s EX_USAGE. */
const EXIT_USAGE = 64

const USAGE = `Usage: npm start -- [--port <port>] [--host <host>] [--dev-root-token-id <id>]
Environment: PORT, HOST, VAULT_DEV_ROOT_TOKEN_ID
`

interface DevServerConfig {
  readonly host: string
  readonly port: number
  readonly rootTokenId: string | undefined
}

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
  const store = new TokenStore()
  const root = await store.createRoot(
    config.rootTokenId === undefined ? {} : { id: config.rootTokenId },
  )
  const server = createVaultServer(store)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(config.port, config.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const { port } = server.address() as AddressInfo
  const host = config.host.includes(':') ? `[${config.host}]` : config.host
  const address = `http://${host}:${port}`
  process.stdout.write(
    [
      `tokentree dev server listening on ${address}`,
      'Everything is kept in memory and lost on exit. Do not run it in production.',
      '',
      `    export VAULT_ADDR='${address}'`,
      '',
      `Root Token: ${root.clientToken}`,
      '',
    ].join('\n'),
  )

  let stopping = false
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      // A second signal while closing: give up waiting.
      process.exit(1)
    }
    stopping = true
    process.stdout.write(`\n${signal} received, shutting down\n`)
    server.close(() => {
      void closeStore(store).then(() => {
        process.off('SIGINT', stop)
        process.off('SIGTERM', stop)
      })
    })
    server.closeAllConnections()
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
}

/** Closes the store if this version of it has `close()` (it releases the expiry timer and storage). */
async function closeStore(store: TokenStore): Promise<void> {
  if ('close' in store && typeof store.close === 'function') {
    await store.close()
  }
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
