/**
 * `tokentree server -dev`: a tokentree behind the Vault-compatible API, like `vault server -dev`. In memory by
 * default; with `-redis-url` or `-postgres-url` it serves a shared store (the HMAC secret from
 * `TOKENTREE_SECRET`), so several servers, or a server and your app, see the same tokens.
 *
 * Stops cleanly on SIGINT and SIGTERM: stops accepting, lets requests under way finish (see `closeGracefully`),
 * closes the store and its storage, and exits with status 0.
 *
 * @packageDocumentation
 */
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'

import { TokenStoreError } from '../errors.js'
import { closeGracefully } from '../shutdown.js'
import type { Storage } from '../storage/storage.js'
import type { TokenStore } from '../token-store.js'
import { UsageError } from './args.js'
import { EXIT, type Command, type CommandIo } from './command.js'

/** Vault's dev-server address. */
export const DEFAULT_LISTEN_ADDRESS = '127.0.0.1:8200'

/**
 * How long requests under way may run once the dev server stops, in milliseconds: shorter than a service's
 * default, since a developer pressing Ctrl-C waits for it.
 */
const DEV_SHUTDOWN_TIMEOUT = 2_000

/** What the dev server needs. */
export interface DevServerConfig {
  /** The interface to listen on. */
  readonly host: string
  /** The port; 0 picks a free one. */
  readonly port: number
  /** A fixed root token id (`-dev-root-token-id`), else a random one. */
  readonly rootTokenId?: string | undefined
  /** Serve a Redis store at this URL. */
  readonly redisUrl?: string | undefined
  /** Serve a PostgreSQL store at this URL (migrated on start). */
  readonly postgresUrl?: string | undefined
  /** The Redis key prefix (default `tokentree:`). */
  readonly redisKeyPrefix?: string | undefined
  /** The PostgreSQL schema (default `tokentree`). */
  readonly postgresSchema?: string | undefined
  /** The HMAC secret shared by every process on the same storage. */
  readonly secret?: string | undefined
}

/** A running dev server. */
export interface RunningDevServer {
  /** `http://host:port`. */
  readonly address: string
  /** The root token's id. */
  readonly rootToken: string
  /**
   * Stops accepting, lets requests under way finish (within 2 s, then their connections are cut), then closes
   * the store and the storage.
   */
  stop(): Promise<void>
}

/**
 * Reads `host:port` (`[::1]:8200` for IPv6).
 *
 * @throws {@link UsageError} when it is malformed.
 */
export function parseListenAddress(text: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text)
  const port = Number(match?.[3])
  if (match === null || port > 65535) {
    throw new UsageError(`Expected -dev-listen-address to be host:port, got '${text}'`)
  }
  return { host: match[1] ?? (match[2] === '' ? '127.0.0.1' : (match[2] as string)), port }
}

/** Opens the storage the flags name; `close` releases its connections. */
async function openStorage(
  config: DevServerConfig,
): Promise<{ storage?: Storage; close: () => Promise<void> }> {
  if (config.redisUrl !== undefined) {
    const { RedisStorage } = await import('../storage/redis/index.js')
    const storage = new RedisStorage({
      connection: config.redisUrl,
      ...(config.redisKeyPrefix === undefined ? {} : { keyPrefix: config.redisKeyPrefix }),
    })
    return { storage, close: () => storage.close() }
  }
  if (config.postgresUrl !== undefined) {
    const [{ default: pg }, { PostgresStorage, migrate }] = await Promise.all([
      import('pg'),
      import('../storage/postgres/index.js'),
    ])
    const schema = config.postgresSchema === undefined ? {} : { schema: config.postgresSchema }
    const pool = new pg.Pool({ connectionString: config.postgresUrl })
    pool.on('error', () => {
      // An idle client lost its connection; the next query reports it as storage_unavailable.
    })
    try {
      await migrate(pool, schema)
    } catch (error) {
      await pool.end()
      throw error
    }
    const storage = new PostgresStorage({ pool, ...schema })
    return {
      storage,
      close: async () => {
        await storage.close()
        await pool.end()
      },
    }
  }
  return { close: () => Promise.resolve() }
}

