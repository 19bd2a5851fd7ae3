/**
 * `tokentree/vault-api`: Vault's HTTP API over a `TokenStore` on plain node:http, and the `LIST` method
 * that Vault's clients send and Node's parser refuses.
 *
 * - {@link createVaultServer}: a ready server (what `npm start` runs);
 * - {@link createVaultHandler}: a request handler for hosts that own the server (node:http, Fastify, Hono);
 * - {@link enableListMethod}: `LIST` on any node:http server, for hosts mounting Express's or Koa's
 *   `vaultRouter` on their own server.
 *
 * @packageDocumentation
 */
export { enableListMethod } from '../list-method.js'
export { createVaultHandler, createVaultServer, type VaultRequestHandler } from './server.js'
export {
  defaultAuthorize,
  type AuthorizeRequest,
  type VaultApiOptions,
  type VaultOperation,
} from './types.js'
export type { HttpResult, TokenReadOptions, TokenSource, VaultErrorBody } from '../bearer.js'
