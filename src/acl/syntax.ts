/**
 * Policy text → a small syntax tree: the subset of HCL 1 that Vault policies use, and JSON. Pure.
 *
 * No maintained HCL parser on npm fits (docs/policies.md has the measurements: the GopherJS and WebAssembly builds
 * of HashiCorp's Go parser weigh 1.5 to 4 MB, take 90 to 420 ms to load, and the WebAssembly one is async; the one
 * pure-JavaScript parser mis-reads `allowed_parameters = { ... }`). This reads exactly what Vault's `hcl.Parse`
 * accepts in a policy: `#`, `//` and `/* *\/` comments; `key = value` and `key "label" { ... }` items, optionally
 * separated by commas; double-quoted strings with escapes; heredocs (`<<EOF`, `<<-EOF`); numbers; `true` and
 * `false`; lists; nested objects. Every error names its line and column.
 *
 * Both forms produce the same tree: an object whose items keep their order and may repeat a key (`path` blocks
 * do), labels nested as objects (`path "a" { ... }` is the item `path` holding an object with the item `a`), which is
 * also how Vault's HCL reads JSON (`{"path": {"a": {...}}}`).
 */
import { TokenStoreError } from '../errors.js'

/** A value of the tree. `at` says where it was written, for error messages (`line 3, column 7`). */
export type SyntaxNode =
  | { readonly kind: 'object'; readonly items: readonly SyntaxItem[]; readonly at: string }
  | { readonly kind: 'list'; readonly elements: readonly SyntaxNode[]; readonly at: string }
  | { readonly kind: 'string'; readonly value: string; readonly at: string }
  | { readonly kind: 'number'; readonly value: number; readonly at: string }
  | { readonly kind: 'bool'; readonly value: boolean; readonly at: string }
  | { readonly kind: 'null'; readonly at: string }

/** One `key = value` (or `key { ... }`) of an object. */
export interface SyntaxItem {
  readonly key: string
  /** Where the key was written. */
  readonly at: string
  readonly value: SyntaxNode
}

/** Deepest nesting of objects and lists accepted; deeper input is refused rather than overflowing the stack. */
const MAX_DEPTH = 64

/** Longest policy text accepted, in characters (1 MiB): a policy is a page or two, never megabytes. */
export const MAX_POLICY_LENGTH = 1024 * 1024

type TokenKind =
  'string' | 'heredoc' | 'number' | 'ident' | '{' | '}' | '[' | ']' | '=' | ':' | ',' | 'eof'

interface Token {
  readonly kind: TokenKind
  /** The string's decoded value, the identifier, or the number's text. */
  readonly text: string
  readonly line: number
  readonly column: number
}

function syntaxError(line: number, column: number, message: string): TokenStoreError {
  return new TokenStoreError(
    'invalid_request',
    `Invalid policy at line ${line}, column ${column}: ${message}`,
  )
}

/** How a token is described in an error: its kind, never its content beyond a short identifier. */
function describeToken(token: Token): string {
  switch (token.kind) {
    case 'eof':
      return 'the end of the text'
    case 'string':
    case 'heredoc':
      return 'a string'
    case 'number':
      return 'a number'
    case 'ident':
      return `\`${token.text.slice(0, 40)}\``
    default:
      return `\`${token.kind}\``
  }
}

const isDigit = (code: number): boolean => code >= 48 && code <= 57
const isIdentStart = (code: number): boolean =>
  (code >= 65 && code <= 90) || (code >= 97 && code <= 122) || code === 95
const isIdentPart = (code: number): boolean =>
  isIdentStart(code) || isDigit(code) || code === 45 || code === 46

/** Splits text into tokens, skipping whitespace and comments. `json` turns off comments, identifiers and heredocs. */
class Lexer {
  readonly #text: string
  readonly #json: boolean
  #offset = 0
  #line = 1
  #lineStart = 0

  constructor(text: string, json: boolean) {
    this.#text = text
    this.#json = json
  }

