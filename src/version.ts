/** The package version, compiled in by the build (tsdown's `define`); `dev` when run from the sources (tsx). */
declare const __TOKENTREE_VERSION__: string | undefined

/** This package's version: the instrumentation scope version of `tokentree/otel`'s tracer and meter. */
export const VERSION = typeof __TOKENTREE_VERSION__ === 'string' ? __TOKENTREE_VERSION__ : 'dev'
