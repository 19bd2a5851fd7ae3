/**
 * HTTP test helpers: listen on 127.0.0.1 with a free port, and the three hosts of the Vault API (node:http,
 * Express, Koa) built the same way, so one suite can run against each.
 */
import { createServer, type RequestListener, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

import express from 'express'
import Koa from 'koa'

import { TokenStore } from '../../../src/index.js'
import { vaultRouter as expressVaultRouter } from '../../../src/http/express.js'
import { vaultRouter as koaVaultRouter } from '../../../src/http/koa.js'
import { createVaultServer } from '../../../src/http/vault-api/server.js'
import type { VaultApiOptions } from '../../../src/http/vault-api/types.js'

/** A listening server and how to stop it. */
export interface Running {
  readonly url: string
  close(): Promise<void>
}

/** Starts `server` (or a server around `listener`) on 127.0.0.1 with a port the OS picks. */
export async function listen(target: Server | RequestListener): Promise<Running> {
  const server = typeof target === 'function' ? createServer(target) : target
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => {
          if (error) reject(error)
          else resolve()
        })
        // Keep-alive sockets from fetch/axios would otherwise hold close() open.
        server.closeAllConnections()
      }),
  }
}

/** The hosts of the Vault API, by name. */
export const VAULT_HOSTS: Record<'node:http' | 'express' | 'koa', VaultHost> = {
  'node:http': (store, options) => createVaultServer(store, options),
  express: (store, options) => {
    const app = express()
    app.use(expressVaultRouter(store, options))
    app.use((_req, res) => {
      res.status(418).json({ fellThrough: true })
    })
    return app
  },
  koa: (store, options) => {
    const app = new Koa()
    app.use(koaVaultRouter(store, options))
    app.use((ctx) => {
      ctx.status = 418
      ctx.body = { fellThrough: true }
    })
    const handle = app.callback()
    return (req, res) => {
      void handle(req, res)
    }
  },
}

/** One host of the Vault API, as {@link VAULT_HOSTS} builds it. */
export type VaultHost = (store: TokenStore, options?: VaultApiOptions) => Server | RequestListener

/**
 * Runs `run` against a fresh in-memory store with a root token, served by `host` on a free port, and stops the
 * server afterwards.
 */
/**
 * The `app` policy of the Vault API tests: what tokentree let any token do before it enforced policies (create
 * children and orphans, and look up, renew or revoke a token whose id it presents), without sudo.
 */
export const APP_POLICY = `
path "auth/token/create" { capabilities = ["update"] }
path "auth/token/create-orphan" { capabilities = ["update"] }
path "auth/token/lookup" { capabilities = ["update"] }
path "auth/token/renew" { capabilities = ["update"] }
path "auth/token/revoke" { capabilities = ["update"] }
path "auth/token/revoke-orphan" { capabilities = ["update"] }
`

export async function withVaultApi(
  host: VaultHost,
  run: (endpoint: string, root: string, store: TokenStore) => Promise<void>,
  options?: VaultApiOptions,
): Promise<void> {
  const store = new TokenStore()
  const root = await store.createRoot()
  // The tests' non-root tokens hold `app`.
  await store.policies.write('app', APP_POLICY)
  const server = await listen(host(store, options))
  try {
    await run(server.url, root.clientToken, store)
  } finally {
    await server.close()
  }
}

/** Every test's JSON answer, read once. */
export async function call(
  url: string,
  init: {
    method?: string
    token?: string
    body?: unknown
    raw?: string
    headers?: Record<string, string>
  } = {},
): Promise<{ status: number; text: string; json: unknown; headers: Headers }> {
  const headers: Record<string, string> = { ...init.headers }
  if (init.token !== undefined) headers['x-vault-token'] = init.token
  const body = init.raw ?? (init.body === undefined ? undefined : JSON.stringify(init.body))
  const response = await fetch(url, {
    method: init.method ?? (body === undefined ? 'GET' : 'POST'),
    headers,
    ...(body === undefined ? {} : { body }),
  })
  const text = await response.text()
  let json: unknown
  try {
    json = text === '' ? null : JSON.parse(text)
  } catch {
    json = null
  }
  return { status: response.status, text, json, headers: response.headers }
}
