/**
 * The package as a user gets it: `npm pack` ships dist/ (with the command), LICENSE, README and CHANGELOG and no
 * sources or tests; installed into an empty project (offline-capable, from npm's cache), `npx tokentree server
 * -dev` serves the Vault API, `npx tokentree token create -format=json` prints the token, and a SIGTERM to npx
 * stops the server; and its declarations type-check in a TypeScript project that checks libraries too, against the
 * `@types/node` of this repository and against the newest one.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, posix } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { promisify } from 'node:util'

import {
  MISSING_BUILD,
  ROOT_DIR,
  childEnv,
  requireBuild,
  startServer,
  stopChild,
  waitUntilDown,
} from './helpers/run.js'

const run = promisify(execFile)
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm'
const NPX = process.platform === 'win32' ? 'npx.cmd' : 'npx'

/** Files the tarball must carry. */
const REQUIRED = [
  'package.json',
  'README.md',
  'LICENSE',
  'CHANGELOG.md',
  'dist/cli.js',
  'dist/index.js',
  'dist/index.cjs',
  'dist/index.d.ts',
  'dist/index.d.cts',
  ...['testing', 'express', 'koa', 'redis', 'postgres', 'otel'].flatMap((name) => [
    `dist/${name}.js`,
    `dist/${name}.cjs`,
    `dist/${name}.d.ts`,
    `dist/${name}.d.cts`,
  ]),
]

