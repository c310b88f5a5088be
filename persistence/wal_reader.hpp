#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "persistence/storage.hpp"
#include "webhook_ingress/messages.hpp"

// Reading WAL records back after a lazy restart: the packed lists a stored
// tenant's records travel in, and the detached reader that fills them.

namespace wi::persistence {

/// Appends one record to a packed list: its length (u32, little-endian),
/// then its bytes.
void pack_record(std::string& packed, std::string_view record);

/// Calls `f(record)` for each record of a packed list in order; stops at
/// and returns the first error `f` returns. A malformed list (a length past
/// its end) is `errc::internal`.
[[nodiscard]] caf::error
for_each_packed(std::string_view packed,
                const std::function<caf::error(std::string_view)>& f);

/// Reads the WAL records `seqs` (ascending) from `store` as one packed
/// list (`storage::read_wal`). Blocks on the store: call it from a detached
/// actor or before serving, never from a scheduler thread.
[[nodiscard]] caf::expected<std::string>
read_packed(storage& store, const std::vector<uint64_t>& seqs);

/// Spawns the WAL reader: a detached actor that answers `(read, lists)`,
/// where each list holds ascending sequence numbers of WAL records, with
/// one packed string per list (`pack_record`) holding its records. All lists
/// are read in one pass in sequence order, so a reader of many tenants'
/// interleaved records touches each stored block about once (warm-up after a
/// restart). A stored tenant's actor reads its records back through it
/// (`actors/tenant/stored_tenant_actor.hpp`).
[[nodiscard]] wal_reader_actor spawn_wal_reader(caf::actor_system& sys,
                                                std::shared_ptr<storage> store);

} // namespace wi::persistence
