// `npm test` runs the built command (dist/cli.js) and the packed tarball, so it builds first: a fresh clone needs
// no step between `npm install` and `npm test`, and a stale dist/ never tests old code. TOKENTREE_SKIP_BUILD=1
// skips it (CI, which has just built).
import { spawnSync } from 'node:child_process'

if (process.env.TOKENTREE_SKIP_BUILD !== '1') {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  const result = spawnSync(npm, ['run', '--silent', 'build'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  if (result.status !== 0) {
    process.stderr.write('npm test: the build failed (npm run build)\n')
    process.exit(result.status ?? 1)
  }
}
