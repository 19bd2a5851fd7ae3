/**
 * A store in this process serving tokentree's Vault API on a free port, for a `describe` block of CLI tests: the
 * built command runs against it as root, or as another token.
 */
import { after, before } from 'node:test'

import { createVaultServer } from '../../../src/http/vault-api/server.js'
import { TokenStore } from '../../../src/index.js'
import { listen, type Running } from '../../http/helpers/servers.js'
import { requireBuild, tokentree, type RunResult } from './run.js'

/** What the tests of a block see (set once its `before` hook ran). */
export interface ServedStore {
  /** The store behind the API. */
  readonly store: TokenStore
  /** A root token of it, the command's token unless a test passes another. */
  readonly root: string
  /** The API's address (`VAULT_ADDR`). */
  readonly url: string
  /** Runs `tokentree …args` against the API with `token` (root by default). */
  run(args: readonly string[], token?: string): Promise<RunResult>
}

/**
 * Registers the `before` and `after` hooks of the calling `describe` block: a store with a root token, `setUp` run
 * on it (policies the tests need), and the API served until the block ends.
 */
export function servedStore(setUp?: (store: TokenStore) => Promise<void>): ServedStore {
  let store: TokenStore | undefined
  let root = ''
  let api: Running | undefined
  before(async () => {
    requireBuild()
    store = new TokenStore()
    root = (await store.createRoot()).clientToken
    await setUp?.(store)
    api = await listen(createVaultServer(store))
  })
  after(async () => {
    await api?.close()
    await store?.close()
  })
  const running = (): { store: TokenStore; api: Running } => {
    if (store === undefined || api === undefined)
      throw new Error('servedStore: used before its hook ran')
    return { store, api }
  }
  return {
    get store() {
      return running().store
    },
    get root() {
      return root
    },
    get url() {
      return running().api.url
    },
    run: (args, token) =>
      tokentree([...args], { env: { VAULT_ADDR: running().api.url, VAULT_TOKEN: token ?? root } }),
  }
}
