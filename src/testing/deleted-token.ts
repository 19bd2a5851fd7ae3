/**
 * The conformance suite's view of a token reported by a batch deletion: a storage may report whole records or only
 * the fields of a {@link DeletedToken}, so the tests compare those fields.
 *
 * @packageDocumentation
 */
import type { DeletedToken } from '../storage/storage.js'

/** The {@link DeletedToken} fields of a reported token or a stored record, and nothing else. */
export function deletedFields(token: DeletedToken): DeletedToken {
  return {
    id: token.id,
    accessor: token.accessor,
    parent: token.parent,
    path: token.path,
    revoking: token.revoking,
  }
}
