/**
 * Conformance tests of `ping()` and of where a subscription starts (`SubscribeOptions`): part of
 * `runStorageConformance`, kept apart so that the main suite stays one concern per block.
 *
 * @packageDocumentation
 */
import assert from 'node:assert/strict'

import type { RevocationNotice, Storage, StorageNotice } from '../storage/storage.js'
import type { TokenRecord, UnixMillis } from '../types.js'
import { treeHashedId } from './tree-ids.js'

/** What the main suite lends these tests: its runner, fixtures and helpers. */
export interface StartupConformanceContext {
  readonly test: (name: string, fn: () => Promise<void>) => unknown
  readonly withStorage: (fn: (storage: Storage) => Promise<void>) => () => Promise<void>
  readonly withTwo: (fn: (a: Storage, b: Storage) => Promise<void>) => () => Promise<void>
  /** A fresh token record. */
  readonly token: (overrides?: Partial<TokenRecord>) => TokenRecord
  /** A fresh collector of notices. */
  readonly newInbox: () => {
    readonly push: (notice: StorageNotice) => void
    matching(accessors: ReadonlySet<string>): RevocationNotice[]
    waitFor(
      count: number,
      accessors: ReadonlySet<string>,
      timeout: number,
    ): Promise<RevocationNotice[]>
  }
  readonly noticeTimeout: number
  readonly now: UnixMillis
}

/** Registers the tests; called by `runStorageConformance` inside its `subscribe()` block. */
export function runStartupConformance(context: StartupConformanceContext): void {
  const { test, withStorage, withTwo, token, newInbox, noticeTimeout, now } = context
  const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 100))

  test(
    'ping() (optional) resolves on a working storage',
    withStorage(async (storage) => {
      await storage.ping?.()
    }),
  )

  test(
    'since: a subscription that starts late still delivers, once, what was deleted after `since`',
    withTwo(async (a, b) => {
      if (b.subscribe === undefined) return
      const tokens = inOneShard(token, 2)
      for (const t of tokens) await a.insertToken(t)
      const accessors = new Set(tokens.map((t) => t.accessor))
      const since = performance.now()
      for (const t of tokens) await a.deleteToken(t.id, 'explicit', now)
      const inbox = newInbox()
      const stop = await b.subscribe(inbox.push, { since })
      try {
        const got = await inbox.waitFor(2, accessors, noticeTimeout)
        assert.deepEqual(
          got.map((n) => n.accessor),
          tokens.map((t) => t.accessor),
        )
        await settle()
        assert.equal(inbox.matching(accessors).length, 2)
      } finally {
        await stop()
      }
    }),
  )

  test(
    'after: a subscription resumes right after the position an earlier one reported',
    withTwo(async (a, b) => {
      if (b.subscribe === undefined) return
      const tokens = inOneShard(token, 3)
      for (const t of tokens) await a.insertToken(t)
      const accessors = new Set(tokens.map((t) => t.accessor))
      const first = newInbox()
      const reported: { position: number | null } = { position: null }
      const stopFirst = await b.subscribe(first.push, {
        onPosition: (seq) => {
          reported.position = seq
        },
      })
      assert.notEqual(reported.position, null, 'the start position is reported')
      await a.deleteToken(tokens[0]?.id ?? token().id, 'explicit', now)
      assert.equal((await first.waitFor(1, accessors, noticeTimeout)).length, 1)
      await stopFirst()
      // Written while nobody listens.
      await a.deleteToken(tokens[1]?.id ?? token().id, 'explicit', now)
      const second = newInbox()
      const stopSecond = await b.subscribe(second.push, { after: reported.position ?? 0 })
      try {
        await a.deleteToken(tokens[2]?.id ?? token().id, 'explicit', now)
        const got = await second.waitFor(2, accessors, noticeTimeout)
        assert.deepEqual(
          got.map((n) => n.accessor),
          tokens.slice(1).map((t) => t.accessor),
        )
        await settle()
        assert.equal(second.matching(accessors).length, 2)
      } finally {
        await stopSecond()
      }
    }),
  )
}

/**
 * `count` tokens in one tree shard (see `Storage.treeShards`): a sharded storage delivers the notices of one shard
 * in order, and those of different shards interleaved.
 */
function inOneShard(
  token: (overrides?: Partial<TokenRecord>) => TokenRecord,
  count: number,
): TokenRecord[] {
  const first = token()
  return [first, ...Array.from({ length: count - 1 }, () => token({ id: treeHashedId(first.id) }))]
}
