/**
 * A named, parsed and checked policy, ready to be combined into an {@link Acl}. Pure.
 *
 * @packageDocumentation
 */
import { normalizePolicyName } from './builtin.js'
import { parsePolicy } from './parse.js'
import type { PolicyDocument } from './types.js'

/** A policy compiled once, when it is written or loaded, and shared by every {@link Acl} built from it. */
export interface CompiledPolicy {
  /** The normalised name (trimmed, lower-cased). */
  readonly name: string
  /** Its parsed rules. */
  readonly document: PolicyDocument
}

/**
 * Parses and checks a policy under a name, normalised as Vault normalises it.
 *
 * @param name - The policy's name; trimmed and lower-cased.
 * @param source - HCL text, JSON text, or a plain object in Vault's JSON shape.
 * @throws {@link TokenStoreError} `invalid_request` for a bad name or a malformed or unsupported policy (see
 * {@link parsePolicy}).
 *
 * @example
 * ```ts
 * const deploy = compilePolicy('Deploy', 'path "apps/+/deploy" { capabilities = ["update"] }')
 * deploy.name // 'deploy'
 * ```
 */
export function compilePolicy(name: string, source: string | object): CompiledPolicy {
  const normalized = normalizePolicyName(name)
  return Object.freeze({ name: normalized, document: parsePolicy(source) })
}
