#pragma once

#include <atomic>
#include <cstddef>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>

namespace wi {

/// Request bodies of recently accepted events by event id, so that their
/// deliveries are sent without reading the payload back from the store.
/// Bounded by the bytes of the bodies it holds, and optionally by a total
/// shared with other caches (one per tenant actor): when a new body does
/// not fit, this cache's oldest bodies are dropped (their deliveries then
/// read the payload as before); a cache never drops another's bodies.
/// Runtime state of one tenant actor: not durable; one cache is not
/// thread-safe, the shared total is (atomic).
class body_cache {
 public:
  /// Holds at most `max_bytes` of bodies. Default: 8 MiB.
  explicit body_cache(size_t max_bytes = size_t{8} << 20)
    : max_bytes_(max_bytes) {}

  /// Returns its bytes to the shared total.
  ~body_cache();

  body_cache(const body_cache&) = delete;
  body_cache& operator=(const body_cache&) = delete;

  /// Sets the bounds: at most `max_bytes` here, and at most `shared_max`
  /// in `*shared` over every cache that counts its bytes there (no shared
  /// bound when `shared` is null). Only while the cache is empty.
  void limit(size_t max_bytes, std::shared_ptr<std::atomic<size_t>> shared,
             size_t shared_max);

  /// Stores `body` as the body of `event_id`, dropping this cache's oldest
  /// bodies until it fits; a body that does not fit even then, or of an
  /// event already held, is not stored.
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

  /// Adds `n` bytes to the shared total if that stays within its bound.
  bool reserve_shared(size_t n);

  size_t max_bytes_;
  size_t bytes_ = 0;
  std::shared_ptr<std::atomic<size_t>> shared_;
  size_t shared_max_ = 0;
  /// Event ids, oldest first.
  std::list<std::string> order_;
  std::unordered_map<std::string, entry> entries_;
};

} // namespace wi
