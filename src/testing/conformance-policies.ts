/**
 * The policy part of the storage conformance suite: `putPolicy`, `getPolicy`, `listPolicies`, `deletePolicy`, and
 * the policy notices a shared storage delivers to its other instances. Called by `runStorageConformance`.
 *
 * @packageDocumentation
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'

import type { PolicyNotice, Storage, StorageNotice } from '../storage/storage.js'
import type { UnixMillis } from '../types.js'
import type { ConformanceRunner, StorageFactory } from './conformance.js'

/** A time far from any real clock. */
const NOW: UnixMillis = 2_000_000_000_000

/** The policy methods, once checked to be there. */
type PolicyStorage = Required<
  Pick<Storage, 'putPolicy' | 'getPolicy' | 'listPolicies' | 'deletePolicy'>
>

/**
 * Registers the policy tests. A storage without `putPolicy` skips them (through the runner's test context, when it
 * has `skip`); one without `subscribe` skips the notice test.
 */
export function runPolicyConformance(
  runner: ConformanceRunner,
  makeStorage: StorageFactory,
  options: { readonly noticeTimeout: number },
): void {
  const { test, describe } = runner

  const withPolicies = (
    count: 1 | 2,
    fn: (a: PolicyStorage & Storage, b: PolicyStorage & Storage) => Promise<void>,
  ): (() => Promise<void>) =>
    async function optional(...context: unknown[]): Promise<void> {
      const made: Storage[] = []
      try {
        for (let i = 0; i < count; i++) made.push(await makeStorage())
        const [a, b = a] = made as [Storage, Storage?]
        if (typeof a.putPolicy !== 'function') {
          skip(context[0], 'the storage has no putPolicy(), an optional method')
          return
        }
        await fn(a as PolicyStorage & Storage, b as PolicyStorage & Storage)
      } finally {
        for (const storage of made) await storage.close?.()
      }
    }

  describe('policies: putPolicy() / getPolicy() / listPolicies() / deletePolicy() (optional)', () => {
    test(
      'stores the text as given, finds it by name, and replaces it by name',
      withPolicies(1, async (s) => {
        const name = policyName()
        const text = 'path "secret/*" {\n  capabilities = ["read", "list"]\n}\n# ünïcode ✓\n'
        await s.putPolicy(name, text, NOW)
        assert.equal(await s.getPolicy(name), text)
        await s.putPolicy(name, '{"path":{"a":{"capabilities":["deny"]}}}', NOW + 1)
        assert.equal(await s.getPolicy(name), '{"path":{"a":{"capabilities":["deny"]}}}')
        assert.equal(await s.getPolicy(`${name}-missing`), null)
        await s.deletePolicy(name, NOW + 2)
      }),
    )

    test(
      'lists every name, sorted; deletePolicy resolves to whether the policy existed',
      withPolicies(1, async (s) => {
        const stem = policyName()
        const names = [`${stem}-c`, `${stem}-a`, `${stem}-b`]
        for (const name of names) await s.putPolicy(name, `# ${name}`, NOW)
        const listed = await s.listPolicies()
        assert.deepEqual(listed, [...listed].sort(), 'listPolicies() is sorted')
        assert.deepEqual(
          listed.filter((name) => name.startsWith(stem)),
          [`${stem}-a`, `${stem}-b`, `${stem}-c`],
        )
        assert.equal(await s.deletePolicy(`${stem}-a`, NOW), true)
        assert.equal(await s.deletePolicy(`${stem}-a`, NOW), false)
        assert.equal(await s.getPolicy(`${stem}-a`), null)
        assert.ok(!(await s.listPolicies()).includes(`${stem}-a`))
        for (const name of names) await s.deletePolicy(name, NOW)
      }),
    )

    test(
      "a second instance receives the first one's policy writes and deletions, in order, and not its own",
      withPolicies(2, async (a, b) => {
        if (a.subscribe === undefined || b.subscribe === undefined) return
        const inbox: StorageNotice[] = []
        const own: StorageNotice[] = []
        const stopB = await b.subscribe((notice) => inbox.push(notice))
        const stopA = await a.subscribe((notice) => own.push(notice))
        try {
          const name = policyName()
          await a.putPolicy(name, '# one', NOW + 1)
          await a.putPolicy(name, '# two', NOW + 2)
          await a.deletePolicy(name, NOW + 3)
          await a.deletePolicy(name, NOW + 4) // already gone: no notice
          const expected: PolicyNotice[] = [
            { kind: 'policy', name, time: NOW + 1 },
            { kind: 'policy', name, time: NOW + 2 },
            { kind: 'policy', name, time: NOW + 3 },
          ]
          assert.deepEqual(await waitFor(inbox, name, 3, options.noticeTimeout), expected)
          await b.putPolicy(name, '# from b', NOW + 5)
          assert.deepEqual(await waitFor(own, name, 1, options.noticeTimeout), [
            { kind: 'policy', name, time: NOW + 5 },
          ])
          await new Promise((resolve) => setTimeout(resolve, 150))
          assert.equal(about(inbox, name).length, 3, 'no duplicate, and not its own')
          await b.deletePolicy(name, NOW + 6)
        } finally {
          await stopB()
          await stopA()
        }
      }),
    )
  })
}

/** A fresh policy name, so that tests sharing a backend never meet. */
function policyName(): string {
  return `conformance-${randomBytes(6).toString('hex')}`
}

function about(notices: readonly StorageNotice[], name: string): PolicyNotice[] {
  return notices.filter((n): n is PolicyNotice => n.kind === 'policy' && n.name === name)
}

/** Polls `notices` until `count` about `name` arrived or `timeout` ms passed, then returns them. */
async function waitFor(
  notices: readonly StorageNotice[],
  name: string,
  count: number,
  timeout: number,
): Promise<PolicyNotice[]> {
  const deadline = Date.now() + timeout
  while (about(notices, name).length < count && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  return about(notices, name)
}

function skip(context: unknown, reason: string): void {
  const method = (context as { skip?: unknown } | null | undefined)?.skip
  if (typeof method === 'function') (method as (reason: string) => void).call(context, reason)
}
