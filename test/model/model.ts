/**
 * The reference model of a token tree: plain objects and loops, small enough to be obviously right. The property
 * tests run the same operations on it and on a real `TokenStore` and compare every answer and every `revoked`
 * event. It models an ideal store: an expired token is revoked at the very instant it expires.
 */
import type { RevokeReason, TokenStoreErrorCode } from 'tokentree'

/** The store settings the property tests use: short enough that expiry happens within a run. */
export const SETTINGS = { defaultTtl: 3600, maxTtl: 4 * 3600 } as const

export type Outcome<T> = { ok: true; value: T } | { ok: false; code: TokenStoreErrorCode }

export interface MToken {
  readonly key: number
  readonly clientToken: string
  readonly accessor: string
  parent: number | null
  readonly policies: readonly string[]
  /** Uses granted at creation; 0 is unlimited. */
  readonly granted: number
  usesLeft: number
  expiresAt: number | null
  /** Last TTL granted, seconds. */
  ttl: number
  readonly creationTime: number
  readonly path: string
  readonly renewable: boolean
  gone: boolean
}

export interface MLease {
  readonly leaseId: string
  readonly token: number
  readonly path: string
  expiresAt: number
  gone: boolean
}

/** A `revoked` event the model expects; `reasons` lists the acceptable ones (ties in expiry allow two). */
export interface MEvent {
  readonly kind: 'token' | 'lease'
  /** The accessor of a token, the id of a lease. */
  readonly id: string
  readonly reasons: readonly RevokeReason[]
}

/** What a token looks like through `lookup`/`authenticate`/`create`. */
export interface MView {
  readonly policies: readonly string[]
  readonly numUses: number
  readonly orphan: boolean
  /** Seconds left (lookup) or granted (create). 0 when it never expires. */
  readonly ttl: number
  readonly path: string
}

export interface CreateRequest {
  readonly parent: number | null
  readonly policies: readonly string[] | undefined
  readonly numUses: number
  readonly ttl: number
  readonly noParent: boolean
  readonly renewable: boolean
  readonly path: string | undefined
}

/** A create the model accepts, waiting for the ids the real store drew. */
export interface CreatePlan extends MView {
  readonly parent: number | null
  readonly expiresAt: number | null
  readonly renewable: boolean
}

const ok = <T>(value: T): Outcome<T> => ({ ok: true, value })
const fail = <T>(code: TokenStoreErrorCode): Outcome<T> => ({ ok: false, code })
const sorted = (names: Iterable<string>): string[] => [...new Set(names)].sort()
const isRoot = (policies: readonly string[]): boolean => policies.includes('root')

export class Model {
  now: number
  tokens: MToken[] = []
  leases: MLease[] = []
  events: MEvent[] = []

  constructor(now: number) {
    this.now = now
  }

  clone(): Model {
    const copy = new Model(this.now)
    copy.tokens = this.tokens.map((t) => ({ ...t }))
    copy.leases = this.leases.map((l) => ({ ...l }))
    copy.events = [...this.events]
    return copy
  }

  /** Exists, and it and every ancestor are unexpired and not revoked. */
  live(key: number): boolean {
    for (let t = this.tokens[key]; t !== undefined; t = this.parentOf(t)) {
      if (t.gone || (t.expiresAt !== null && this.now >= t.expiresAt)) return false
    }
    return true
  }

  view(t: MToken, ttl: number): MView {
    return {
      policies: t.policies,
      numUses: t.usesLeft,
      orphan: t.parent === null,
      ttl,
      path: t.path,
    }
  }

  lookup(key: number): MView | null {
    const t = this.tokens[key]
    if (t === undefined || !this.live(key)) return null
    return this.view(t, t.expiresAt === null ? 0 : Math.round((t.expiresAt - this.now) / 1000))
  }

  create(req: CreateRequest): Outcome<CreatePlan> {
    let policies: readonly string[]
    const parent = req.parent === null ? undefined : this.tokens[req.parent]
    if (parent === undefined) {
      policies = sorted([...(req.policies ?? []), 'default'])
    } else {
      if (!this.live(parent.key)) return fail('invalid_token')
      if (parent.granted > 0) return fail('permission_denied')
      const privileged = isRoot(parent.policies)
      if (req.noParent && !privileged) return fail('permission_denied')
      if (req.policies === undefined || req.policies.length === 0) policies = parent.policies
      else if (privileged) policies = sorted([...req.policies, 'default'])
      else if (req.policies.some((p) => !parent.policies.includes(p)))
        return fail('permission_denied')
      else policies = sorted([...req.policies, 'default'])
    }
    let ttl: number
    if (isRoot(policies) && req.ttl === 0) {
      if (parent?.expiresAt != null) return fail('permission_denied')
      ttl = 0
    } else {
      ttl = Math.min(req.ttl > 0 ? req.ttl : SETTINGS.defaultTtl, SETTINGS.maxTtl)
    }
    const orphan = parent === undefined || req.noParent
    return ok({
      policies,
      numUses: req.numUses,
      orphan,
      ttl,
      path: parent === undefined ? (req.path ?? 'auth/token/create-orphan') : 'auth/token/create',
      parent: orphan ? null : parent.key,
      expiresAt: ttl === 0 ? null : this.now + ttl * 1000,
      renewable: ttl > 0 && req.renewable,
    })
  }

