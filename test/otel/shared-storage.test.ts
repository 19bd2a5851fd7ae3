/**
 * tokentree/otel across two instances of a shared storage (PostgresStorage on PGlite, in-process): a revocation
 * made by one is counted `local` there and `remote` on the other, with its notice lag, and the other's
 * subscription gauge reads 1.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, test } from 'node:test'

import { PGlite } from '@electric-sql/pglite'
import { TokenStore, type RevokedEvent } from 'tokentree'
import { ATTRIBUTES, METRICS, instrument } from 'tokentree/otel'
import { PostgresStorage, migrate } from 'tokentree/postgres'

import { memoryMeter, type HistogramValue } from './helpers.js'

const db = await PGlite.create()
const SCHEMA = `otel_${randomBytes(4).toString('hex')}`
/** HMAC secret shared by both instances, as in production. */
const SECRET = 'otel test secret of at least 32 bytes!!'
await migrate(db, { schema: SCHEMA })

after(async () => {
  await db.close()
})

test('instrument(): a revocation is local on the instance that made it and remote on the other', async () => {
  const writer = new TokenStore({
    storage: new PostgresStorage({ pool: db, schema: SCHEMA, pollInterval: 60_000 }),
    secret: SECRET,
    timers: false,
  })
  const reader = new TokenStore({
    storage: new PostgresStorage({ pool: db, schema: SCHEMA, pollInterval: 60_000 }),
    secret: SECRET,
    timers: false,
  })
  const writing = memoryMeter()
  const reading = memoryMeter()
  const writerInstrumentation = instrument(writer, { meter: writing.meter, tracer: false })
  const readerInstrumentation = instrument(reader, { meter: reading.meter, tracer: false })
  try {
    await reader.ready()
    const heard = new Promise<RevokedEvent>((resolve) => {
      reader.once('revoked', resolve)
    })
    const auth = await writer.create({ policies: ['app'] })
    await writer.revoke(auth.clientToken)
    const event = await heard
    assert.equal(event.accessor, auth.accessor)

    const origin = (origin: string) => ({
      [ATTRIBUTES.revocationKind]: 'token',
      [ATTRIBUTES.revocationReason]: 'explicit',
      [ATTRIBUTES.revocationOrigin]: origin,
    })
    const written = await writing.collect()
    const read = await reading.collect()
    assert.equal(written.value(METRICS.revocations, origin('local')), 1)
    assert.equal(read.value(METRICS.revocations, origin('remote')), 1)
    assert.equal(read.points(METRICS.revocations, origin('local')).length, 0)
    const lag = read.value(METRICS.noticeLag, {
      [ATTRIBUTES.noticeKind]: 'token',
    }) as HistogramValue
    assert.equal(lag.count, 1)
    // Both clocks are this process's: the lag is real and short.
    assert.ok((lag.sum ?? -1) >= 0 && (lag.sum ?? 60) < 30, `lag ${String(lag.sum)} s`)
    assert.equal(read.value(METRICS.subscriptionUp, {}), 1)
  } finally {
    writerInstrumentation.close()
    readerInstrumentation.close()
    await writer.close()
    await reader.close()
  }
})
