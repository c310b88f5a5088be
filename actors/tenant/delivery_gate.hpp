#pragma once

// What holds a due delivery back before its attempt (issue 17, items 4 and
// 5): an endpoint's rate limit (a token bucket) and its FIFO ordering (one
// attempt under way per ordering key, in acceptance order). Pure decisions
// with an injected clock, and the runtime index of FIFO lanes; the tenant
// actor feeds them its state and clock. A delivery held back here makes no
// attempt: it is not a failure, the breaker does not see it and it uses no
// retry budget.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "actors/tenant/tenant_limits.hpp"
#include "webhook_ingress/domain.hpp"

namespace wi {

// -- rate limit ---------------------------------------------------------------

/// The bucket size of a rate limit of `rate` deliveries per second: a tenth
/// of a second's worth, at least 1 (so the rate holds over any window of a
/// second to within 10%, and a timer that fires late loses no tokens).
[[nodiscard]] uint64_t delivery_burst(uint32_t rate) noexcept;

/// Asks an endpoint's bucket for one attempt at `now` under `rate`
/// deliveries per second (0: unlimited, always allowed, bucket unchanged).
/// When refused, `wait` is how long until a token is there. Pure.
[[nodiscard]] bucket_decision take_delivery_token(const token_bucket& bucket,
                                                  uint32_t rate,
                                                  limit_clock::time_point now);

// -- FIFO ---------------------------------------------------------------------

/// What the FIFO gate says about a due delivery.
enum class fifo_verdict {
  /// Attempt it now.
  attempt,
  /// An earlier event of its key is still pending: wait for it.
  not_head,
  /// An attempt of its key is under way: wait for it to end.
  key_busy,
};

/// Decides whether the due delivery of the event with acceptance number
/// `seq` may be attempted: always on an unordered endpoint; on a FIFO one
/// only when `head` (the acceptance number of the oldest pending delivery of
/// its key, if known) is `seq` or later, and no attempt of the key is under
/// way (`key_busy`). Pure.
[[nodiscard]] fifo_verdict decide_fifo(delivery_ordering ordering, uint64_t seq,
                                       std::optional<uint64_t> head,
                                       bool key_busy) noexcept;

/// One ordering key of one endpoint.
using fifo_lane = std::pair<endpoint_id, std::string>;

/// The pending deliveries of FIFO endpoints by lane, in acceptance order,
/// and the lanes with an attempt under way. Runtime only (rebuilt from the
/// state when the tenant starts): entries are added when a delivery is
/// scheduled and dropped lazily, when `head` finds that they are no longer
/// pending.
class fifo_lanes {
 public:
  /// Notes the pending delivery of event `event_id` (acceptance number
  /// `seq`) in `lane`; adding it twice changes nothing.
  void add(const fifo_lane& lane, uint64_t seq, const std::string& event_id);

  /// Returns the oldest entry of `lane` (acceptance number and event id)
  /// for which `pending(event_id)` holds, dropping the older ones for which
  /// it does not; nothing when none is left.
  template <class Pending>
  std::optional<std::pair<uint64_t, std::string>> head(const fifo_lane& lane,
                                                       Pending pending) {
    auto i = lanes_.find(lane);
    if (i == lanes_.end())
      return std::nullopt;
    auto& entries = i->second;
    while (!entries.empty()) {
      auto first = entries.begin();
      if (pending(first->second))
        return *first;
      entries.erase(first);
    }
    lanes_.erase(i);
    return std::nullopt;
  }

  /// Marks `lane` busy with an attempt of `event_id`.
  void start(const fifo_lane& lane, const std::string& event_id);

  /// Ends the attempt of `event_id` in `lane`, if it is the one under way;
  /// returns whether it was.
  bool finish(const fifo_lane& lane, const std::string& event_id);

  /// Returns whether an attempt of `lane` is under way.
  [[nodiscard]] bool busy(const fifo_lane& lane) const {
    return busy_.count(lane) > 0;
  }

  /// Forgets the entries of endpoint `ep` (it is no longer FIFO); its
  /// attempts under way stay marked until they end.
  void drop_endpoint(endpoint_id ep);

  /// Forgets everything.
  void clear() {
    lanes_.clear();
    busy_.clear();
  }

 private:
  std::map<fifo_lane, std::set<std::pair<uint64_t, std::string>>> lanes_;
  std::map<fifo_lane, std::string> busy_;
};

} // namespace wi
