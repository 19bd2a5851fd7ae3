/**
 * ACL policies in the store's storage, and the compiled ACLs built from them. Each instance compiles a policy once,
 * builds one {@link Acl} per distinct set of policy names, and drops what a change notice names, so a request
 * never parses or compiles anything.
 *
 * @packageDocumentation
 */
import { Acl } from './acl/acl.js'
import {
  DEFAULT_POLICY,
  DEFAULT_POLICY_TEXT,
  RESPONSE_WRAPPING_POLICY_TEXT,
  ROOT_POLICY,
  normalizePolicyName,
} from './acl/builtin.js'
import { compilePolicy, type CompiledPolicy } from './acl/compile.js'
import type { PolicyPathRule } from './acl/types.js'
import { describeValue, invalidRequest } from './errors.js'
import { UNSTORABLE_TEXT } from './options.js'
import { NON_ASSIGNABLE_POLICIES } from './policies.js'
import { RESPONSE_WRAPPING_POLICY } from './wrapping.js'
import type { Storage } from './storage/storage.js'
import type { UnixMillis } from './types.js'

/** A policy as `store.policies.read()` returns it. */
export interface PolicyEntry {
  /** The normalised name (trimmed, lower-cased). */
  readonly name: string
  /** The source text as written (HCL or JSON); a policy written as an object is kept as JSON text. */
  readonly text: string
  /** Its path rules, as parsed. `root` has none: it is not made of rules, it allows everything. */
  readonly rules: readonly PolicyPathRule[]
}

/** The storage methods policies need, once checked to be there. */
type PolicyStorage = Required<
  Pick<Storage, 'putPolicy' | 'getPolicy' | 'listPolicies' | 'deletePolicy'>
>

/** Most ACLs (distinct policy sets) kept per storage; the oldest goes first. */
const MAX_ACLS = 1000
/** Most compiled policies kept per storage before the cache starts over. */
const MAX_COMPILED = 10_000

/** The ACL of every token holding `root`. */
const ROOT_ACL = Acl.from([], { root: true })

/** The built-in `default` policy, compiled on first use. */
let builtinDefault: CompiledPolicy | undefined
/**
 * The text of each reserved name that has built-in rules (`control-group` has none), and its compiled form once
 * used: the one place that says what a reserved name grants, for `#load` and `read` alike.
 */
const RESERVED_TEXTS: ReadonlyMap<string, string> = new Map([
  [RESPONSE_WRAPPING_POLICY, RESPONSE_WRAPPING_POLICY_TEXT],
])
const reservedCompiled = new Map<string, CompiledPolicy>()

function defaultPolicy(): CompiledPolicy {
  builtinDefault ??= compilePolicy(DEFAULT_POLICY, DEFAULT_POLICY_TEXT)
  return builtinDefault
}

/**
 * The compiled policy a reserved name stands for, whatever a storage holds under that name (a policy written before
 * such writes were refused); `null` for one without built-in rules.
 */
function reservedPolicy(name: string): CompiledPolicy | null {
  const text = RESERVED_TEXTS.get(name)
  if (text === undefined) return null
  let compiled = reservedCompiled.get(name)
  if (compiled === undefined) {
    compiled = compilePolicy(name, text)
    reservedCompiled.set(name, compiled)
  }
  return compiled
}

/** The compiled policy of a storage's text for `name`: `default`'s built-in rules when there is none. */
function storedPolicy(name: string, text: string | null | undefined): CompiledPolicy | null {
  if (text === undefined || text === null) return name === DEFAULT_POLICY ? defaultPolicy() : null
  try {
    return compilePolicy(name, text)
  } catch {
    // Written by another version that read it differently: it grants nothing here, rather than too much.
    return null
  }
}

/** One cache per storage object, so that stores sharing a storage object share (and invalidate) it. */
const caches = new WeakMap<Storage, PolicyCache>()

/**
 * Policies of one storage: reads and writes them, and caches their compiled form and the ACLs built from them.
 * Internal: `TokenStore` exposes it as `store.policies`, `store.authorize` and `store.capabilities`.
 */
