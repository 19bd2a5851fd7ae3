// A node:test reporter that prints only the run's closing lines, as the TAP reporter does (`# tests 12`,
// `# pass 12`, `# fail 0`, …), after everything else. `npm test` shows the spec reporter to people and adds
// these lines for CI, which reads them.
// Usage: --test-reporter=./scripts/test-summary.mjs --test-reporter-destination=stdout
export default async function* summary(source) {
  const lines = []
  for await (const event of source) {
    // The closing counts are the diagnostics reported outside any test.
    if (
      event.type === 'test:diagnostic' &&
      event.data.nesting === 0 &&
      event.data.file === undefined
    ) {
      lines.push(`# ${event.data.message}\n`)
    }
  }
  yield lines.join('')
}
