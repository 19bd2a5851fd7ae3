/**
 * tokentree/koa: tokenAuth and requirePolicies through a real Koa app, plus the typing of `ctx.state.token`.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'

import Koa, { type Middleware } from 'koa'

import { TokenStore } from '../../src/index.js'
import { requirePolicies, tokenAuth } from '../../src/http/koa.js'
import { runMiddlewareSuite } from './helpers/middleware-suite.js'

runMiddlewareSuite('koa', (store, spec) => {
  const chain: Middleware[] = []
  if (spec.auth !== false) chain.push(tokenAuth(store, spec.auth))
  if (spec.policies) chain.push(requirePolicies(...spec.policies))
  const app = new Koa()
  for (const middleware of chain) app.use(middleware)
  app.use((ctx) => {
    // `ctx.state.token` is typed by the DefaultState augmentation: optional here, no cast.
    const token = ctx.state.token
    ctx.body = {
      accessor: token?.accessor ?? null,
      policies: token?.policies ?? null,
      numUses: token?.numUses ?? null,
    }
  })
  const handle = app.callback()
  return (req, res) => {
    void handle(req, res)
  }
})

test('koa tokenAuth(): the state after it has a non-optional token (type-level)', () => {
  const app = new Koa().use(tokenAuth(new TokenStore())).use((ctx) => {
    const accessor: string = ctx.state.token.accessor
    ctx.body = accessor
  })
  assert.equal(typeof app.callback, 'function')
})