  /** Records a token the real store created as `plan` said. */
  add(plan: CreatePlan, clientToken: string, accessor: string): MToken {
    const token: MToken = {
      key: this.tokens.length,
      clientToken,
      accessor,
      parent: plan.parent,
      policies: plan.policies,
      granted: plan.numUses,
      usesLeft: plan.numUses,
      expiresAt: plan.expiresAt,
      ttl: plan.ttl,
      creationTime: this.now,
      path: plan.path,
      renewable: plan.renewable,
      gone: false,
    }
    this.tokens.push(token)
    return token
  }

  authenticate(key: number): Outcome<MView> {
    const t = this.tokens[key]
    if (t === undefined || !this.live(key)) return fail('invalid_token')
    const view = this.lookup(key)
    if (t.usesLeft > 0) {
      t.usesLeft -= 1
      if (t.usesLeft === 0)
        this.revokeTree([key], (x) => (x.key === key ? ['uses_exhausted'] : ['parent']))
    }
    return ok({ ...(view as MView), numUses: t.usesLeft })
  }

  renew(key: number, increment: number): Outcome<{ ttl: number }> {
    const t = this.tokens[key]
    if (t === undefined || !this.live(key)) return fail('invalid_token')
    if (t.expiresAt === null || !t.renewable) return fail('not_renewable')
    const left = Math.floor((t.creationTime + SETTINGS.maxTtl * 1000 - this.now) / 1000)
    if (left <= 0) return fail('not_renewable')
    const ttl = Math.min(increment > 0 ? increment : t.ttl, left)
    t.ttl = ttl
    t.expiresAt = this.now + ttl * 1000
    return ok({ ttl })
  }

  revoke(key: number): void {
    if (this.tokens[key]?.gone === false)
      this.revokeTree([key], (x) => (x.key === key ? ['explicit'] : ['parent']))
  }

  revokeAccessor(accessor: string): void {
    const t = this.tokens.find((x) => x.accessor === accessor && !x.gone)
    if (t !== undefined) this.revoke(t.key)
  }

  revokeOrphan(key: number): void {
    const t = this.tokens[key]
    if (t === undefined || t.gone) return
    // A token that is no longer live (expired, or under a dead ancestor) cannot hand its children back to life:
    // they go with it.
    if (!this.live(key)) {
      this.revokeTree([key], (x) => (x.key === key ? ['orphan'] : ['parent']))
      return
    }
    for (const child of this.tokens) if (!child.gone && child.parent === key) child.parent = null
    this.drop(t, ['orphan'])
  }

  revokePrefix(prefix: string): number {
    const before = this.events.length
    const named = this.tokens.filter((t) => !t.gone && under(t.path, prefix)).map((t) => t.key)
    const namedSet = new Set(named)
    this.revokeTree(named, (t) => (namedSet.has(t.key) ? ['prefix'] : ['parent']))
    for (const lease of this.leases) {
      if (!lease.gone && lease.leaseId.startsWith(`${prefix}/`)) this.dropLease(lease, ['prefix'])
    }
    return this.events.length - before
  }

  createLease(key: number, ttl: number): Outcome<{ ttl: number }> {
    if (!this.live(key)) return fail('invalid_token')
    return ok({ ttl: Math.min(ttl > 0 ? ttl : SETTINGS.defaultTtl, SETTINGS.maxTtl) })
  }

  addLease(key: number, leaseId: string, path: string, ttl: number): void {
    this.leases.push({ leaseId, token: key, path, expiresAt: this.now + ttl * 1000, gone: false })
  }

  lookupLease(index: number): { ttl: number } | null {
    const lease = this.leases[index]
    if (lease === undefined || lease.gone || this.now >= lease.expiresAt) return null
    if (!this.live(lease.token)) return null
    return { ttl: Math.round((lease.expiresAt - this.now) / 1000) }
  }

  revokeLease(index: number): void {
    const lease = this.leases[index]
    if (lease !== undefined && !lease.gone) this.dropLease(lease, ['explicit'])
  }

