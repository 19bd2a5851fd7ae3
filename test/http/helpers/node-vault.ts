/**
 * node-vault, typed for the tests: the client as a real, independent Vault client, and how its failures are
 * checked. `noCustomHTTPVerbs` makes `list` send `GET ?list=1`, since Node's HTTP parser refuses `LIST`.
 */
import assert from 'node:assert/strict'

import nodeVault from 'node-vault'

/** The `auth` block of Vault's create and renew answers. */
export interface AuthBlock {
  client_token: string
  accessor: string
  policies: string[]
  token_policies: string[]
  metadata: Record<string, string> | null
  lease_duration: number
  renewable: boolean
  orphan: boolean
  num_uses: number
  token_type: string
}

/** The `data` block of Vault's token lookups. */
export interface LookupData {
  id: string
  accessor: string
  policies: string[]
  path: string
  meta: Record<string, string> | null
  display_name: string
  num_uses: number
  orphan: boolean
  creation_time: number
  creation_ttl: number
  expire_time: string | null
  explicit_max_ttl: number
  ttl: number
  issue_time: string
  renewable: boolean
  period?: number
  last_renewal_time?: number
  type: string
  role?: string
}

/** Vault's envelope, as `write` resolves it for a 200. */
export interface VaultAnswer {
  auth: AuthBlock
  data: Record<string, unknown>
  warnings: string[] | null
  lease_id: string
  renewable: boolean
  lease_duration: number
}

/** The node-vault methods the tests use, typed. */
export interface VaultClient {
  tokenCreate(args: object): Promise<{ auth: AuthBlock }>
  tokenCreateOrphan(args: object): Promise<{ auth: AuthBlock }>
  tokenLookupSelf(): Promise<{ data: LookupData }>
  tokenLookup(args: { token: string }): Promise<{ data: LookupData }>
  tokenLookupAccessor(args: { accessor: string }): Promise<{ data: LookupData }>
  tokenRenew(args: { token: string; increment?: string | number }): Promise<{ auth: AuthBlock }>
  tokenRenewSelf(args?: { increment?: string | number }): Promise<{ auth: AuthBlock }>
  tokenRevoke(args: { token: string }): Promise<unknown>
  tokenRevokeSelf(): Promise<unknown>
  tokenRevokeOrphan(args: { token: string }): Promise<unknown>
  tokenRevokeAccessor(args: { accessor: string }): Promise<unknown>
  revokePrefix(args: { path_prefix: string }): Promise<unknown>
  health(): Promise<{ initialized: boolean; sealed: boolean; version: string }>
  /** Vault's envelope; `''` for a 204. */
  write(path: string, data: object): Promise<VaultAnswer>
  read(path: string): Promise<{ data: Record<string, unknown> }>
  list(path: string): Promise<{ data: { keys: string[] } }>
  delete(path: string): Promise<unknown>
  getTokenRole(args: { role_name: string }): Promise<{ data: Record<string, unknown> }>
  removeTokenRole(args: { role_name: string }): Promise<unknown>
  renew(args: { lease_id: string; increment?: number }): Promise<{
    lease_id: string
    renewable: boolean
    lease_duration: number
  }>
  revoke(args: { lease_id: string }): Promise<unknown>
  token: string
}

/** node-vault is typed with `any`; this is the subset used, typed. */
export function client(endpoint: string, token: string): VaultClient {
  const vault: unknown = nodeVault({ endpoint, token, noCustomHTTPVerbs: true })
  return vault as VaultClient
}

/** The status of the error node-vault rejected with. */
export async function rejectsWith(
  promise: Promise<unknown>,
  status: number,
  message?: string,
): Promise<void> {
  await assert.rejects(promise, (error: { response?: { statusCode: number; body: unknown } }) => {
    assert.equal(error.response?.statusCode, status)
    if (message !== undefined) assert.deepEqual(error.response.body, { errors: [message] })
    return true
  })
}
