/**
 * Request bodies: read with a size limit, parsed as one JSON object, or as a form when sent as one.
 *
 * @packageDocumentation
 */
import type { IncomingMessage } from 'node:http'

import { invalidRequest } from '../../errors.js'
import type { RequestBody } from './types.js'

/**
 * Default largest body, in bytes: 1 MiB. Token requests are a few hundred bytes, but a policy of a thousand rules or a
 * value for `sys/wrapping/wrap` is tens of kilobytes (`store.wrap` takes up to 1 MiB). Vault's own limit is 32 MiB.
 */
export const DEFAULT_BODY_LIMIT = 1024 * 1024

/**
 * Most bytes past the limit read and thrown away before answering 413, for a body that declared its length: a client
 * that sends its whole body before it reads the answer (most do) gets the 413 rather than a reset connection. A
 * body declared larger than the limit and this is answered at once.
 */
export const MAX_DRAINED_BYTES = 8 * 1024 * 1024

/** The first buffer for a body of unknown length (chunked); it doubles as the body grows, up to the limit. */
const INITIAL_BODY_BYTES = 16 * 1024

/**
 * Reads a request body as UTF-8 text, stopping at `limit` bytes. A body of declared length that is larger resolves
 * to `too_large` once it has been read to its end and thrown away, up to {@link MAX_DRAINED_BYTES} past the limit;
 * one declared larger than that, and a chunked one past the limit, resolve at once, the rest discarded unread. The
 * adapters answer `too_large` with `Connection: close`.
 */
export function readBody(request: IncomingMessage, limit: number): Promise<RequestBody> {
  const declared = Number(request.headers['content-length'])
  return new Promise((resolve, reject) => {
    if (request.readableEnded) {
      resolve({ kind: 'text', text: '' })
      return
    }
    const tooLarge = (): void => {
      cleanup()
      request.resume()
      resolve({ kind: 'too_large' })
    }
    // Only a body of declared length is drained: a chunked one can arrive a byte a chunk, a callback each (seconds
    // of CPU for 8 MiB), and the clients that send first and read after declare their length.
    const drained = Number.isFinite(declared) ? MAX_DRAINED_BYTES : 0
    if (Number.isFinite(declared) && declared > limit + drained) {
      request.resume()
      resolve({ kind: 'too_large' })
      return
    }
    // One buffer, copied into and doubled as needed, not a list of the chunks: a body sent a byte at a time would
    // be a million Buffer objects per MiB (a few hundred bytes each), and a few such requests exhaust the heap.
    let body: Buffer | null = Buffer.allocUnsafe(
      Math.min(limit, Number.isFinite(declared) && declared >= 0 ? declared : INITIAL_BODY_BYTES),
    )
    let size = 0
    const onData = (chunk: Buffer): void => {
      const end = size + chunk.length
      if (body === null) {
        size = end
        if (size > limit + drained) tooLarge()
        return
      }
      if (end > limit) {
        if (drained === 0) {
          tooLarge()
          return
        }
        body = null // over the limit: thrown away from here, answered at the end
        size = end
        return
      }
      if (end > body.length) {
        const grown = Buffer.allocUnsafe(Math.min(limit, Math.max(end, body.length * 2)))
        body.copy(grown, 0, 0, size)
        body = grown
      }
      chunk.copy(body, size)
      size = end
    }
    const onEnd = (): void => {
      cleanup()
      if (body === null) resolve({ kind: 'too_large' })
      else resolve({ kind: 'text', text: body.toString('utf8', 0, size) })
    }
    const onError = (error: Error): void => {
      cleanup()
      reject(error)
    }
    const cleanup = (): void => {
      request.off('data', onData)
      request.off('end', onEnd)
      request.off('error', onError)
    }
    request.on('data', onData)
    request.on('end', onEnd)
    request.on('error', onError)
    // A stream an earlier middleware paused does not flow for a new `data` listener.
    request.resume()
  })
}

/**
 * The body's fields: a form when it is sent as `application/x-www-form-urlencoded` and does not start like JSON
 * (`{` or `[`), as Vault's `isForm` decides, else {@link parseJsonObject}. A form field given more than once is its
 * values joined with commas, as Vault joins them (string lists take comma-separated values).
 *
 * @throws {@link TokenStoreError} `invalid_request` for malformed JSON or a non-object.
 */
export function parseBodyText(
  text: string,
  contentType: string | undefined,
): Record<string, unknown> {
  if (!isForm(text, contentType)) return parseJsonObject(text)
  // One pass over the pairs: `getAll` per name would be quadratic in a body of many names.
  const joined = new Map<string, string>()
  for (const [name, value] of new URLSearchParams(text)) {
    const before = joined.get(name)
    joined.set(name, before === undefined ? value : `${before},${value}`)
  }
  return Object.assign(Object.create(null) as Record<string, unknown>, Object.fromEntries(joined))
}

function isForm(text: string, contentType: string | undefined): boolean {
  const mediaType = contentType?.split(';', 1)[0]?.trim().toLowerCase()
  if (mediaType !== 'application/x-www-form-urlencoded') return false
  const start = text.trimStart()[0]
  return start !== undefined && start !== '{' && start !== '['
}

/**
 * The body as a JSON object: empty text is `{}`; anything else must be one JSON object. The parser's message is
 * not passed on, since it quotes the input, which may hold a token.
 *
 * @throws {@link TokenStoreError} `invalid_request` for malformed JSON or a non-object.
 */
export function parseJsonObject(text: string): Record<string, unknown> {
  if (text.trim() === '') return {}
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw invalidRequest('failed to parse JSON input')
  }
  return asObject(value)
}

/**
 * A parsed body as a JSON object (`null` and absent count as `{}`).
 *
 * @throws {@link TokenStoreError} `invalid_request` for an array or a scalar.
 */
export function asObject(value: unknown): Record<string, unknown> {
  if (value === null || value === undefined) return {}
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw invalidRequest('failed to parse JSON input: expected a JSON object')
  }
  return value as Record<string, unknown>
}
