/**
 * The byte-level half of `LIST` support: a rewriter that sits between a socket and Node's HTTP parser, follows
 * HTTP/1.1 request framing (request line, headers, a `Content-Length` or chunked body, trailers) and turns each
 * request line `LIST <target> HTTP/1.x` into `GET <target> HTTP/1.x` followed by a marker header, so that llhttp
 * (which knows a fixed set of methods and refuses `LIST` with 400) parses it. The request listener then restores
 * `LIST` from the marker (see `list-method.ts`).
 *
 * Safety rule: every byte other than the method and the inserted marker line reaches llhttp unchanged, so llhttp
 * still validates everything. The rewriter only needs to know where each request starts; wherever its reading of
 * the framing could differ from llhttp's (a bare LF, an obs-fold, a repeated or malformed `Content-Length` or
 * `Transfer-Encoding`, both at once, an upgrade, a head over {@link MAX_HEAD_BYTES}), it stops rewriting for the
 * rest of the connection and passes bytes through untouched: later `LIST` requests on that connection get llhttp's
 * 400, and nothing llhttp refuses is ever let through. A `LIST` request line it cannot vouch for is passed on as
 * `LIST`, for llhttp to refuse.
 *
 * Pure: no I/O, one instance per connection.
 *
 * @packageDocumentation
 */

/** The method Node's parser is shown in place of `LIST`: same framing rules, no special handling. */
const STAND_IN_METHOD = 'GET'

/** `LIST` followed by the space that ends a method. */
const LIST_PREFIX = Buffer.from('LIST ', 'latin1')

/** Longest head (request line and headers) followed; llhttp's own default limit is 16 KiB. */
export const MAX_HEAD_BYTES = 64 * 1024

/** Longest chunk-size line followed (size and extensions). */
const MAX_CHUNK_LINE_BYTES = 4096

const CR = 0x0d
const LF = 0x0a
const SP = 0x20
const HT = 0x09

/** A request line as llhttp accepts it for an origin-form, absolute-form or `*` target: one space each side. */
const REQUEST_LINE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+ [!-~]+ HTTP\/1\.[01]$/

/** An RFC 9110 header name. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/** A chunk-size line: hex size, then optional extensions (llhttp checks them). */
const CHUNK_SIZE_LINE = /^([0-9A-Fa-f]{1,13})(?:;[^\r\n]*)?$/

type State =
  | 'start'
  | 'request-line'
  | 'headers'
  | 'body'
  | 'chunk-size'
  | 'chunk-data'
  | 'chunk-end'
  | 'trailers'
  | 'passthrough'

/**
 * Rewrites `LIST` request lines in one connection's byte stream. Feed every chunk to {@link ListRewriter.push}
 * in order and hand its result to the parser; call {@link ListRewriter.end} when the stream ends.
 */
export class ListRewriter {
  readonly #marker: Buffer
  #state: State = 'start'
  /** The current line so far: the start of a method, a request line (held back if `LIST`), a header line. */
  #line = new LineBuffer()
  /** Whether the held request line began with `LIST `. */
  #isList = false
  /** Bytes of the current head so far. */
  #headBytes = 0
  /** Body or chunk bytes still to pass. */
  #remaining = 0
  /** What the head declared. */
  #contentLength: number | null = null
  #chunked = false
  #lastMessage = false
  #http10 = false
  #seenLength = false
  #seenEncoding = false
  /** `CR` seen at the end of a chunk's data, waiting for `LF`. */
  #chunkEndCr = false

  /**
   * @param markerLine - The header line inserted after a rewritten request line, CRLF included.
   */
  constructor(markerLine: string) {
    this.#marker = Buffer.from(markerLine, 'latin1')
  }

  /** Whether the rewriter has stopped following this connection. */
  get passthrough(): boolean {
    return this.#state === 'passthrough'
  }