  /**
   * Moves time. With `sweep` (an expiration timer), everything is revoked at the instant it expires, in time
   * order; without, expired tokens and leases stay stored (unusable) until `revokeExpired()`.
   */
  advance(seconds: number, sweep = true): void {
    const target = this.now + seconds * 1000
    for (; sweep;) {
      const due = [
        ...this.tokens.filter((t) => !t.gone && t.expiresAt !== null).map((t) => t.expiresAt),
        ...this.leases.filter((l) => !l.gone).map((l) => l.expiresAt),
      ].filter((at): at is number => at !== null && at <= target)
      if (due.length === 0) break
      this.now = Math.min(...due)
      const expired = (t: MToken): boolean => t.expiresAt !== null && t.expiresAt <= this.now
      // Ancestor and descendant expiring at the same instant: the sweep may reach either first.
      const roots = this.tokens.filter((t) => !t.gone && expired(t)).map((t) => t.key)
      const rootSet = new Set(roots)
      this.revokeTree(roots, (t) =>
        rootSet.has(t.key) && !this.hasExpiredAncestor(t)
          ? ['expired']
          : expired(t)
            ? ['parent', 'expired']
            : ['parent'],
      )
      for (const lease of this.leases) {
        if (!lease.gone && lease.expiresAt <= this.now) this.dropLease(lease, ['expired'])
      }
    }
    this.now = target
  }

  /**
   * One sweep by hand at `now`: every expired token, soonest first, with its subtree (`expired` for it, `parent`
   * below), then every expired lease left. Returns how many tokens and leases expired on their own: `min`; the
   * sweep may also reach first a token that expired at the same instant as an ancestor, counting it too (up to
   * `max`, and then reporting it and its leases `expired` rather than `parent`).
   */
  revokeExpired(): { min: number; max: number } {
    let min = 0
    let ties = 0
    const due = this.tokens.filter(
      (t) => !t.gone && t.expiresAt !== null && t.expiresAt <= this.now,
    )
    // Stable: of tokens expiring at one instant, ancestors (created first) come first.
    due.sort((a, b) => (a.expiresAt as number) - (b.expiresAt as number))
    for (const top of due) {
      if (top.gone) {
        ties += due.some((a) => a.expiresAt === top.expiresAt && this.isAncestor(a, top)) ? 1 : 0
        continue
      }
      min += 1
      const at = top.expiresAt
      this.revokeTree([top.key], (t) =>
        t.key === top.key ? ['expired'] : t.expiresAt === at ? ['parent', 'expired'] : ['parent'],
      )
    }
    for (const lease of this.leases) {
      if (!lease.gone && lease.expiresAt <= this.now) {
        min += 1
        this.dropLease(lease, ['expired'])
      }
    }
    return { min, max: min + ties }
  }

  /** Whether `key` is `top` or lies in its subtree. */
  isBelow(key: number, top: number): boolean {
    for (let t = this.tokens[key]; t !== undefined; t = this.parentOf(t))
      if (t.key === top) return true
    return false
  }

  private isAncestor(a: MToken, t: MToken): boolean {
    for (let p = this.parentOf(t); p !== undefined; p = this.parentOf(p))
      if (p.key === a.key) return true
    return false
  }

  private hasExpiredAncestor(t: MToken): boolean {
    for (let a = this.parentOf(t); a !== undefined; a = this.parentOf(a)) {
      if (a.expiresAt !== null && a.expiresAt <= this.now) return true
    }
    return false
  }

  /** Revokes each named subtree: every token and its leases, with the reasons `reasonsOf` gives. */
  private revokeTree(
    keys: readonly number[],
    reasonsOf: (t: MToken) => readonly RevokeReason[],
  ): void {
    const seen = new Set<number>()
    const stack = [...keys]
    const order: MToken[] = []
    while (stack.length > 0) {
      const key = stack.pop() as number
      const t = this.tokens[key]
      if (t === undefined || t.gone || seen.has(key)) continue
      seen.add(key)
      order.push(t)
      for (const child of this.tokens)
        if (!child.gone && child.parent === key) stack.push(child.key)
    }
    for (const t of order) this.drop(t, reasonsOf(t))
  }

  private drop(t: MToken, reasons: readonly RevokeReason[]): void {
    for (const lease of this.leases)
      if (!lease.gone && lease.token === t.key) this.dropLease(lease, reasons)
    t.gone = true
    this.events.push({ kind: 'token', id: t.accessor, reasons })
  }

  private dropLease(lease: MLease, reasons: readonly RevokeReason[]): void {
    lease.gone = true
    this.events.push({ kind: 'lease', id: lease.leaseId, reasons })
  }

  private parentOf(t: MToken): MToken | undefined {
    return t.parent === null ? undefined : this.tokens[t.parent]
  }
}

/** Whether `path` is `prefix` or below it, as `revokePrefix` matches. */
export function under(path: string, prefix: string): boolean {
  return path === prefix || path.startsWith(`${prefix}/`)
}
