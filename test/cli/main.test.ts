/**
 * The command line's dispatch, usage errors and help, in-process through `main()` (no server, no build): exit
 * statuses as Vault's CLI (1 for a local error) and help that fits one screen.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'

import type { CommandIo } from '../../src/cli/command.js'
import { COMMANDS, main } from '../../src/cli/main.js'

/** Runs `main` with captured output, pointed at an address where nothing listens. */
async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = ''
  let err = ''
  const io: CommandIo = {
    out: (text) => (out += text),
    err: (text) => (err += text),
    isTTY: false,
    env: {
      VAULT_ADDR: 'http://127.0.0.1:1',
      VAULT_TOKEN: 'hvs.secret-never-printed',
      HOME: '/nonexistent',
    },
    readStdin: () => Promise.resolve(''),
  }
  const code = await main(argv, io)
  return { code, out, err }
}

/** A screen: 40 lines of at most 80 columns. */
function assertOneScreen(text: string, what: string): void {
  const lines = text.trimEnd().split('\n')
  assert.ok(lines.length <= 40, `${what}: ${String(lines.length)} lines`)
  for (const line of lines)
    assert.ok(line.length <= 80, `${what}: a line of ${String(line.length)} columns: ${line}`)
}

test('main(): -h lists every command and fits one screen; no arguments prints it and exits 1', async () => {
  const help = await run(['-h'])
  assert.equal(help.code, 0)
  for (const command of COMMANDS) assert.ok(help.out.includes(command.name), command.name)
  assertOneScreen(help.out, 'tokentree -h')
  assert.equal((await run(['--help'])).code, 0)
  const bare = await run([])
  assert.equal(bare.code, 1)
  assert.equal(bare.out, help.out)
})

test("main(): every command's -h (and --help) fits one screen and exits 0", async () => {
  for (const command of COMMANDS) {
    const argv = command.name.split(' ')
    const help = await run([...argv, '-h'])
    assert.equal(help.code, 0, command.name)
    assert.match(help.out, new RegExp(`^Usage: tokentree ${command.name}`))
    assertOneScreen(help.out, command.name)
    assert.equal((await run([...argv, '--help'])).out, help.out)
  }
  for (const family of ['token', 'lease', 'policy']) {
    const help = await run([family, '-h'])
    assert.equal(help.code, 0)
    assertOneScreen(help.out, family)
  }
})

test('main(): usage errors exit 1 with the message and the help on stderr, before any request', async () => {
  const cases: [string[], RegExp][] = [
    [['token', 'revoke', '-self', 'extra'], /Too many arguments with -self/],
    [['token', 'revoke'], /Not enough arguments/],
    [['token', 'revoke', 'a', 'b'], /Too many arguments \(expected 1 or -self/],
    [['token', 'revoke', '-self', '-accessor'], /Cannot use -self with -accessor/],
    [['token', 'revoke', '-self', '-mode=orphan'], /Cannot use -self with -mode/],
    [['token', 'revoke', '-accessor', '-mode=path', 'x'], /Cannot use -accessor with -mode=path/],
    [['token', 'revoke', '-mode=tree', 'x'], /Invalid -mode/],
    [['token', 'create', '-bogus'], /flag provided but not defined: -bogus/],
    [['token', 'create', '-use-limit=1.5'], /-use-limit/],
    [['token', 'create', '-format=yaml'], /Invalid output format/],
    [['token', 'create', '-ttl'], /flag needs an argument: -ttl/],
    [['token', 'create', '-orphan=maybe'], /invalid boolean value for -orphan/],
    [['token', 'create', '-metadata=novalue'], /expected key=value/],
    [['token', 'create', 'extra'], /Too many arguments/],
    [['token', 'lookup', 'a', 'b'], /Too many arguments/],
    [['token', 'lookup', '-accessor'], /Not enough arguments/],
    [['token', 'capabilities'], /Not enough arguments/],
    [['token', 'capabilities', '-accessor', 'path'], /Not enough arguments/],
    [['lease', 'lookup'], /Not enough arguments/],
    [['lease', 'renew', 'a', 'b'], /Too many arguments/],
    [['lease', 'revoke'], /Not enough arguments/],
    [['policy', 'write', 'web'], /Not enough arguments/],
    [['policy', 'read'], /Not enough arguments/],
    [['policy', 'list', 'x'], /Too many arguments/],
    [['policy', 'delete'], /Not enough arguments/],
    [['server'], /pass -dev/],
    [['server', '-dev', '-dev-listen-address=nohost'], /host:port/],
    [['server', '-dev', '-redis-url=redis://x', '-postgres-url=postgres://y'], /either/],
    [['server', '-dev', '-redis-url=redis://127.0.0.1:1'], /TOKENTREE_SECRET/],
    [['migrate'], /Missing -postgres-url/],
    [['token', 'frobnicate'], /Unknown subcommand/],
    [['frobnicate'], /Unknown command/],
  ]
  for (const [argv, message] of cases) {
    const result = await run(argv)
    assert.equal(result.code, 1, `${argv.join(' ')}: ${result.err}`)
    assert.match(result.err, message, argv.join(' '))
    assert.equal(result.out, '', argv.join(' '))
    assert.ok(!result.err.includes('hvs.secret-never-printed'))
  }
})

test('main(): an unreachable server is a remote error (2), without the token', async () => {
  const result = await run(['token', 'lookup'])
  assert.equal(result.code, 2)
  assert.match(
    result.err,
    /^Error looking up token: Error making API request to http:\/\/127\.0\.0\.1:1/,
  )
  assert.ok(!result.err.includes('hvs.secret-never-printed'))
})

test('main(): a policy file that cannot be read is a local error (1)', async () => {
  const result = await run(['policy', 'write', 'web', '/nonexistent/web.hcl'])
  assert.equal(result.code, 1)
  assert.match(result.err, /Error opening policy file/)
})

test('main(): --version prints the version', async () => {
  const result = await run(['--version'])
  assert.equal(result.code, 0)
  assert.match(result.out, /^tokentree \S+\n$/)
})
