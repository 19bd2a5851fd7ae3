/**
 * Token source paths: the fixed ones, and the bound every path must fit in, so that each token's path is one
 * `revokePrefix` accepts.
 */

/** Path of children created with a parent token; a role's tokens live below it (`auth/token/create/<role>`). */
export const CHILD_TOKEN_PATH = 'auth/token/create'

/** Longest source path or prefix accepted, in characters: by `create({ path })`, by `revokePrefix`, and for roles. */
export const MAX_PATH_LENGTH = 512

/** Longest role name, in characters. */
export const MAX_ROLE_NAME_LENGTH = 128

/**
 * Longest role `pathSuffix`: what is left of {@link MAX_PATH_LENGTH} once the longest role path around it is
 * written, `auth/token/create/<128-character role>/`. Any longer, and `revokePrefix` would refuse the role's own
 * tokens' path.
 */
export const MAX_PATH_SUFFIX_LENGTH =
  MAX_PATH_LENGTH - (CHILD_TOKEN_PATH.length + 1 + MAX_ROLE_NAME_LENGTH + 1)
