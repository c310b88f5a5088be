#pragma once

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

/// The payload key of an event: `<tenant id>/<event id>`.
[[nodiscard]] std::string payload_key(std::string_view tenant_id,
                                      std::string_view event_id);

} // namespace wi::persistence
