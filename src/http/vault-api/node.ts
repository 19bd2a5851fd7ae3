/**
 * node:http glue shared by the adapters: turn an `IncomingMessage` into an {@link ApiRequest}, and write an
 * {@link HttpResult} to a `ServerResponse`.
 *
 * @packageDocumentation
 */
import type { IncomingMessage, ServerResponse } from 'node:http'

import type { HttpResult } from '../bearer.js'
import { readBody } from './body.js'
import type { ResolvedApiOptions } from './handlers.js'
import type { ApiRequest, RequestBody } from './types.js'

/** Headers on every API answer: Vault's content type, and no caching of answers that may carry tokens. */
const COMMON_HEADERS = { 'cache-control': 'no-store' } as const

/**
 * The path below `prefix` and the query of a request URL, or `null` when the URL is outside the prefix.
 */
export function splitUrl(
  url: string,
  prefix: string,
): { path: string; query: URLSearchParams } | null {
  const q = url.indexOf('?')
  const pathname = q === -1 ? url : url.slice(0, q)
  const base = `${prefix}/`
  if (!pathname.startsWith(base)) return null
  return {
    path: pathname.slice(base.length),
    query: new URLSearchParams(q === -1 ? '' : url.slice(q + 1)),
  }
}

/** What a body parser produced, as the core reads a body: text (a string, a `Buffer`) or a parsed value. */
function parsedBodyOf(parsed: unknown): RequestBody {
  if (typeof parsed === 'string') return { kind: 'text', text: parsed }
  if (Buffer.isBuffer(parsed)) return { kind: 'text', text: parsed.toString('utf8') }
  return { kind: 'parsed', value: parsed }
}

/**
 * Builds the core's request from a node:http request, reading the body (within the limit) unless a body parser
 * already did: pass what it produced as `parsedBody`. It is used only if the request's stream was read (wholly or in
 * part: a parser may hand on before the stream's end): parsers set
 * `{}` for a content type they do not handle without reading it (koa-bodyparser, Express 4's body-parser), and the
 * request's fields would be lost (a `num_uses` or `ttl` asked for, silently dropped). A parser's text or `Buffer`
 * (`express.text()`, `express.raw()`) is read as the body's text. Resolves to `null` when the URL is outside the
 * prefix.
 */
export async function toApiRequest(
  request: IncomingMessage,
  url: string,
  options: ResolvedApiOptions,
  parsedBody?: unknown,
): Promise<ApiRequest | null> {
  const parts = splitUrl(url, options.prefix)
  if (parts === null) return null
  const method = (request.method ?? 'GET').toUpperCase()
  const read = request.readableEnded || request.readableDidRead
  let body: RequestBody
  if (parsedBody !== undefined && read) body = parsedBodyOf(parsedBody)
  else if (method !== 'POST' && method !== 'PUT') body = { kind: 'text', text: '' }
  // Read by someone who handed nothing on: what is left is not the body, and an empty one would drop its fields.
  else if (read) body = { kind: 'already_read' }
  else body = await readBody(request, options.bodyLimit)
  return { method, path: parts.path, query: parts.query, headers: request.headers, body }
}

/** The headers to send with an answer. */
export function resultHeaders(result: HttpResult): Record<string, string> {
  const headers: Record<string, string> = { ...COMMON_HEADERS, ...result.headers }
  if (result.body !== undefined) headers['content-type'] = 'application/json'
  return headers
}

/** Writes an answer with node:http (the dev server and Express). A HEAD request gets the headers only. */
export function writeResult(response: ServerResponse, result: HttpResult, method: string): void {
  const text = result.body === undefined ? undefined : JSON.stringify(result.body)
  const headers = resultHeaders(result)
  if (text !== undefined) headers['content-length'] = String(Buffer.byteLength(text))
  response.writeHead(result.status, headers)
  response.end(method === 'HEAD' ? undefined : text)
}
