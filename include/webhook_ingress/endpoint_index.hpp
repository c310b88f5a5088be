#pragma once

#include <algorithm>
#include <functional>
#include <iterator>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "webhook_ingress/domain.hpp"

namespace wi {

/// A tenant's endpoints by the event types they subscribe to, so that a
/// publish costs O(matching endpoints) whatever the number of others
/// (issue 19). Derived state: a function of the tenant's endpoints only,
/// kept by the same `apply` that changes them (live and in replay) and
/// rebuilt when a snapshot is decoded; never stored.
///
/// An endpoint is listed under each type of its `event_types` (`*` under
/// `*`) unless it is `inactive` (disabled by the tenant). A `disabled`
/// endpoint (tripped breaker) stays listed: it matches, its deliveries wait
/// for its recovery (see `matches` in actors/tenant/tenant_state.hpp).
class endpoint_index {
 public:
  /// Endpoints listed under each type, ascending, without repeats; no
  /// type has an empty list.
  using lists = std::map<std::string, std::vector<endpoint_id>, std::less<>>;

  /// Returns whether `ep` is listed at all (it is not `inactive`).
  [[nodiscard]] static bool listed(const endpoint& ep) noexcept {
    return ep.status != endpoint_status::inactive;
  }

  /// Lists `ep` under its types if it is `listed`. Adding endpoints in
  /// ascending order (creates, decoding) appends: O(types).
  void add(const endpoint& ep) {
    if (!listed(ep))
      return;
    for (const auto& type : ep.event_types) {
      auto& ids = by_type_[type];
      if (ids.empty() || ids.back() < ep.id) {
        ids.push_back(ep.id);
        continue;
      }
      auto i = std::lower_bound(ids.begin(), ids.end(), ep.id);
      if (*i != ep.id) // a type listed twice by the endpoint: once here
        ids.insert(i, ep.id);
    }
  }

  /// Removes `ep` (as it is now: call before changing its types or status).
  void remove(const endpoint& ep) {
    if (!listed(ep))
      return;
    for (const auto& type : ep.event_types) {
      auto k = by_type_.find(type);
      if (k == by_type_.end())
        continue; // a type listed twice by the endpoint: gone already
      auto& ids = k->second;
      auto i = std::lower_bound(ids.begin(), ids.end(), ep.id);
      if (i != ids.end() && *i == ep.id)
        ids.erase(i);
      if (ids.empty())
        by_type_.erase(k);
    }
  }

  /// Returns the endpoints an event of `event_type` goes to: those listed
  /// under it or under `*`, ascending, without repeats.
  [[nodiscard]] std::vector<endpoint_id>
  matching(std::string_view event_type) const {
    static const std::vector<endpoint_id> none;
    auto find = [this](std::string_view type) -> const auto& {
      auto i = by_type_.find(type);
      return i == by_type_.end() ? none : i->second;
    };
    const auto& exact = find(event_type);
    const auto& any = event_type == "*" ? none : find("*");
    std::vector<endpoint_id> result;
    result.reserve(exact.size() + any.size());
    std::set_union(exact.begin(), exact.end(), any.begin(), any.end(),
                   std::back_inserter(result));
    return result;
  }

  /// The lists (tests compare them with a full scan).
  [[nodiscard]] const lists& by_type() const noexcept { return by_type_; }

  /// Returns the index of `endpoints` (by identifier, as in
  /// `tenant_state::endpoints`).
  [[nodiscard]] static endpoint_index
  of(const std::map<endpoint_id, endpoint>& endpoints) {
    endpoint_index result;
    for (const auto& [id, ep] : endpoints)
      result.add(ep);
    return result;
  }

  /// Always true: the index is a function of the endpoints, which the
  /// equality of two tenant states compares, so a state built by hand
  /// (tests) equals its decoded copy. Whether the index is right is what
  /// the tests of `apply` check against a full scan (`of`).
  friend bool operator==(const endpoint_index&,
                         const endpoint_index&) noexcept {
    return true;
  }

 private:
  lists by_type_;
};

} // namespace wi