  /** Transforms the next chunk of the stream; the result may be empty while a line is held. */
  push(chunk: Buffer): Buffer {
    if (this.#state === 'passthrough') return chunk
    const out: Buffer[] = []
    let i = 0
    // Bytes [from, i) are passed unchanged once the loop moves past them.
    let from = 0
    const flush = (): void => {
      if (i > from) out.push(chunk.subarray(from, i))
      from = i
    }
    while (i < chunk.length) {
      switch (this.#state) {
        case 'start': {
          const byte = chunk.readUInt8(i)
          if (this.#line.length === 0 && (byte === CR || byte === LF)) {
            // llhttp skips empty lines between requests; they pass through.
            i++
            break
          }
          flush()
          this.#line.push(chunk.subarray(i, i + 1))
          i++
          from = i
          const held = this.#line.length
          this.#headBytes = held
          if (LIST_PREFIX[held - 1] === byte) {
            if (held === LIST_PREFIX.length) {
              this.#isList = true
              this.#state = 'request-line'
            }
            break
          }
          // Not LIST: release what was held; the rest of the line passes as it comes.
          out.push(this.#line.bytes())
          this.#isList = false
          this.#state = 'request-line'
          break
        }
        case 'request-line': {
          const lf = chunk.indexOf(LF, i)
          const end = lf === -1 ? chunk.length : lf + 1
          this.#headBytes += end - i
          this.#line.push(chunk.subarray(i, end))
          i = end
          // A LIST line is held whole until it is known to be well formed; others pass as they come.
          if (this.#isList) from = i
          if (this.#headBytes > MAX_HEAD_BYTES) {
            this.#giveUp(out, chunk, i, from)
            return Buffer.concat(out)
          }
          if (lf !== -1) this.#endRequestLine(out)
          if (this.passthrough) {
            flush()
            out.push(chunk.subarray(i))
            return Buffer.concat(out)
          }
          break
        }
        case 'headers':
        case 'trailers': {
          const lf = chunk.indexOf(LF, i)
          const end = lf === -1 ? chunk.length : lf + 1
          this.#headBytes += end - i
          if (this.#headBytes > MAX_HEAD_BYTES) {
            i = end
            this.#giveUp(out, chunk, i, from)
            return Buffer.concat(out)
          }
          this.#line.push(chunk.subarray(i, end))
          i = end
          if (lf !== -1) {
            const line = this.#takeLine()
            if (line === null) {
              flush()
              this.#state = 'passthrough'
            } else if (this.#state === 'headers') {
              this.#headerLine(line)
            } else if (line === '') {
              this.#startMessage()
            } else if (line.charCodeAt(0) === SP || line.charCodeAt(0) === HT) {
              this.#state = 'passthrough'
            }
          }
          if (this.passthrough) {
            flush()
            out.push(chunk.subarray(i))
            return Buffer.concat(out)
          }
          break
        }
        case 'body':
        case 'chunk-data': {
          const take = Math.min(this.#remaining, chunk.length - i)
          i += take
          this.#remaining -= take
          if (this.#remaining === 0) {
            if (this.#state === 'body') this.#startMessage()
            else {
              this.#state = 'chunk-end'
              this.#chunkEndCr = false
            }
          }
          break
        }
        case 'chunk-end': {
          const byte = chunk.readUInt8(i)
          i++
          if (!this.#chunkEndCr && byte === CR) {
            this.#chunkEndCr = true
          } else if (this.#chunkEndCr && byte === LF) {
            this.#state = 'chunk-size'
            this.#headBytes = 0
          } else {
            flush()
            out.push(chunk.subarray(i))
            this.#state = 'passthrough'
            return Buffer.concat(out)
          }
          break
        }
        case 'chunk-size': {
          const lf = chunk.indexOf(LF, i)
          const end = lf === -1 ? chunk.length : lf + 1
          this.#headBytes += end - i
          this.#line.push(chunk.subarray(i, end))
          i = end
          if (this.#headBytes > MAX_CHUNK_LINE_BYTES) {
            this.#line.clear()
            this.#state = 'passthrough'
          } else if (lf !== -1) {
            const line = this.#takeLine()
            const match = line === null ? null : CHUNK_SIZE_LINE.exec(line)
            const size = match === null ? Number.NaN : parseInt(match[1] ?? '', 16)
            if (!Number.isSafeInteger(size)) {
              this.#state = 'passthrough'
            } else if (size === 0) {
              this.#state = 'trailers'
              this.#headBytes = 0
            } else {
              this.#remaining = size
              this.#state = 'chunk-data'
            }
          }
          if (this.passthrough) {
            flush()
            out.push(chunk.subarray(i))
            return Buffer.concat(out)
          }
          break
        }
        case 'passthrough':
          flush()
          out.push(chunk.subarray(i))
          return Buffer.concat(out)
      }
    }
    flush()
    return Buffer.concat(out)
  }

  /**
   * The bytes still held when the stream ends, unchanged (the start of a request that never finished), so that
   * the parser sees exactly what the client sent. The rewriter passes everything through afterwards.
   */
  end(): Buffer {
    const held = this.#heldOriginal()
    this.#line.clear()
    this.#state = 'passthrough'
    return held
  }

  /** The bytes held back, as the client sent them. */
  #heldOriginal(): Buffer {
    if (this.#state === 'start' || (this.#state === 'request-line' && this.#isList)) {
      return this.#line.bytes()
    }
    return Buffer.alloc(0)
  }

  /** Stops following: releases held bytes as sent and passes the rest of this chunk through. */
  #giveUp(out: Buffer[], chunk: Buffer, i: number, from: number): void {
    if (this.#state === 'request-line' && this.#isList) {
      out.push(this.#line.bytes())
    } else if (i > from) {
      out.push(chunk.subarray(from, i))
    }
    out.push(chunk.subarray(i))
    this.#line.clear()
    this.#state = 'passthrough'
  }

  /**
   * The request line is complete (held back if LIST, already passed on otherwise).
   * Writes what replaces a LIST line; stops following after a line it cannot vouch for.
   */
  #endRequestLine(out: Buffer[]): void {
    const bytes = this.#line.bytes()
    this.#line.clear()
    this.#resetHead()
    const text = bytes.toString('latin1')
    const line = text.endsWith('\r\n') ? text.slice(0, -2) : null
    const wellFormed =
      line !== null && (this.#isList ? REQUEST_LINE.test(line) : / HTTP\/1\.[01]$/.test(line))
    if (!wellFormed) {
      // Not a line llhttp would parse as a request: a LIST one goes over as sent, for llhttp to refuse.
      if (this.#isList) out.push(bytes)
      this.#state = 'passthrough'
      return
    }
    this.#http10 = line.endsWith('HTTP/1.0')
    // CONNECT turns the connection into a tunnel.
    if (!this.#isList && line.startsWith('CONNECT ')) this.#lastMessage = true
    if (!this.#isList) {
      this.#state = 'headers'
      return
    }
    out.push(Buffer.from(`${STAND_IN_METHOD} ${line.slice(LIST_PREFIX.length)}\r\n`, 'latin1'))
    out.push(this.#marker)
    this.#state = 'headers'
  }

  #resetHead(): void {
    this.#contentLength = null
    this.#chunked = false
    this.#lastMessage = false
    this.#http10 = false
    this.#seenLength = false
    this.#seenEncoding = false
  }

  /** The held line without its CRLF, or `null` for a bare LF. */
  #takeLine(): string | null {
    const bytes = this.#line.bytes()
    this.#line.clear()
    const n = bytes.length
    if (n < 2 || bytes[n - 2] !== CR) return null
    return bytes.toString('latin1', 0, n - 2)
  }

  /** One header line of the head, or the empty line that ends it. */
  #headerLine(line: string): void {
    if (line === '') {
      this.#endHead()
      return
    }
    const first = line.charCodeAt(0)
    const colon = line.indexOf(':')
    if (first === SP || first === HT || colon <= 0) {
      this.#state = 'passthrough'
      return
    }
    const name = line.slice(0, colon)
    if (!HEADER_NAME.test(name)) {
      this.#state = 'passthrough'
      return
    }
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '')
    switch (name.toLowerCase()) {
      case 'content-length':
        if (this.#seenLength || !/^\d{1,15}$/.test(value)) this.#state = 'passthrough'
        this.#seenLength = true
        this.#contentLength = Number(value)
        break
      case 'transfer-encoding':
        if (this.#seenEncoding || value.toLowerCase() !== 'chunked') this.#state = 'passthrough'
        this.#seenEncoding = true
        this.#chunked = true
        break
      case 'upgrade':
        // The connection may stop being HTTP after this request.
        this.#lastMessage = true
        break
      case 'connection':
        if (/(^|,)\s*upgrade\s*(,|$)/i.test(value)) this.#lastMessage = true
        break
    }
  }

  /** The head is complete: follow the body it declared. */
  #endHead(): void {
    if ((this.#seenLength && this.#seenEncoding) || (this.#seenEncoding && this.#http10)) {
      this.#state = 'passthrough'
      return
    }
    const last = this.#lastMessage
    if (this.#chunked) {
      this.#state = 'chunk-size'
      this.#headBytes = 0
    } else if (this.#contentLength !== null && this.#contentLength > 0) {
      this.#remaining = this.#contentLength
      this.#state = 'body'
    } else {
      this.#startMessage()
    }
    if (last) this.#state = 'passthrough'
  }

  #startMessage(): void {
    this.#state = 'start'
    this.#line.clear()
    this.#isList = false
    this.#headBytes = 0
  }
}

/** The bytes of one line, gathered from slices of chunks. */
class LineBuffer {
  #parts: Buffer[] = []
  #length = 0

  get length(): number {
    return this.#length
  }

  push(part: Buffer): void {
    if (part.length === 0) return
    this.#parts.push(part)
    this.#length += part.length
  }

  /** A copy of the bytes (chunks may be reused by the stream after this call returns). */
  bytes(): Buffer {
    return Buffer.concat(this.#parts, this.#length)
  }

  clear(): void {
    this.#parts = []
    this.#length = 0
  }
}
