#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <caf/actor_system.hpp>

#include "persistence/storage.hpp"
#include "webhook_ingress/messages.hpp"

namespace wi::persistence {

/// Spawns the payload reader: a detached actor (reads may block on disk, so
/// it owns a thread) that answers `(get, key)` with the stored payload,
/// `errc::not_found` when there is none, or `errc::storage_unavailable`.
/// Event bodies are read at delivery time through it instead of being kept
/// in actor memory.
[[nodiscard]] payload_reader_actor
spawn_payload_reader(caf::actor_system& sys, std::shared_ptr<storage> store);

/// Appends one record to a packed list: its length (u32, little-endian),
/// then its bytes.
void pack_record(std::string& packed, std::string_view record);

/// Calls `f(record)` for each record of a packed list in order; stops at
/// and returns the first error `f` returns. A malformed list (a length past
/// its end) is `errc::internal`.
[[nodiscard]] caf::error
for_each_packed(std::string_view packed,
                const std::function<caf::error(std::string_view)>& f);

/// Spawns the WAL reader: a detached actor that answers `(read, lists)`,
/// where each list holds ascending sequence numbers of WAL records, with
/// one packed string per list (`pack_record`) holding its records. All lists
/// are read in one pass in sequence order, so a reader of many tenants'
/// interleaved records touches each stored block about once (warm-up after a
/// restart). A stored tenant's actor reads its records back through it
/// (`actors/ stored_tenant_actor.hpp`).
[[nodiscard]] wal_reader_actor spawn_wal_reader(caf::actor_system& sys,
                                                std::shared_ptr<storage> store);

/// The payload key of an event: `<tenant id>/<event id>`.
[[nodiscard]] std::string payload_key(std::string_view tenant_id,
                                      std::string_view event_id);

} // namespace wi::persistence
