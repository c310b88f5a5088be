#pragma once

#include <caf/expected.hpp>

#include "actors/directory_state.hpp"
#include "persistence/storage.hpp"

namespace wi {

/// Rebuilds the node state: loads every snapshot, then replays the WAL
/// records that no snapshot covers through the same `apply` functions the
/// actors use live. Blocks on storage reads: call it
/// from the main thread or a detached actor, never a scheduler thread.
/// Fails with `errc::corrupt_data` on a snapshot or record that does not
/// decode or does not apply, naming it.
[[nodiscard]] caf::expected<node_state> recover(persistence::storage& store);

} // namespace wi
