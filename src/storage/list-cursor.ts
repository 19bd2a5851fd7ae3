/**
 * The opaque cursors of `Storage.listTokens`: a few strings (an adapter's position in its order), tagged
 * with the order they belong to, as base64url JSON, so that a cursor survives a URL and a malformed or foreign one
 * is refused rather than misread.
 *
 * @packageDocumentation
 */
import { invalidRequest } from '../errors.js'

/** Longest cursor accepted: keys are paths (512 characters at most) and accessors. */
export const MAX_CURSOR_LENGTH = 2048

/** Encodes a position: the order's tag and its key parts. */
export function encodeCursor(tag: string, parts: readonly string[]): string {
  return Buffer.from(JSON.stringify([tag, ...parts]), 'utf8').toString('base64url')
}

/**
 * Decodes a cursor of order `tag` with `arity` key parts.
 *
 * @throws `TokenStoreError` `invalid_request` when it is not one.
 */
export function decodeCursor(cursor: string, tag: string, arity: number): string[] {
  let parsed: unknown
  try {
    if (cursor.length > MAX_CURSOR_LENGTH || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw new Error()
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch {
    throw badCursor()
  }
  if (
    !Array.isArray(parsed) ||
    parsed.length !== arity + 1 ||
    parsed[0] !== tag ||
    !parsed.every((part) => typeof part === 'string')
  ) {
    throw badCursor()
  }
  return parsed.slice(1)
}

/** The error for a cursor that is malformed or was issued by another listing. */
export function badCursor(): Error {
  return invalidRequest(
    'Expected `cursor` to be a cursor returned by a previous page of the same listing',
  )
}

/** Whether a record's metadata has every key of `wanted` with the same value. */
export function metadataMatches(
  metadata: Readonly<Record<string, string>>,
  wanted: Readonly<Record<string, string>> | undefined,
): boolean {
  if (wanted === undefined) return true
  for (const [key, value] of Object.entries(wanted)) {
    if (!Object.hasOwn(metadata, key) || metadata[key] !== value) return false
  }
  return true
}

/** Whether `path` is `prefix` or lies below it; every path matches when `prefix` is undefined. */
export function pathMatches(path: string, prefix: string | undefined): boolean {
  return prefix === undefined || path === prefix || path.startsWith(`${prefix}/`)
}
