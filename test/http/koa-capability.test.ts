/**
 * tokentree/koa: requireCapability through a real Koa app.
 */
import Koa from 'koa'

import { requireCapability } from '../../src/http/koa.js'
import { runCapabilitySuite } from './helpers/capability-suite.js'

runCapabilitySuite('koa', (store, options) => {
  const app = new Koa().use(requireCapability(store, options)).use((ctx) => {
    // Typed by requireCapability: the token is there.
    ctx.body = { accessor: ctx.state.token.accessor }
  })
  const handle = app.callback()
  return (req, res) => {
    void handle(req, res)
  }
})
