/**
 * `npm run bench`: every scenario against its baseline, measured in the same run, printed as one table.
 *
 * Each scenario warms up, then measures several rounds and reports the median. The heap scenario runs in a child
 * process (`--expose-gc`). The whole run takes one to two minutes.
 */
import { benchAuthenticate } from './authenticate.js'
import { benchBatch } from './batch.js'
import { benchCreate } from './create.js'
import { benchExpiry } from './expiry.js'
import { printTable, type Row } from './harness.js'
import { benchMemory } from './memory.js'
import { benchRevokeSubtree } from './revoke-subtree.js'

const started = Date.now()
const rows: Row[] = []
for (const [name, run] of [
  ['authenticate', benchAuthenticate],
  ['create', benchCreate],
  ['revoke subtree', benchRevokeSubtree],
  ['memory', benchMemory],
  ['expiry sweep', benchExpiry],
  ['batch tokens', benchBatch],
] as const) {
  process.stderr.write(`bench: ${name}...\n`)
  const result: Row | Row[] = await run()
  rows.push(...(Array.isArray(result) ? result : [result]))
}
console.log(`\ntokentree bench · Node ${process.version} · ${process.platform}/${process.arch}\n`)
printTable(rows)
console.log(
  `\nMedians of several rounds after warm-up; ${((Date.now() - started) / 1000).toFixed(0)} s in all.`,
)
if (rows.some((row) => !row.met)) process.exitCode = 1
