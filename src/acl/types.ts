/**
 * The shapes of Vault's ACL policy language as tokentree reads it: capabilities, one path rule, a parsed policy, a
 * request to check and the decision. Types only.
 *
 * @packageDocumentation
 */

/**
 * What a path rule grants, as Vault names it. `deny` overrides every other capability of the rule it is in; `sudo`
 * is needed on top of the operation's capability for Vault's root-protected endpoints.
 */
export type Capability =
  'create' | 'read' | 'update' | 'patch' | 'delete' | 'list' | 'sudo' | 'deny'

/**
 * The operation of a request, each checked against the capability of the same name (Vault's `logical.Operation`
 * without help, renew, revoke and rollback, which Vault maps to `update`).
 */
export type AclOperation = 'create' | 'read' | 'update' | 'patch' | 'delete' | 'list'

/**
 * One `path "<pattern>" { ... }` block of a policy, as written (the pattern keeps its trailing `*`; a leading `/` is
 * stripped, as Vault strips it).
 */
export interface PolicyPathRule {
  /** The pattern: an exact path, a path ending in `*` (a prefix), or one with `+` segments. */
  readonly path: string
  /**
   * The capabilities granted, in the order written; the old `policy = "read"` form is expanded as Vault expands it.
   * A rule holding `deny` holds only `deny`.
   */
  readonly capabilities: readonly Capability[]
  /**
   * Parameter name (lower-cased) → the values a request may pass; an empty list allows any value, and the name `*`
   * allows parameters not listed. Absent: no restriction.
   */
  readonly allowedParameters?: Readonly<Record<string, readonly unknown[]>>
  /** Parameter name (lower-cased) → values a request may not pass; an empty list denies any value, `*` any name. */
  readonly deniedParameters?: Readonly<Record<string, readonly unknown[]>>
  /** Parameters a request must pass. */
  readonly requiredParameters?: readonly string[]
}

/** A parsed policy: its path rules, in the order written. */
export interface PolicyDocument {
  /** Every `path` block of the policy, in the order written. */
  readonly rules: readonly PolicyPathRule[]
}

/** A request to check against an {@link Acl}: where, what, and with which parameters. */
export interface AuthorizeRequest {
  /** The request path, relative to the API root (`secret/foo`, not `/v1/secret/foo`); a leading `/` is ignored. */
  readonly path: string
  /** The operation: checked against the capability of the same name. */
  readonly operation: AclOperation
  /**
   * The request's parameters (its body or query). When given, the applying rule's `allowed_parameters`,
   * `denied_parameters` and `required_parameters` are enforced on them as Vault enforces them (for `create`, `read`,
   * `update` and `patch`); when absent, they are not checked.
   */
  readonly parameters?: Readonly<Record<string, unknown>>
}

/** The outcome of {@link Acl.check}. */
export interface AclDecision {
  /** Whether the request is allowed. */
  readonly allowed: boolean
  /**
   * Whether the rule that applies grants `sudo`, which Vault's root-protected endpoints require on top of the
   * operation's capability. Always `true` for root.
   */
  readonly sudo: boolean
  /** The capabilities of the rule that applies, sorted; empty when no rule matches the path. */
  readonly capabilities: readonly Capability[]
  /** Why the request was refused (names the path and the rule, never a secret); absent when allowed. */
  readonly reason?: string
}

/** The capabilities reported for a path: a policy's {@link Capability} names, or `root` for a root token. */
export type CapabilityName = Capability | 'root'
