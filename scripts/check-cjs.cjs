// Smoke test of the built CommonJS entry, loaded the way a consumer loads it: through the
// package name and the exports map (`require` condition → dist/index.cjs). Run after `npm run build`.
//
// check:package runs this with `--no-experimental-require-module`, i.e. like Node 20.0–20.18,
// which cannot require() ESM. That proves the ESM-only nanoid is inlined into the CJS build
// and not required at run time (see tsdown.config.ts).
'use strict';

const assert = require('node:assert/strict');
const pkg = require('tokentree');

const { TokenStore, TokenStoreError } = pkg;

/** The token id from whatever `create()` resolves to (a string, or a Vault-like auth object). */
function tokenIdOf(created) {
  if (typeof created === 'string') return created;
  for (const key of ['clientToken', 'token', 'id']) {
    if (created && typeof created[key] === 'string') return created[key];
  }
  throw new Error(
    `create() resolved to an object without a token id: ${Object.keys(created ?? {})}`,
  );
}

async function main() {
  assert.equal(typeof TokenStore, 'function', 'TokenStore is exported');
  assert.equal(typeof TokenStoreError, 'function', 'TokenStoreError is exported');
  assert.ok(new TokenStoreError('invalid_token', 'x') instanceof Error);

  const store = new TokenStore();
  const id = tokenIdOf(await store.create());
  const auth = await store.authenticate(id);
  assert.ok(auth, 'authenticate() resolves for a token that create() just made');
  await store.close?.();
  console.log(`check-cjs: ok (${require.resolve('tokentree')})`);
}

main().catch((err) => {
  console.error('check-cjs: FAILED');
  console.error(err);
  process.exitCode = 1;
});
