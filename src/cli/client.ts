/**
 * The HTTP client the commands share: Vault's API at `VAULT_ADDR`, authenticated with `VAULT_TOKEN` or the token
 * in `~/.vault-token`, as Vault's own CLI does. It works against the dev server, a host's Vault API and Vault.
 *
 * @packageDocumentation
 */
import { readFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { printable } from './format.js'

/** Where the API is when `VAULT_ADDR` is unset: the dev server's address (Vault's own default is https). */
export const DEFAULT_ADDRESS = 'http://127.0.0.1:8200'

/** How long one request may take, in milliseconds, unless `VAULT_CLIENT_TIMEOUT` (seconds) says otherwise. */
const DEFAULT_TIMEOUT_MS = 60_000

/** A JSON object as the API answers it. */
export type JsonObject = Record<string, unknown>

/** The server answered with an error status: exit status 2. The message is the server's, never the token. */
export class ApiError extends Error {
  override readonly name = 'ApiError'
  constructor(
    /** The HTTP status. */
    readonly status: number,
    /** The server's `errors` list. */
    readonly errors: readonly string[],
    /** The method and path asked for, without the address or any token. */
    readonly request: string,
  ) {
    super(
      `Error making API request.\n\n${request}\nCode: ${String(status)}. Errors:\n\n` +
        (errors.length === 0 ? '* (no message)' : errors.map((e) => `* ${e}`).join('\n')),
    )
  }
}

/** The server could not be reached or answered something that is not Vault's API: exit status 2. */
export class ConnectionError extends Error {
  override readonly name = 'ConnectionError'
}

/** The client's settings, from the environment. */
export interface ClientSettings {
  /** The API's base address, without `/v1`. */
  readonly address: string
  /** The calling token, if any. */
  readonly token: string | undefined
  /** Milliseconds before a request is abandoned. */
  readonly timeoutMs: number
}

/** Reads `VAULT_ADDR`, `VAULT_TOKEN` (else `~/.vault-token`) and `VAULT_CLIENT_TIMEOUT`. */
export async function settingsFromEnv(env: NodeJS.ProcessEnv): Promise<ClientSettings> {
  const address = (env.VAULT_ADDR ?? '') === '' ? DEFAULT_ADDRESS : (env.VAULT_ADDR as string)
  let token = env.VAULT_TOKEN === '' ? undefined : env.VAULT_TOKEN
  if (token === undefined) {
    try {
      const text = (await readFile(join(env.HOME ?? homedir(), '.vault-token'), 'utf8')).trim()
      if (text !== '') token = text
    } catch {
      // No token file: requests go without a token and the server says what it needs.
    }
  }
  const timeout = Number(env.VAULT_CLIENT_TIMEOUT)
  const timeoutMs = Number.isFinite(timeout) && timeout > 0 ? timeout * 1000 : DEFAULT_TIMEOUT_MS
  return { address: address.replace(/\/+$/, ''), token, timeoutMs }
}

/** One API call. */
export interface ApiCall {
  /** `GET`, `POST`, `PUT` or `DELETE`; a list is a `GET` with `?list=true`. */
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE'
  /** The path below `/v1/`. */
  readonly path: string
  /** The JSON body. */
  readonly body?: JsonObject
  /** Sends no token (for `sys/health`). */
  readonly anonymous?: boolean
}

/** Largest answer read: Vault's are a few kilobytes; a listing of many accessors, a few megabytes. */
const MAX_RESPONSE_BYTES = 64 * 1024 * 1024

/** What an HTTP header value may hold: visible ASCII, spaces and tabs. */
const HEADER_VALUE = /^[\t\x20-\x7e]*$/

/**
 * The body of `response` as UTF-8 text, refusing one longer than `limit` bytes as it arrives.
 *
 * @throws Error when the body is longer than `limit`, or when reading it fails (a timeout included).
 */
async function readBounded(response: Response, limit: number): Promise<string> {
  const declared = Number(response.headers.get('content-length'))
  if (Number.isFinite(declared) && declared > limit) {
    await response.body?.cancel()
    throw new Error(`the answer is larger than ${String(limit)} bytes`)
  }
  if (response.body === null) return ''
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength
    if (size > limit) throw new Error(`the answer is larger than ${String(limit)} bytes`)
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/** Talks to Vault's API. */
export class VaultClient {
  readonly #settings: ClientSettings

  constructor(settings: ClientSettings) {
    this.#settings = settings
  }

  /** Whether a token was found in the environment or `~/.vault-token`. */
  get hasToken(): boolean {
    return this.#settings.token !== undefined
  }

  /**
   * Sends one request and resolves to the JSON answer, or `null` for an answer without a body (204).
   *
   * @throws {@link ApiError} for an error status; {@link ConnectionError} when the server cannot be reached.
   */
  async request(call: ApiCall): Promise<JsonObject | null> {
    const label = `${call.method} /v1/${call.path.replace(/\?.*$/, '')}`
    const headers: Record<string, string> = {}
    if (this.#settings.token !== undefined && call.anonymous !== true) {
      headers['x-vault-token'] = this.#settings.token
    }
    if (call.body !== undefined) headers['content-type'] = 'application/json'
    const token = headers['x-vault-token']
    if (token !== undefined && !HEADER_VALUE.test(token)) {
      // fetch's own message would quote the token.
      throw new ConnectionError(
        'The token (VAULT_TOKEN or ~/.vault-token) holds characters a header cannot',
      )
    }
    const failed = (error: unknown): ConnectionError => {
      const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error
      const reason = cause instanceof Error ? cause.message : String(cause)
      return new ConnectionError(
        `Error making API request to ${this.#settings.address} (${label}): ${reason}`,
      )
    }
    let response: Response
    let text: string
    try {
      response = await fetch(`${this.#settings.address}/v1/${call.path}`, {
        method: call.method,
        headers,
        ...(call.body === undefined ? {} : { body: JSON.stringify(call.body) }),
        signal: AbortSignal.timeout(this.#settings.timeoutMs),
        // A redirect is not followed: fetch would send the token (and a POST's body) to wherever it points.
        redirect: 'manual',
      })
      if (response.status >= 300 && response.status < 400) {
        await response.body?.cancel()
        throw new Error(
          `the server redirected (${String(response.status)}) instead of answering; redirects are not followed, ` +
            'so that the token goes nowhere else: point VAULT_ADDR at the server itself',
        )
      }
      // Read within the same timeout, and bounded: a server must not hold the command or its memory.
      text = await readBounded(response, MAX_RESPONSE_BYTES)
    } catch (error) {
      throw failed(error)
    }
    let json: unknown = null
    if (text !== '') {
      try {
        json = JSON.parse(text)
      } catch {
        throw new ConnectionError(
          `${label} answered ${String(response.status)} with a non-JSON body`,
        )
      }
    }
    if (!response.ok) {
      const errors =
        typeof json === 'object' && json !== null && Array.isArray((json as JsonObject).errors)
          ? ((json as JsonObject).errors as unknown[]).map((error) => printable(String(error)))
          : []
      throw new ApiError(response.status, errors, label)
    }
    return typeof json === 'object' && json !== null ? (json as JsonObject) : null
  }
}
