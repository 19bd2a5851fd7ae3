#!/usr/bin/env node
/**
 * The `tokentree` executable (package.json `bin`): runs {@link main} with the process's streams and sets the
 * exit status. Built to `dist/cli.js`; plain JavaScript at run time.
 *
 * @packageDocumentation
 */
import { printable } from './format.js'
import { main } from './main.js'

/** Reads standard input to the end. */
async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

/**
 * What reaches the terminal: control characters but line feeds and tabs written out. The output is built from
 * escaped values already; this is the last guard, for any text a server's answer could still carry.
 */
const safe = (text: string): string => printable(text, true)

void main(process.argv.slice(2), {
  out: (text) => process.stdout.write(safe(text)),
  err: (text) => process.stderr.write(safe(text)),
  isTTY: process.stdout.isTTY,
  env: process.env,
  readStdin,
}).then((status) => {
  process.exitCode = status
})
