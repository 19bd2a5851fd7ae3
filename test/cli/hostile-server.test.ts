/**
 * The built `tokentree` command against a server that is not what VAULT_ADDR should be: one that redirects, one
 * whose answers carry terminal control sequences, one that declares a huge body. The token must go nowhere else,
 * nothing from the server may drive the terminal, and the command must end with Vault's exit status 2.
 */
import assert from 'node:assert/strict'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, test } from 'node:test'

import { requireBuild, tokentree } from './helpers/run.js'

const TOKEN = 'hvs.hostile-test-token-0123456789'
const ESC = '\u001b'

/** Every token header a server of this file received, by the server's name. */
const seenTokens = new Map<string, string[]>()

async function serve(
  name: string,
  answer: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const token = req.headers['x-vault-token']
    if (typeof token === 'string') seenTokens.set(name, [...(seenTokens.get(name) ?? []), token])
    answer(req, res)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { server, url: `http://127.0.0.1:${String((server.address() as AddressInfo).port)}` }
}

const servers: Server[] = []
let elsewhere: string
let redirecting: string
let escaping: string
let huge: string

before(async () => {
  requireBuild()
  const other = await serve('elsewhere', (_req, res) => {
    res.setHeader('content-type', 'application/json')
    res.end('{"data":{"id":"stolen"}}')
  })
  elsewhere = other.url
  const redirect = await serve('redirecting', (req, res) => {
    res.statusCode = 307
    res.setHeader('location', `${elsewhere}${req.url ?? '/'}`)
    res.end()
  })
  redirecting = redirect.url
  const escapes = await serve('escaping', (req, res) => {
    res.setHeader('content-type', 'application/json')
    if (req.url?.includes('lookup-self') === true) {
      res.end(
        JSON.stringify({
          data: {
            display_name: `name${ESC}]0;pwned\u0007\r\nroot_token    hvs.FAKE`,
            [`key${ESC}[2J`]: 'value',
            policies: [`a${ESC}[31m`, 'evil\u202etxt.exe'],
          },
          warnings: [`careful${ESC}[2J`],
        }),
      )
      return
    }
    res.statusCode = 400
    res.end(JSON.stringify({ errors: [`bad${ESC}[2J\rforged`] }))
  })
  escaping = escapes.url
  const big = await serve('huge', (_req, res) => {
    res.setHeader('content-type', 'application/json')
    res.setHeader('content-length', String(200 * 1024 * 1024))
    res.write('{"data":')
  })
  huge = big.url
  servers.push(other.server, redirect.server, escapes.server, big.server)
})

after(async () => {
  for (const server of servers) {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  }
})

test('a redirect is not followed: the token goes nowhere else, exit status 2', async () => {
  for (const args of [
    ['token', 'lookup'],
    ['token', 'create', '-policy=x'],
  ]) {
    const result = await tokentree(args, { env: { VAULT_ADDR: redirecting, VAULT_TOKEN: TOKEN } })
    assert.equal(result.code, 2, result.stderr)
    assert.match(result.stderr, /redirect/)
  }
  assert.equal(seenTokens.get('redirecting')?.length, 2)
  assert.equal(seenTokens.get('elsewhere'), undefined, 'the token reached the redirect target')
})

test("control characters in a server's answers are written out, never sent to the terminal", async () => {
  const table = await tokentree(['token', 'lookup'], {
    env: { VAULT_ADDR: escaping, VAULT_TOKEN: TOKEN },
  })
  assert.equal(table.code, 0, table.stderr)
  const field = await tokentree(['token', 'lookup', '-field=display_name'], {
    env: { VAULT_ADDR: escaping, VAULT_TOKEN: TOKEN },
  })
  const refused = await tokentree(['token', 'revoke', 'hvs.whatever-000000'], {
    env: { VAULT_ADDR: escaping, VAULT_TOKEN: TOKEN },
  })
  assert.equal(refused.code, 2)
  for (const output of [table.stdout, table.stderr, field.stdout, refused.stderr]) {
    // eslint-disable-next-line no-control-regex -- what must not appear
    assert.doesNotMatch(output, /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/, JSON.stringify(output))
  }
  assert.match(table.stdout, /name\\x1b\]0;pwned\\x07\\x0d\\x0aroot_token {4}hvs\.FAKE/)
  assert.match(table.stdout, /evil\\u202etxt\.exe/, 'a bidirectional override, written out')
  // One value, one line: `TOKEN=$(tokentree … -field=…)` gets no second line from the server.
  assert.doesNotMatch(field.stdout, /\n/)
  assert.doesNotMatch(table.stdout, /^root_token/m, 'a forged row')
  assert.match(table.stderr, /careful\\x1b\[2J/)
  assert.match(refused.stderr, /bad\\x1b\[2J\\x0dforged/)
})

test('an answer larger than the command reads is refused, exit status 2', async () => {
  const result = await tokentree(['token', 'lookup'], {
    env: { VAULT_ADDR: huge, VAULT_TOKEN: TOKEN },
  })
  assert.equal(result.code, 2, result.stderr)
  assert.match(result.stderr, /larger than/)
})

test('a token that cannot be a header value is refused without being printed', async () => {
  const result = await tokentree(['token', 'lookup'], {
    env: { VAULT_ADDR: escaping, VAULT_TOKEN: 'hvs.secret\nsecond-line' },
  })
  assert.equal(result.code, 2)
  assert.doesNotMatch(result.stderr, /secret|second-line/)
  assert.match(result.stderr, /characters a header cannot/)
})