  /** Reads the next token. */
  next(): Token {
    this.#skipSpaceAndComments()
    const text = this.#text
    const line = this.#line
    const column = this.#offset - this.#lineStart + 1
    if (this.#offset >= text.length) return { kind: 'eof', text: '', line, column }
    const code = text.charCodeAt(this.#offset)
    const char = text[this.#offset] ?? ''
    switch (char) {
      case '{':
      case '}':
      case '[':
      case ']':
      case ',':
      case ':':
      case '=':
        if (this.#json ? char === '=' : char === ':') break
        this.#offset += 1
        return { kind: char, text: char, line, column }
      case '"':
        return { kind: 'string', text: this.#string(line, column), line, column }
      case '<':
        if (!this.#json && text.startsWith('<<', this.#offset)) {
          return { kind: 'heredoc', text: this.#heredoc(line, column), line, column }
        }
        break
      default:
        if (isDigit(code) || char === '-') {
          return { kind: 'number', text: this.#number(line, column), line, column }
        }
        if (isIdentStart(code)) {
          const start = this.#offset
          while (this.#offset < text.length && isIdentPart(text.charCodeAt(this.#offset))) {
            this.#offset += 1
          }
          const word = text.slice(start, this.#offset)
          if (this.#json && word !== 'true' && word !== 'false' && word !== 'null') {
            throw syntaxError(line, column, `unexpected \`${word.slice(0, 40)}\``)
          }
          return { kind: 'ident', text: word, line, column }
        }
    }
    throw syntaxError(
      line,
      column,
      code < 32 || code > 126
        ? `unexpected character U+${code.toString(16).toUpperCase().padStart(4, '0')}`
        : `unexpected character \`${char}\``,
    )
  }

  #newline(): void {
    this.#line += 1
    this.#lineStart = this.#offset
  }

  #skipSpaceAndComments(): void {
    const text = this.#text
    while (this.#offset < text.length) {
      const char = text[this.#offset]
      if (char === '\n') {
        this.#offset += 1
        this.#newline()
      } else if (char === ' ' || char === '\t' || char === '\r' || char === '\uFEFF') {
        this.#offset += 1
      } else if (!this.#json && (char === '#' || text.startsWith('//', this.#offset))) {
        while (this.#offset < text.length && text[this.#offset] !== '\n') this.#offset += 1
      } else if (!this.#json && text.startsWith('/*', this.#offset)) {
        const line = this.#line
        const column = this.#offset - this.#lineStart + 1
        this.#offset += 2
        for (;;) {
          if (this.#offset >= text.length) {
            throw syntaxError(line, column, 'comment not terminated (`*/` missing)')
          }
          if (text.startsWith('*/', this.#offset)) {
            this.#offset += 2
            break
          }
          this.#offset += 1
          if (text[this.#offset - 1] === '\n') this.#newline()
        }
      } else {
        return
      }
    }
  }

  /** Reads a double-quoted string starting at the quote, decoding escapes. */
  #string(line: number, column: number): string {
    const text = this.#text
    this.#offset += 1
    let value = ''
    let runStart = this.#offset
    for (;;) {
      if (this.#offset >= text.length || text[this.#offset] === '\n') {
        throw syntaxError(line, column, 'string not terminated (closing `"` missing)')
      }
      const char = text[this.#offset]
      if (char === '"') {
        value += text.slice(runStart, this.#offset)
        this.#offset += 1
        return value
      }
      if (this.#json && text.charCodeAt(this.#offset) < 32) {
        throw syntaxError(
          this.#line,
          this.#offset - this.#lineStart + 1,
          'control character in a string',
        )
      }
      if (char !== '\\') {
        this.#offset += 1
        continue
      }
      value += text.slice(runStart, this.#offset)
      const escapeColumn = this.#offset - this.#lineStart + 1
      const escape = text[this.#offset + 1]
      this.#offset += 2
      switch (escape) {
        case 'n':
          value += '\n'
          break
        case 't':
          value += '\t'
          break
        case 'r':
          value += '\r'
          break
        case 'b':
          value += '\b'
          break
        case 'f':
          value += '\f'
          break
        case '"':
        case '\\':
        case '/':
          value += escape
          break
        case 'u':
        case 'U': {
          const digits = escape === 'u' || this.#json ? 4 : 8
          if (escape === 'U' && this.#json) {
            throw syntaxError(this.#line, escapeColumn, 'invalid escape `\\U`')
          }
          const hex = text.slice(this.#offset, this.#offset + digits)
          if (hex.length !== digits || !/^[0-9a-fA-F]+$/.test(hex)) {
            throw syntaxError(
              this.#line,
              escapeColumn,
              `expected ${digits} hex digits after \\${escape}`,
            )
          }
          const point = Number.parseInt(hex, 16)
          if (point > 0x10ffff) throw syntaxError(this.#line, escapeColumn, 'invalid code point')
          value += String.fromCodePoint(point)
          this.#offset += digits
          break
        }
        default:
          throw syntaxError(
            this.#line,
            escapeColumn,
            escape === undefined ? 'string not terminated' : 'invalid escape sequence',
          )
      }
      runStart = this.#offset
    }
  }

  /** Reads `<<ID ... ID` or `<<-ID ... ID` (indented: common leading whitespace removed), starting at `<<`. */
  #heredoc(line: number, column: number): string {
    const text = this.#text
    this.#offset += 2
    const indented = text[this.#offset] === '-'
    if (indented) this.#offset += 1
    const start = this.#offset
    while (this.#offset < text.length && isIdentPart(text.charCodeAt(this.#offset))) {
      this.#offset += 1
    }
    const anchor = text.slice(start, this.#offset)
    if (anchor === '' || !isIdentStart(anchor.charCodeAt(0))) {
      throw syntaxError(line, column, 'expected a heredoc anchor after `<<`')
    }
    if (text[this.#offset] === '\r') this.#offset += 1
    if (text[this.#offset] !== '\n') {
      throw syntaxError(line, column, 'expected a new line after the heredoc anchor')
    }
    this.#offset += 1
    this.#newline()
    const lines: string[] = []
    for (;;) {
      if (this.#offset >= text.length) {
        throw syntaxError(
          line,
          column,
          `heredoc not terminated (\`${anchor.slice(0, 40)}\` missing)`,
        )
      }
      let end = text.indexOf('\n', this.#offset)
      if (end === -1) end = text.length
      const raw = text.slice(this.#offset, end)
      const content = raw.endsWith('\r') ? raw.slice(0, -1) : raw
      this.#offset = Math.min(end + 1, text.length)
      if (end < text.length) this.#newline()
      if ((indented ? content.trim() : content) === anchor) break
      lines.push(content)
    }
    if (!indented) return lines.map((each) => `${each}\n`).join('')
    let common = Number.POSITIVE_INFINITY
    for (const each of lines) {
      if (each.trim() === '') continue
      common = Math.min(common, each.length - each.trimStart().length)
    }
    if (!Number.isFinite(common)) common = 0
    return lines.map((each) => `${each.slice(common)}\n`).join('')
  }

  #number(line: number, column: number): string {
    const match = /-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y
    match.lastIndex = this.#offset
    const found = match.exec(this.#text)
    const next = found ? this.#text.charCodeAt(this.#offset + found[0].length) : Number.NaN
    if (!found || isIdentPart(next)) throw syntaxError(line, column, 'invalid number')
    this.#offset += found[0].length
    return found[0]
  }
}

/** Parses tokens into the tree, for either syntax. */
class Parser {
  readonly #lexer: Lexer
  readonly #json: boolean
  #token: Token
  #depth = 0

  constructor(text: string, json: boolean) {
    this.#json = json
    this.#lexer = new Lexer(text, json)
    this.#token = this.#lexer.next()
  }

  /** The whole text: HCL's top-level item list, or one JSON object. */
  document(): SyntaxNode {
    const start = this.#token
    const root = this.#json ? this.#value() : this.#objectBody(start)
    if (this.#json && root.kind !== 'object') {
      throw syntaxError(start.line, start.column, 'expected a JSON object')
    }
    if (this.#kind() !== 'eof') this.#unexpected('the end of the text')
    return root
  }

  /** The current token's kind (a method, so checks after `#advance()` are not narrowed away). */
  #kind(): TokenKind {
    return this.#token.kind
  }

  #advance(): Token {
    const token = this.#token
    this.#token = this.#lexer.next()
    return token
  }

  #unexpected(expected: string): never {
    const token = this.#token
    throw syntaxError(token.line, token.column, `expected ${expected}, got ${describeToken(token)}`)
  }

  #enter(token: Token): void {
    this.#depth += 1
    if (this.#depth > MAX_DEPTH) {
      throw syntaxError(token.line, token.column, `nested deeper than ${MAX_DEPTH} levels`)
    }
  }

  /** HCL items up to `}` or the end of the text (the caller consumes the `}`). */
  #objectBody(start: Token): SyntaxNode {
    const items: SyntaxItem[] = []
    for (;;) {
      const token = this.#token
      if (token.kind === '}' || token.kind === 'eof') break
      items.push(this.#item())
      if (this.#kind() === ',') this.#advance()
    }
    return { kind: 'object', items, at: where(start) }
  }

  /** One HCL item: `key = value`, `key { ... }` or `key "label" ... { ... }`. */
  #item(): SyntaxItem {
    const keys: Token[] = []
    while (this.#kind() === 'ident' || this.#kind() === 'string') keys.push(this.#advance())
    const first = keys[0]
    if (first === undefined) this.#unexpected('a key')
    let value: SyntaxNode
    if (this.#kind() === '=') {
      if (keys.length > 1)
        this.#unexpected(`\`{\` after the labels of \`${first.text.slice(0, 40)}\``)
      this.#advance()
      value = this.#value()
    } else if (this.#kind() === '{') {
      value = this.#value()
    } else {
      this.#unexpected(keys.length > 1 ? '`{`' : '`=` or `{`')
    }
    // Labels nest: `path "a" { ... }` is `path` holding `{ a = { ... } }`.
    for (let index = keys.length - 1; index > 0; index--) {
      const label = keys[index] as Token
      value = {
        kind: 'object',
        items: [{ key: label.text, at: where(label), value }],
        at: where(label),
      }
    }
    return { key: first.text, at: where(first), value }
  }

  #value(): SyntaxNode {
    const token = this.#token
    switch (token.kind) {
      case 'string':
      case 'heredoc':
        this.#advance()
        return { kind: 'string', value: token.text, at: where(token) }
      case 'number':
        this.#advance()
        return { kind: 'number', value: Number(token.text), at: where(token) }
      case 'ident':
        if (token.text === 'true' || token.text === 'false') {
          this.#advance()
          return { kind: 'bool', value: token.text === 'true', at: where(token) }
        }
        if (this.#json && token.text === 'null') {
          this.#advance()
          return { kind: 'null', at: where(token) }
        }
        return this.#unexpected('a value')
      case '[':
        return this.#list()
      case '{':
        return this.#object()
      default:
        return this.#unexpected('a value')
    }
  }

  #list(): SyntaxNode {
    const open = this.#advance()
    this.#enter(open)
    const elements: SyntaxNode[] = []
    while (this.#kind() !== ']') {
      elements.push(this.#value())
      if (this.#kind() === ',') {
        const comma = this.#advance()
        if (this.#json && this.#kind() === ']') {
          throw syntaxError(comma.line, comma.column, 'trailing comma')
        }
      } else if (this.#kind() !== ']') {
        this.#unexpected('`,` or `]`')
      }
    }
    this.#advance()
    this.#depth -= 1
    return { kind: 'list', elements, at: where(open) }
  }

  #object(): SyntaxNode {
    const open = this.#advance()
    this.#enter(open)
    let node: SyntaxNode
    if (this.#json) {
      const items: SyntaxItem[] = []
      const seen = new Set<string>()
      while (this.#kind() !== '}') {
        const key = this.#token
        if (key.kind !== 'string') this.#unexpected('a quoted key')
        this.#advance()
        if (seen.has(key.text)) throw syntaxError(key.line, key.column, 'duplicate key')
        seen.add(key.text)
        if (this.#kind() !== ':') this.#unexpected('`:`')
        this.#advance()
        items.push({ key: key.text, at: where(key), value: this.#value() })
        if (this.#kind() === ',') {
          const comma = this.#advance()
          if (this.#kind() === '}') throw syntaxError(comma.line, comma.column, 'trailing comma')
        } else if (this.#kind() !== '}') {
          this.#unexpected('`,` or `}`')
        }
      }
      node = { kind: 'object', items, at: where(open) }
    } else {
      node = this.#objectBody(open)
      if (this.#kind() !== '}') this.#unexpected('`}`')
    }
    this.#advance()
    this.#depth -= 1
    return node
  }
}

function where(token: Token): string {
  return `line ${token.line}, column ${token.column}`
}

/** Whether policy text is JSON: Vault's HCL reads text whose first significant character is `{` as JSON. */
export function looksLikeJson(text: string): boolean {
  const match = /^[\s\uFEFF]*(.)/.exec(text)
  return match?.[1] === '{'
}

/**
 * Parses policy text (HCL, or JSON when it starts with `{`) into the tree.
 *
 * @throws {@link TokenStoreError} `invalid_request` naming the line and column of the first error.
 */
export function parseSyntax(text: string): SyntaxNode {
  if (text.length > MAX_POLICY_LENGTH) {
    throw new TokenStoreError(
      'invalid_request',
      `Expected the policy to be at most ${MAX_POLICY_LENGTH} characters, got ${text.length}`,
    )
  }
  return new Parser(text, looksLikeJson(text)).document()
}

/**
 * Turns a plain object (Vault's JSON shape) into the tree. Errors name the place by its property path. Cycles and
 * over-deep nesting are refused; reading a property that throws is refused as `invalid_request`.
 *
 * @throws {@link TokenStoreError} `invalid_request` for values JSON cannot hold (functions, symbols, bigints, class
 * instances), cycles, or nesting deeper than 64 levels.
 */
export function objectSyntax(source: object): SyntaxNode {
  try {
    return fromValue(source, 'the policy', 0)
  } catch (error) {
    if (error instanceof TokenStoreError) throw error
    throw new TokenStoreError('invalid_request', 'The policy object could not be read', {
      cause: error,
    })
  }
}

function fromValue(value: unknown, at: string, depth: number): SyntaxNode {
  if (depth > MAX_DEPTH) {
    throw new TokenStoreError(
      'invalid_request',
      `Invalid policy at ${at}: nested deeper than ${MAX_DEPTH} levels (or a cycle)`,
    )
  }
  switch (typeof value) {
    case 'string':
      return { kind: 'string', value, at }
    case 'number':
      if (!Number.isFinite(value)) break
      return { kind: 'number', value, at }
    case 'boolean':
      return { kind: 'bool', value, at }
    case 'object': {
      if (value === null) return { kind: 'null', at }
      if (Array.isArray(value)) {
        const elements: SyntaxNode[] = []
        for (let index = 0; index < value.length; index++) {
          elements.push(fromValue(value[index], `${at}[${index}]`, depth + 1))
        }
        return { kind: 'list', elements, at }
      }
      const prototype: unknown = Object.getPrototypeOf(value)
      if (prototype !== Object.prototype && prototype !== null) break
      const items: SyntaxItem[] = []
      for (const key of Object.keys(value)) {
        const child = `${at}${/^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key.slice(0, 80))}]`}`
        items.push({
          key,
          at: child,
          value: fromValue((value as Record<string, unknown>)[key], child, depth + 1),
        })
      }
      return { kind: 'object', items, at }
    }
    default:
      break
  }
  throw new TokenStoreError(
    'invalid_request',
    `Invalid policy at ${at}: expected a string, number, boolean, array or plain object, got ${value === null ? 'null' : typeof value}`,
  )
}
