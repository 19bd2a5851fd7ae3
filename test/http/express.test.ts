/**
 * tokentree/express: tokenAuth and requirePolicies through a real Express app, plus the typing of `req.token`.
 */
import express, { type RequestHandler } from 'express'

import { requirePolicies, tokenAuth } from '../../src/http/express.js'
import { runMiddlewareSuite } from './helpers/middleware-suite.js'

runMiddlewareSuite('express', (store, spec) => {
  const chain: RequestHandler[] = []
  if (spec.auth !== false) chain.push(tokenAuth(store, spec.auth))
  if (spec.policies) chain.push(requirePolicies(...spec.policies))
  const app = express()
  app.get('/whoami', ...chain, (req, res) => {
    // `req.token` is typed by the module augmentation: no cast.
    const token = req.token
    res.json({
      accessor: token?.accessor ?? null,
      policies: token?.policies ?? null,
      numUses: token?.numUses ?? null,
    })
  })
  return app
})
