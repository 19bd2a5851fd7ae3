/**
 * Running a Python script that drives hvac (a second, independent Vault client) against a server of the test's.
 * Only `/usr/bin/python3` sees Debian's python3-hvac, so the interpreter is found by probing.
 */
import { spawn, spawnSync } from 'node:child_process'

/** The first interpreter that can import hvac, or why none could (for the test's `skip`). */
export function findHvacPython(): { python: string } | { skip: string } {
  const candidates = [process.env.TOKENTREE_PYTHON, 'python3', '/usr/bin/python3'].filter(
    (name): name is string => name !== undefined && name !== '',
  )
  for (const python of candidates) {
    const probe = spawnSync(python, ['-c', 'import hvac'], { stdio: 'ignore' })
    if (probe.status === 0) return { python }
  }
  return {
    skip: `no Python with hvac found (tried ${candidates.join(', ')}); install it with: apt-get install -y python3-hvac`,
  }
}

/**
 * Runs `script` with the server's URL and the root token as its two arguments; resolves to its exit code and
 * everything it printed (stdout and stderr together, for the assertion message).
 */
export async function runHvacScript(
  python: string,
  script: string,
  url: string,
  rootToken: string,
): Promise<{ code: number | null; output: string }> {
  const child = spawn(python, ['-c', script, url, rootToken], {
    // hvac goes through requests, which honours proxy variables: the server is on loopback.
    env: { ...process.env, NO_PROXY: '127.0.0.1,localhost', no_proxy: '127.0.0.1,localhost' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  return { code, output }
}
