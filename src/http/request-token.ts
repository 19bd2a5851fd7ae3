/**
 * Attaching `req.token` to a Node request without making every later property access on it slow.
 *
 * Express (4 and 5) gives each request its app's prototype with `Object.setPrototypeOf`, and V8 then caches no
 * hidden class for the properties added after it: the router's own (`next`, `baseUrl`, `params`, …) leave every
 * request with a hidden class of its own. Adding `token` builds one more, and every later property access on the
 * request, in Express, in the host's handler, misses V8's inline caches, which key on the hidden class. A request
 * in dictionary mode has the one hidden class V8 shares among such objects, so the same accesses hit the caches
 * (with a hash lookup). Deleting a property that is not the last one added is what switches an object to it; so a
 * scratch symbol goes on before `token` and is deleted after it.
 *
 * Nothing a program can see changes: `token` is an own, enumerable, writable, configurable data property, the last
 * in `Object.keys(req)`, and the scratch symbol is gone when the function returns, or throws. (A host's own setter
 * for `token` on the request prototype, or a Proxy around the request, would see the symbol come and go.) Counted with callgrind (one
 * Express 5 server per process, 6,000 requests after 2,000 of warm-up), the protected route costs about 616k
 * instructions a request this way against 691k with a plain `req.token = …`, and the same route with two no-op
 * middlewares 634k: Express's own later lookups get cheaper by more than the middleware costs. See
 * docs/benchmarks.md.
 *
 * @packageDocumentation
 */
import type { TokenInfo } from '../types.js'

/** Added before `token` and deleted after it, so that the request switches to dictionary mode; never left on it. */
const SCRATCH = Symbol('tokentree.request-shape')

/** Sets `request.token`, leaving the request in dictionary mode (see the module's comment for why). */
export function setRequestToken(request: { token?: TokenInfo }, token: TokenInfo): void {
  const scratch = request as Record<symbol, unknown>
  scratch[SCRATCH] = undefined
  try {
    request.token = token
  } finally {
    // Also when the assignment throws (a host's read-only `token`): the scratch key never outlives the call.
    Reflect.deleteProperty(scratch, SCRATCH)
  }
}
