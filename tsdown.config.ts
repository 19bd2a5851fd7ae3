import { readFileSync } from 'node:fs'

import { defineConfig } from 'tsdown'

/** The package version, compiled into `tokentree --version`. */
const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }

/**
 * One line per public subpath: the key is the file name under dist/ and must match the
 * `exports` entry in package.json (`"./<key>"`, with `index` → `"."`) and typedoc.json.
 */
const entry = {
  index: 'src/index.ts',
  testing: 'src/testing/index.ts',
  express: 'src/http/express.ts',
  koa: 'src/http/koa.ts',
  redis: 'src/storage/redis/index.ts',
  postgres: 'src/storage/postgres/index.ts',
  'vault-api': 'src/http/vault-api/index.ts',
  otel: 'src/otel/index.ts',
  // The `tokentree` command (package.json `bin`: dist/cli.js). Not an import path: no `exports` entry.
  cli: 'src/cli/bin.ts',
}

/**
 * nanoid@5 is ESM-only. Node >=20.19 can `require()` ESM unflagged (checked on 20.20), but
 * Node 20.0–20.18 throws ERR_REQUIRE_ESM and `engines` allows them. So the CJS build inlines
 * nanoid (one small file, no dependencies); the ESM build keeps it external so ESM consumers
 * share a single deduped copy. eventemitter3 and ms ship CJS and stay external in both builds.
 */
const isNanoid = (id: string): boolean => id === 'nanoid' || id.startsWith('nanoid/')

export default defineConfig({
  entry,
  format: {
    esm: {},
    cjs: {
      // Per-format overrides replace the resolved `deps` object wholesale, so spell it out.
      // `onlyBundle` makes the build fail if anything else gets inlined. The .d.cts pass logs
      // "entries in deps.onlyBundle are not used": expected (no nanoid types in our API).
      // `check:package` runs scripts/check-cjs.cjs with require(esm) disabled to prove this works.
      deps: { alwaysBundle: isNanoid, onlyBundle: ['nanoid'], skipNodeModulesBundle: false },
    },
  },
  // ESM → .js/.d.ts (package is "type": "module"), CJS → .cjs/.d.cts.
  fixedExtension: false,
  dts: true,
  // The declarations use Node's types (`Server`, `Buffer`, diagnostics channels). TypeScript 6 and later no longer
  // load every `@types/*` package by themselves, so without this a consumer's `tsc` reports "Cannot find name
  // 'node:http'" inside our files unless their tsconfig lists `"types": ["node"]`.
  banner: { dts: '/// <reference types="node" />' },
  clean: true,
  target: 'node20',
  platform: 'node',
  tsconfig: 'tsconfig.build.json',
  sourcemap: false,
  define: { __TOKENTREE_VERSION__: JSON.stringify(version) },
  // Keep package.json's exports map hand-written (reviewed, and checked by publint/attw).
  exports: false,
})