/** The root token: a fixed id is reused when a shared store already has it. */
async function rootToken(store: TokenStore, id: string | undefined): Promise<string> {
  if (id === undefined) return (await store.createRoot()).clientToken
  try {
    return (await store.createRoot({ id })).clientToken
  } catch (error) {
    if (error instanceof TokenStoreError && error.code === 'conflict' && (await store.lookup(id))) {
      return id
    }
    throw error
  }
}

/** Starts the dev server and resolves once it listens. */
export async function startDevServer(config: DevServerConfig): Promise<RunningDevServer> {
  const shared = config.redisUrl !== undefined || config.postgresUrl !== undefined
  if (config.redisUrl !== undefined && config.postgresUrl !== undefined) {
    throw new UsageError('Use either -redis-url or -postgres-url, not both')
  }
  if (shared && (config.secret ?? '') === '') {
    throw new UsageError(
      'TOKENTREE_SECRET must be set with -redis-url or -postgres-url: every process on a shared store needs the same secret',
    )
  }
  // Loaded here, so that the client commands start without the store and the API server.
  const [{ TokenStore }, { createVaultServer }] = await Promise.all([
    import('../token-store.js'),
    import('../http/vault-api/server.js'),
  ])
  const { storage, close: closeStorage } = await openStorage(config)
  let store: InstanceType<typeof TokenStore>
  try {
    store = new TokenStore({
      ...(storage === undefined ? {} : { storage }),
      ...(shared ? { secret: config.secret as string } : {}),
    })
  } catch (error) {
    // A secret the store refuses (too short): the storage's connection must not keep the process alive.
    await closeStorage()
    throw error
  }
  let server: Server
  let root: string
  try {
    root = await rootToken(store, config.rootTokenId)
    server = createVaultServer(store)
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(config.port, config.host, () => {
        server.off('error', reject)
        resolve()
      })
    })
  } catch (error) {
    await store.close()
    await closeStorage()
    throw error
  }
  const { port } = server.address() as AddressInfo
  const host = config.host.includes(':') ? `[${config.host}]` : config.host
  let stopped: Promise<void> | undefined
  return {
    address: `http://${host}:${String(port)}`,
    rootToken: root,
    stop() {
      stopped ??= closeGracefully({
        server,
        store,
        drivers: [closeStorage],
        timeoutMs: DEV_SHUTDOWN_TIMEOUT,
      }).then(() => undefined)
      return stopped
    },
  }
}

/** The banner: the address to export and the root token on a line of its own. */
export function banner(running: RunningDevServer, shared: boolean): string {
  return [
    `tokentree dev server listening on ${running.address}`,
    shared
      ? 'Tokens are kept in the shared storage given. Do not run the dev server in production.'
      : 'Everything is kept in memory and lost on exit. Do not run it in production.',
    '',
    `    export VAULT_ADDR='${running.address}'`,
    '',
    `Root Token: ${running.rootToken}`,
    '',
  ].join('\n')
}

/**
 * Runs the dev server until SIGINT or SIGTERM, then stops it. Resolves to the exit status (0 after a clean stop;
 * a second signal while stopping exits at once with 1).
 */
export async function runDevServer(config: DevServerConfig, io: CommandIo): Promise<number> {
  const running = await startDevServer(config)
  return new Promise<number>((resolve) => {
    let stopping = false
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) process.exit(EXIT.local)
      stopping = true
      io.out(`\n${signal} received, shutting down\n`)
      running.stop().then(
        () => {
          process.off('SIGINT', onSignal)
          process.off('SIGTERM', onSignal)
          resolve(EXIT.ok)
        },
        (error: unknown) => {
          io.err(
            `Error while stopping: ${error instanceof Error ? error.message : String(error)}\n`,
          )
          resolve(EXIT.local)
        },
      )
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
    if (io.env.npm_lifecycle_event !== undefined)
      watchParent(() => {
        onSignal('SIGTERM')
      })
    // Printed once the handlers are in place: whoever reads the banner may signal at once.
    io.out(banner(running, config.redisUrl !== undefined || config.postgresUrl !== undefined))
  })
}

