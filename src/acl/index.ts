/**
 * Vault's ACL policy language: parsing, compiling and checking. Pure: no storage, no I/O, no clock.
 *
 * @packageDocumentation
 */
export { Acl } from './acl.js'
export { DEFAULT_POLICY, DEFAULT_POLICY_TEXT, ROOT_POLICY, normalizePolicyName } from './builtin.js'
export { compilePolicy, type CompiledPolicy } from './compile.js'
export { parsePolicy } from './parse.js'
export type {
  AclDecision,
  AclOperation,
  AuthorizeRequest,
  Capability,
  CapabilityName,
  PolicyDocument,
  PolicyPathRule,
} from './types.js'
