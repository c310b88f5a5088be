#pragma once

// Pure pieces of the peer layer's forwarding (actors/cluster/peer.cpp), kept
// apart so that they are tested without actors or a network:
// - which forwards are past their deadline (the forwarder's periodic sweep;
//   the caller passes the time, so tests use a fake clock);
// - how a queue of forwards or answers is cut into bounded batches (one CAF
//   message each).

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace wi::cluster {

/// The bounds of one batch message of the peer layer.
struct batch_limits {
  /// At most this many requests (or answers) per message.
  size_t max_items = 64;
  /// At most about this many body bytes per message: a batch ends after the
  /// item that reaches it (an item larger than this travels alone).
  size_t max_bytes = 1u << 20;
};

/// Cuts `sizes` (the body bytes of each item, in order) into consecutive
/// batches within `limits`; returns each batch as `[first, last)` indexes.
/// Every item is in exactly one batch, in order; no batch is empty.
[[nodiscard]] inline std::vector<std::pair<size_t, size_t>>
batch_ranges(const std::vector<size_t>& sizes, batch_limits limits) {
  std::vector<std::pair<size_t, size_t>> result;
  auto max_items = std::max<size_t>(limits.max_items, 1);
  size_t first = 0;
  size_t bytes = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    bytes += sizes[i];
    if (i + 1 - first >= max_items || bytes >= limits.max_bytes) {
      result.emplace_back(first, i + 1);
      first = i + 1;
      bytes = 0;
    }
  }
  if (first < sizes.size())
    result.emplace_back(first, sizes.size());
  return result;
}

/// The ids of `entries` (a map from id to an entry with a `deadline`
/// member, a time point) whose own deadline is at or before `now`, in
/// increasing id order (the order they started in).
template <class Map, class TimePoint>
[[nodiscard]] std::vector<uint64_t> expired_ids(const Map& entries,
                                                TimePoint now) {
  std::vector<uint64_t> ids;
  for (const auto& [id, entry] : entries)
    if (entry.deadline <= now)
      ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

} // namespace wi::cluster
