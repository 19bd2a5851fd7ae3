/**
 * A small service that uses tokentree: it logs users in, checks their tokens on each request, and issues database
 * credentials as leases, dropping the database user whenever the lease is revoked (the token expired, ran out of
 * uses, or was revoked). `deploy-service.test.ts` tests it with the `tokentree/testing` fixture.
 */
import type { LeaseRevokedEvent, TokenStore } from 'tokentree'

/** A stand-in for the database whose users the service creates. */
export class FakeDatabase {
  readonly users = new Set<string>()
}

export class DeployService {
  readonly #store: TokenStore
  readonly #database: FakeDatabase
  #nextUser = 1

  constructor(store: TokenStore, database: FakeDatabase) {
    this.#store = store
    this.#database = database
    store.on('revoked', (event) => {
      if (event.kind === 'lease') this.#dropUser(event)
    })
  }

  /** Logs a user in as an auth method would: an orphan token at `auth/userpass/login`. */
  async login(user: string, options: { numUses?: number } = {}): Promise<string> {
    const auth = await this.#store.create({
      path: 'auth/userpass/login',
      policies: ['deployer'],
      metadata: { user },
      ttl: '8h',
      numUses: options.numUses ?? 0,
    })
    return auth.clientToken
  }

  /** A request for database credentials: one use of the token, and a one-hour lease on a new database user. */
  async databaseCredentials(token: string): Promise<{ username: string; leaseId: string }> {
    const info = await this.#store.authenticate(token)
    if (!info.policies.includes('deployer')) throw new Error('forbidden')
    const username = `v-${info.metadata.user ?? 'anon'}-${this.#nextUser++}`
    // Record the lease before creating the user: if the token is gone, no user is left behind.
    const lease = await this.#store.createLease(token, {
      path: 'database/creds/deploy',
      ttl: '1h',
      data: { username },
    })
    this.#database.users.add(username)
    return { username, leaseId: lease.leaseId }
  }

  /** Logs out: the token and everything issued under it are revoked. */
  async logout(token: string): Promise<void> {
    await this.#store.revoke(token)
  }

  #dropUser(event: LeaseRevokedEvent): void {
    const { username } = event.data as { username: string }
    this.#database.users.delete(username)
  }
}