/** How often, in milliseconds, a server started by npm checks that its parent is still there. */
const PARENT_CHECK_INTERVAL = 500

/**
 * Under `npx` and `npm exec`, npm runs the command through `sh -c`, and dash forks rather than execs it: a SIGTERM
 * to npm reaches the shell, which dies without passing it on, and the server would be left running with no
 * parent. So a server started by npm treats the loss of its parent as SIGTERM. (`npm start` execs node, so the
 * signal arrives directly.)
 */
function watchParent(onOrphaned: () => void): void {
  const parent = process.ppid
  const timer = setInterval(() => {
    if (process.ppid !== parent) {
      clearInterval(timer)
      onOrphaned()
    }
  }, PARENT_CHECK_INTERVAL)
  timer.unref()
}

/** `server`. */
export const server: Command = {
  name: 'server',
  action: 'starting the dev server',
  synopsis: 'Start a dev server serving the Vault API',
  flags: {
    dev: 'boolean',
    'dev-root-token-id': 'string',
    'dev-listen-address': 'string',
    'redis-url': 'string',
    'postgres-url': 'string',
    'redis-key-prefix': 'string',
    'postgres-schema': 'string',
  },
  help: `Usage: tokentree server -dev [options]

  Starts a tokentree behind Vault's HTTP API, like "vault server -dev": it
  prints the root token, keeps everything in memory, and stops on Ctrl-C or
  SIGTERM. With -redis-url or -postgres-url it serves that shared store
  instead (PostgreSQL is migrated first); TOKENTREE_SECRET must then hold the
  HMAC secret every process on that store uses. Never for production.

      $ tokentree server -dev
      $ tokentree server -dev -dev-root-token-id=root
      $ tokentree server -dev -dev-listen-address=0.0.0.0:8300
      $ TOKENTREE_SECRET=... tokentree server -dev -redis-url=redis://localhost

Options:
  -dev                     Required: the dev server is the only mode.
  -dev-root-token-id=ID    The root token's id (VAULT_DEV_ROOT_TOKEN_ID).
  -dev-listen-address=A    host:port to listen on (VAULT_DEV_LISTEN_ADDRESS),
                           default ${DEFAULT_LISTEN_ADDRESS}; port 0 picks a free one.
  -redis-url=URL           Serve a Redis store (needs the ioredis package).
  -postgres-url=URL        Serve a PostgreSQL store (needs the pg package).
  -redis-key-prefix=P      Redis key prefix (default tokentree:).
  -postgres-schema=NAME    PostgreSQL schema (default tokentree).`,
  async run(args, io) {
    if (args.positionals.length > 0) {
      throw new UsageError(
        `Too many arguments (expected 0, got ${String(args.positionals.length)})`,
      )
    }
    if (args.booleans.get('dev') !== true) {
      throw new UsageError('tokentree only runs the dev server: pass -dev')
    }
    const env = io.env
    const listen = parseListenAddress(
      args.strings.get('dev-listen-address') ??
        (env.VAULT_DEV_LISTEN_ADDRESS || DEFAULT_LISTEN_ADDRESS),
    )
    return runDevServer(
      {
        ...listen,
        rootTokenId:
          args.strings.get('dev-root-token-id') ?? (env.VAULT_DEV_ROOT_TOKEN_ID || undefined),
        redisUrl: args.strings.get('redis-url'),
        postgresUrl: args.strings.get('postgres-url'),
        redisKeyPrefix: args.strings.get('redis-key-prefix'),
        postgresSchema: args.strings.get('postgres-schema'),
        secret: env.TOKENTREE_SECRET,
      },
      io,
    )
  },
}
