#pragma once

#include <cstddef>
#include <list>
#include <string>
#include <unordered_map>

namespace wi {

/// Request bodies of recently accepted events by event id, so that their
/// deliveries are sent without reading the payload back from the store.
/// Bounded by the bytes of the bodies it holds: when a new body does not
/// fit, the oldest ones are dropped (their deliveries then read the payload
/// as before). Runtime state of one tenant actor: not durable, not
/// thread-safe.
class body_cache {
 public:
  /// Holds at most `max_bytes` of bodies. Default: 8 MiB.
  explicit body_cache(size_t max_bytes = size_t{8} << 20)
    : max_bytes_(max_bytes) {}

  /// Stores `body` as the body of `event_id`, dropping the oldest bodies
  /// until it fits; a body larger than the bound, or of an event already
  /// held, is not stored.
  void put(const std::string& event_id, std::string body);

  /// Returns the body of `event_id`, or null. The pointer is valid until the
  /// next call of a non-const member.
  [[nodiscard]] const std::string* find(const std::string& event_id) const;

  /// Drops the body of `event_id`, if held.
  void erase(const std::string& event_id);

  /// Returns the number of bodies held.
  [[nodiscard]] size_t size() const noexcept { return entries_.size(); }

  /// Returns the bytes of the bodies held.
  [[nodiscard]] size_t bytes() const noexcept { return bytes_; }

 private:
  struct entry {
    std::string body;
    /// Position in `order_`.
    std::list<std::string>::iterator pos;
  };

  size_t max_bytes_;
  size_t bytes_ = 0;
  /// Event ids, oldest first.
  std::list<std::string> order_;
  std::unordered_map<std::string, entry> entries_;
};

} // namespace wi
