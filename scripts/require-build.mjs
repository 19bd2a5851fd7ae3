// `npm test` runs the built command (dist/cli.js) and the packed tarball: say so plainly when there is no build.
import { existsSync } from 'node:fs'
import { URL } from 'node:url'

if (!existsSync(new URL('../dist/cli.js', import.meta.url))) {
  process.stderr.write(
    'dist/ is missing: run `npm run build` before `npm test` (CI builds first).\n',
  )
  process.exit(1)
}
