/**
 * How the Vault-compatible API asks the ACL: each request becomes one `store.authorize` call on its own path, with
 * the operation Vault would check (a write is `update`, or `create` where Vault's existence check finds nothing)
 * and `sudo` for Vault's root-protected endpoints.
 *
 * @packageDocumentation
 */
import type { AuthorizeOptions } from '../../access.js'
import type { AclOperation } from '../../acl/types.js'
import type { TokenStore } from '../../token-store.js'
import type { LogicalOperation, Route } from './route.js'

export { accessFailure } from '../capability.js'

/** A write without an existence check is an update, as in Vault. */
const UPDATE: readonly AclOperation[] = ['update']

/**
 * The `authorize` request for an API call: `path` is the request path below the mount (`auth/token/create`),
 * with the route's parameter as the store will read it (see {@link Route.aclParam}), `parameters` its data (the
 * body of a write, the query string of a read).
 */
export async function aclRequest(
  store: TokenStore,
  route: Route,
  path: string,
  operation: LogicalOperation,
  param: string,
  parameters: Readonly<Record<string, unknown>>,
): Promise<AuthorizeOptions> {
  const sudo = route.sudo === true
  const aclPath =
    route.aclParam !== undefined && param !== ''
      ? path.slice(0, path.length - param.length) + route.aclParam(param)
      : path
  // Vault checks a policy's parameter rules on reads too (their data is the query string), not on lists or deletes.
  if (operation === 'read') return { path: aclPath, operation, parameters, sudo }
  if (operation !== 'update') return { path: aclPath, operation, sudo }
  let operations = route.writeOperations ?? UPDATE
  if (route.writeOperations === undefined && route.exists !== undefined) {
    operations = (await route.exists(store, param)) ? UPDATE : ['create']
  }
  return { path: aclPath, operation: operations, parameters, sudo }
}
