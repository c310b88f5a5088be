#pragma once

#include <caf/expected.hpp>

#include "actors/directory/directory_state.hpp"
#include "persistence/storage.hpp"

namespace wi {

/// Reads the node state for a start without decoding tenants: decodes the
/// registry (its snapshot and `tenant_created` records), and for every
/// tenant keeps the bytes of its snapshot in `node_state::stored` and the
/// sequence numbers of its WAL records past it in its `owner_log` (the
/// record bytes are read back when the tenant starts; see
/// `stored_tenant`). Every snapshot and record is
/// format-checked on the way (the codecs' own checks, decoding into scratch
/// values), so a corrupt or foreign store still fails here, before the
/// service is ready; a tenant record of an unregistered tenant also fails.
/// What only applying can find (a record that cannot follow its tenant's
/// state) is found when the tenant is decoded (`materialise`). Blocks on
/// storage reads: call it from the main thread or a detached actor, never a
/// scheduler thread. Fails with `errc::corrupt_data` naming the snapshot or
/// record.
[[nodiscard]] caf::expected<node_state> load_node(persistence::storage& store);

/// Decodes every stored tenant of `st` into `st.tenants`, reading its WAL
/// records back from `store`, and gives every registered tenant without
/// state an empty one. Blocks on storage reads like `load_node`. On error
/// `st` is partly decoded.
[[nodiscard]] caf::error materialise_all(node_state& st,
                                         persistence::storage& store);

/// Rebuilds the whole node state eagerly: `load_node`, then
/// `materialise_all`. The result equals applying the stored records live.
[[nodiscard]] caf::expected<node_state> recover(persistence::storage& store);

} // namespace wi
