// Smoke test of the built ES module entry, loaded the way a consumer loads it: through the
// package name and the exports map (`import` condition → dist/index.js). Run after `npm run build`.
import assert from 'node:assert/strict';
import { TokenStore, TokenStoreError } from 'tokentree';

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

try {
  assert.equal(typeof TokenStore, 'function', 'TokenStore is exported');
  assert.equal(typeof TokenStoreError, 'function', 'TokenStoreError is exported');
  assert.ok(new TokenStoreError('invalid_token', 'x') instanceof Error);

  const store = new TokenStore();
  const id = tokenIdOf(await store.create());
  const auth = await store.authenticate(id);
  assert.ok(auth, 'authenticate() resolves for a token that create() just made');
  await store.close?.();
  console.log(`check-esm: ok (${import.meta.resolve('tokentree')})`);
} catch (err) {
  console.error('check-esm: FAILED');
  console.error(err);
  process.exitCode = 1;
}