export class PolicyCache {
  readonly #storage: Storage
  /** Compiled policies by name; `null` for a name known to have no policy (it grants nothing). */
  readonly #compiled = new Map<string, CompiledPolicy | null>()
  /** ACLs by the joined, sorted names of their policies. */
  readonly #acls = new Map<string, Acl>()
  /** ACLs by the (interned, frozen) policy array itself: the memory storage hands out the same array each time. */
  #byArray = new WeakMap<readonly string[], Acl>()
  /**
   * The last policy array `cached` found, and its ACL: most tokens of a service share one policy set, and comparing
   * one reference is cheaper than a WeakMap lookup. Dropped with the rest by every invalidation.
   */
  #lastPolicies: readonly string[] | undefined
  #lastAcl: Acl | undefined
  /** Bumped by every invalidation, so that a load begun before one does not cache what it read. */
  #generation = 0

  private constructor(storage: Storage) {
    this.#storage = storage
  }

  /** The cache of this storage object, made on first use. */
  static for(storage: Storage): PolicyCache {
    let cache = caches.get(storage)
    if (cache === undefined) {
      cache = new PolicyCache(storage)
      caches.set(storage, cache)
    }
    return cache
  }

  /** The ACL of a token's policies if it is cached: the request path's fast, synchronous case. */
  cached(policies: readonly string[]): Acl | undefined {
    if (policies === this.#lastPolicies) return this.#lastAcl
    const acl = this.#byArray.get(policies)
    if (acl !== undefined) {
      this.#lastPolicies = policies
      this.#lastAcl = acl
    }
    return acl
  }

  /** The ACL of a token's policies, compiling and caching what is missing. `root` allows everything. */
  async acl(policies: readonly string[]): Promise<Acl> {
    const found = this.#byArray.get(policies)
    if (found !== undefined) return found
    if (policies.includes(ROOT_POLICY)) return this.#remember(policies, ROOT_ACL)
    const key = policies.join('\n')
    const known = this.#acls.get(key)
    if (known !== undefined) return this.#remember(policies, known)
    const generation = this.#generation
    const compiled: CompiledPolicy[] = []
    for (const name of policies) {
      const policy = await this.#load(name, generation)
      if (policy !== null) compiled.push(policy)
    }
    const acl = Acl.from(compiled)
    if (generation === this.#generation) {
      if (this.#acls.size >= MAX_ACLS) this.#acls.delete(this.#acls.keys().next().value as string)
      this.#acls.set(key, acl)
      this.#remember(policies, acl)
    }
    return acl
  }

  /** Drops what was compiled from the named policy (written or deleted here or by another instance). */
  invalidate(name: string): void {
    this.#generation += 1
    this.#lastPolicies = undefined
    this.#lastAcl = undefined
    this.#compiled.delete(name)
    this.#acls.clear()
    this.#byArray = new WeakMap()
  }

  /** Drops everything compiled: for when notices may have been missed (a subscription just started). */
  invalidateAll(): void {
    this.#generation += 1
    this.#lastPolicies = undefined
    this.#lastAcl = undefined
    this.#compiled.clear()
    this.#acls.clear()
    this.#byArray = new WeakMap()
  }

  /**
   * Checks, compiles and stores a policy.
   *
   * @throws {@link TokenStoreError} `invalid_request` for a bad name, `root`, a malformed policy, or a storage
   * without policies.
   */
  async write(name: string, source: string | object, now: UnixMillis): Promise<PolicyEntry> {
    const normalized = normalizePolicyName(name)
    if (normalized === ROOT_POLICY || NON_ASSIGNABLE_POLICIES.includes(normalized)) {
      throw invalidRequest(`cannot update ${normalized} policy`)
    }
    const given: unknown = source
    if (typeof given !== 'string' && (typeof given !== 'object' || given === null)) {
      throw invalidRequest(
        `Expected the policy to be HCL or JSON text or an object, got ${describeValue(given)}`,
      )
    }
    const compiled = compilePolicy(normalized, source)
    const text = typeof source === 'string' ? source : JSON.stringify(source, null, 2)
    // Refused here so that every storage keeps the same text (PostgreSQL cannot hold NUL, and its driver would
    // store a lone surrogate as U+FFFD: the policy read back would not be the one written).
    if (UNSTORABLE_TEXT.test(text)) {
      throw invalidRequest('Expected the policy without NUL characters or lone surrogates')
    }
    await this.#writable().putPolicy(normalized, text, now)
    this.invalidate(normalized)
    return { name: normalized, text, rules: compiled.document.rules }
  }

  /** The named policy (built-ins included), or `null`. */
  async read(name: string): Promise<PolicyEntry | null> {
    const normalized = normalizePolicyName(name)
    if (normalized === ROOT_POLICY) return { name: ROOT_POLICY, text: '', rules: [] }
    if (NON_ASSIGNABLE_POLICIES.includes(normalized)) {
      // What it grants, never a copy a storage may still hold (the ACL ignores that too).
      const reserved = reservedPolicy(normalized)
      const text = RESERVED_TEXTS.get(normalized)
      return reserved === null || text === undefined
        ? null
        : { name: normalized, text, rules: reserved.document.rules }
    }
    const text = await this.#storage.getPolicy?.(normalized)
    if (text === undefined || text === null) {
      if (normalized !== DEFAULT_POLICY) return null
      return {
        name: DEFAULT_POLICY,
        text: DEFAULT_POLICY_TEXT,
        rules: defaultPolicy().document.rules,
      }
    }
    return { name: normalized, text, rules: compilePolicy(normalized, text).document.rules }
  }

  /**
   * Every policy's name, sorted, `root` and `default` included. The reserved names are left out, as Vault lists
   * them (a copy a storage still holds from an earlier version included): no token can be given them.
   */
  async list(): Promise<string[]> {
    const stored = (await this.#storage.listPolicies?.()) ?? []
    const listed = stored.filter((name) => !NON_ASSIGNABLE_POLICIES.includes(name))
    return [...new Set([...listed, DEFAULT_POLICY, ROOT_POLICY])].sort()
  }

  /**
   * Deletes a policy; an unknown name is a no-op. Tokens keep the name, which then grants nothing.
   *
   * @throws {@link TokenStoreError} `invalid_request` for `root`, `default`, a bad name, or a storage without
   * policies.
   */
  async delete(name: string, now: UnixMillis): Promise<void> {
    const normalized = normalizePolicyName(name)
    if (
      normalized === ROOT_POLICY ||
      normalized === DEFAULT_POLICY ||
      NON_ASSIGNABLE_POLICIES.includes(normalized)
    ) {
      throw invalidRequest(`cannot delete ${normalized} policy`)
    }
    await this.#writable().deletePolicy(normalized, now)
    this.invalidate(normalized)
  }

  #remember(policies: readonly string[], acl: Acl): Acl {
    this.#byArray.set(policies, acl)
    return acl
  }

  /** The compiled policy of this name, or `null` when there is none (or what is stored no longer parses). */
  async #load(name: string, generation: number): Promise<CompiledPolicy | null> {
    const known = this.#compiled.get(name)
    if (known !== undefined) return known
    // A reserved name has its built-in rules, never what a storage holds (written before writes were refused).
    const compiled = NON_ASSIGNABLE_POLICIES.includes(name)
      ? reservedPolicy(name)
      : storedPolicy(name, await this.#storage.getPolicy?.(name))
    if (generation === this.#generation) {
      if (this.#compiled.size >= MAX_COMPILED) this.#compiled.clear()
      this.#compiled.set(name, compiled)
    }
    return compiled
  }

  #writable(): PolicyStorage {
    const storage = this.#storage
    if (
      storage.putPolicy === undefined ||
      storage.getPolicy === undefined ||
      storage.listPolicies === undefined ||
      storage.deletePolicy === undefined
    ) {
      throw invalidRequest('This storage does not support policies')
    }
    return storage as Storage & PolicyStorage
  }
}
