/**
 * tokentree/express: requireCapability through a real Express app.
 */
import express from 'express'

import { requireCapability } from '../../src/http/express.js'
import { runCapabilitySuite } from './helpers/capability-suite.js'

runCapabilitySuite('express', (store, options) => {
  const app = express()
  app.use(express.json(), requireCapability(store, options), (req, res) => {
    res.json({ accessor: req.token?.accessor ?? null })
  })
  return app
})