describe('the packed package', { skip: MISSING_BUILD, timeout: 180_000 }, () => {
  let dir: string
  let files: string[]
  let tarball: string
  let installed: Promise<string> | undefined

  /** An empty project with the tarball installed (once, for every test that needs it): its directory. */
  const installedApp = (): Promise<string> => {
    installed ??= (async () => {
      const app = join(dir, 'app')
      await mkdir(app, { recursive: true })
      await writeFile(
        join(app, 'package.json'),
        JSON.stringify({ name: 'app', private: true, type: 'module' }),
      )
      await run(
        NPM,
        [
          'install',
          tarball,
          '--prefer-offline',
          '--no-audit',
          '--no-fund',
          '--ignore-scripts',
          '--loglevel=error',
        ],
        { cwd: app, env: childEnv() },
      )
      return app
    })()
    return installed
  }

  before(async () => {
    requireBuild()
    dir = await mkdtemp(join(tmpdir(), 'tokentree-pack-'))
    // The build is there already (CI builds before testing); prepack would build again.
    const { stdout } = await run(
      NPM,
      ['pack', '--json', '--ignore-scripts', '--pack-destination', dir],
      {
        cwd: ROOT_DIR,
        env: childEnv(),
      },
    )
    const [packed] = JSON.parse(stdout) as [{ filename: string; files: { path: string }[] }]
    files = packed.files.map((f) => f.path).sort()
    tarball = join(dir, packed.filename)
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  test('npm pack ships dist/, the docs, LICENSE, README and CHANGELOG, and no sources, tests or CLI typings', () => {
    for (const file of REQUIRED)
      assert.ok(files.includes(file), `missing from the tarball: ${file}`)
    for (const file of files) {
      assert.match(
        file,
        /^(dist\/[\w.-]+\.(js|cjs|d\.ts|d\.cts)|docs\/[\w.-]+\.md|package\.json|README\.md|LICENSE|CHANGELOG\.md|CONTRIBUTING\.md)$/,
        file,
      )
      assert.doesNotMatch(file, /^dist\/cli\.(cjs|d\.ts|d\.cts)$/, file)
    }
  })

  test('every relative link of the shipped README and docs names a file the tarball holds', async () => {
    const pages = files.filter((file) => file.endsWith('.md'))
    for (const page of pages) {
      const text = await readFile(join(ROOT_DIR, page), 'utf8')
      for (const [, target] of text.matchAll(/\]\(([^)\s#:]+)(?:#[^)]*)?\)/g)) {
        if (target === undefined || !/\.(md|txt)$|^LICENSE$/.test(target)) continue
        const resolved = posix.normalize(posix.join(posix.dirname(page), target))
        assert.ok(files.includes(resolved), `${page} links ${target}, which the tarball lacks`)
      }
    }
  })

  test('installed in an empty project: npx tokentree server -dev, token create -format=json, SIGTERM stops it', async () => {
    const app = await installedApp()
    const imported = await run(
      process.execPath,
      [
        '-e',
        "import('tokentree').then(async (m) => { const s = new m.TokenStore(); console.log((await s.createRoot()).policies.join()); await s.close() })",
      ],
      { cwd: app, env: childEnv() },
    )
    assert.equal(imported.stdout, 'root\n')
    const required = await run(
      process.execPath,
      ['-e', "console.log(typeof require('tokentree').TokenStore)"],
      { cwd: app, env: childEnv() },
    )
    assert.equal(required.stdout, 'function\n')

    const server = await startServer(
      NPX,
      ['--no-install', 'tokentree', 'server', '-dev', '-dev-listen-address=127.0.0.1:0'],
      {},
      app,
    )
    try {
      const created = await run(
        NPX,
        ['--no-install', 'tokentree', 'token', 'create', '-policy=web', '-format=json'],
        {
          cwd: app,
          env: childEnv({ VAULT_ADDR: server.address, VAULT_TOKEN: server.rootToken }),
        },
      )
      const answer = JSON.parse(created.stdout) as {
        auth: { client_token: string; policies: string[] }
      }
      assert.match(answer.auth.client_token, /^hvs\./)
      assert.deepEqual(answer.auth.policies, ['default', 'web'])
    } finally {
      await stopChild(server.child, 'SIGTERM')
    }
    await waitUntilDown(server.address)
  })

  test('its declarations type-check with skipLibCheck off (ESM and CommonJS), against @types/node 20 and the newest; every entry but Koa with its peers', async () => {
    const app = await installedApp()
    await writeFile(join(app, 'consumer.ts'), CONSUMER)
    await writeFile(join(app, 'consumer-cjs.cts'), CONSUMER_CJS)
    // Each variant names its @types/node through a type root of its own (the newest is a devDependency alias).
    const variants = {
      repository: join(ROOT_DIR, 'node_modules', '@types', 'node'),
      newest: join(ROOT_DIR, 'node_modules', 'node-types-newest'),
    }
    // The entries with peers, checked with this repository's typings of them (linked into the project).
    await writeFile(join(app, 'consumer-peers.ts'), CONSUMER_PEERS)
    for (const peer of PEER_TYPINGS) {
      await mkdir(join(app, 'node_modules', peer, '..'), { recursive: true })
      await symlink(join(ROOT_DIR, 'node_modules', peer), join(app, 'node_modules', peer), 'dir')
    }
    for (const [variant, types] of Object.entries(variants)) {
      const root = join(app, `types-${variant}`)
      await mkdir(root, { recursive: true })
      await symlink(types, join(root, 'node'), 'dir')
      const checked = await typeCheck(
        app,
        `tsconfig.${variant}.json`,
        { types: ['node'], typeRoots: [`./types-${variant}`] },
        // The peers' typings reference this repository's @types/node: with another, both would load.
        [
          'consumer.ts',
          'consumer-cjs.cts',
          ...(variant === 'repository' ? ['consumer-peers.ts'] : []),
        ],
      )
      assert.equal(
        checked,
        '',
        `@types/node (${variant}): the package's declarations fail to type-check`,
      )
    }
    // A project that names no `types` (TypeScript 6 then loads no @types package by itself) and uses nothing of
    // Node's: the declarations reference @types/node themselves.
    await mkdir(join(app, 'node_modules', '@types'), { recursive: true })
    await symlink(variants.repository, join(app, 'node_modules', '@types', 'node'), 'dir')
    await writeFile(join(app, 'bare.ts'), CONSUMER_BARE)
    const bare = await typeCheck(app, 'tsconfig.bare.json', {}, ['bare.ts'])
    assert.equal(bare, '', 'a project without `types`: the declarations fail to type-check')
  })
})

/**
 * Writes `config` in `app` (strict, NodeNext, skipLibCheck off, with `options` added) for `files`, runs this
 * repository's `tsc` on it, and resolves to what it reported: empty when the files type-check.
 */
async function typeCheck(
  app: string,
  config: string,
  options: Record<string, unknown>,
  files: readonly string[],
): Promise<string> {
  const compilerOptions = {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    strict: true,
    noEmit: true,
    skipLibCheck: false,
    ...options,
  }
  await writeFile(join(app, config), JSON.stringify({ compilerOptions, files }))
  const tsc = join(ROOT_DIR, 'node_modules', 'typescript', 'bin', 'tsc')
  return run(process.execPath, [tsc, '-p', config], { cwd: app, env: childEnv() }).then(
    () => '',
    (error: unknown) => String((error as { stdout?: string }).stdout ?? error),
  )
}

/** A TypeScript user's file that imports tokentree and nothing of Node's. */
const CONSUMER_BARE = `
import { TokenStore } from 'tokentree'

const store = new TokenStore()
export const created = await store.create({ policies: ['web'] })
`

/** What a TypeScript user writes against the core and the testing entry, tracing included (ESM). */
const CONSUMER = `
import { AsyncLocalStorage } from 'node:async_hooks'
import { TokenStore, TokenStoreError, operationChannel, type OperationContext } from 'tokentree'
import { createTestStore } from 'tokentree/testing'

const spans = new AsyncLocalStorage<string>()
const channel = operationChannel('create')
channel.start.bindStore(spans, (context: OperationContext) => context.operation)
channel.subscribe({ asyncEnd: (context) => void context.outcome })
const store: TokenStore = new TokenStore()
const created = await store.create({ policies: ['web'], ttl: '1h' })
const code: string | undefined = new TokenStoreError('invalid_token', 'x').code
const fixture = createTestStore()
export { created, code, fixture }
`

/**
 * The entries whose declarations import a peer's typings. Not `tokentree/koa`: `@types/koa` fails a check with
 * skipLibCheck off by itself (it names an `Options` that `content-disposition` no longer exports).
 */
const CONSUMER_PEERS = `
import * as express from 'tokentree/express'
import * as redis from 'tokentree/redis'
import * as postgres from 'tokentree/postgres'
import * as vaultApi from 'tokentree/vault-api'
import * as otel from 'tokentree/otel'
export { express, redis, postgres, vaultApi, otel }
`

/** The peers {@link CONSUMER_PEERS} needs, with their typings. */
const PEER_TYPINGS = ['express', '@types/express', 'ioredis', '@opentelemetry/api']

/** The same through \`require\` (the package's CommonJS declarations). */
const CONSUMER_CJS = `
import tokentree = require('tokentree')
const store = new tokentree.TokenStore()
export = store
`
