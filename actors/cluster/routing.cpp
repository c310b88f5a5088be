#include "actors/cluster/routing.hpp"

#include <algorithm>

namespace wi::cluster {

route_decision decide_route(const route_facts& f) {
  auto fwd = f.forwarded_epoch;
  if (f.cached) {
    const auto& p = *f.cached;
    if (p.owner == f.self) {
      if (fwd && *fwd > p.epoch)
        return {route_action::refuse_newer_epoch, {}, 0};
      return {route_action::serve_here, {}, 0};
    }
    if (!fwd || p.epoch > *fwd)
      return {route_action::forward, p.owner, p.epoch};
    return {route_action::refuse_not_owner, {}, 0};
  }
  if (f.held || f.looked_up)
    return {route_action::serve_here, {}, 0};
  if (fwd)
    return {
      *fwd == 0 ? route_action::look_up : route_action::serve_here, {}, 0};
  if (f.rendezvous && *f.rendezvous != f.self)
    return {route_action::forward, *f.rendezvous, 0};
  return {route_action::look_up, {}, 0};
}

placement_lookups::placement_lookups(size_t max_in_flight,
                                     std::chrono::milliseconds missing_ttl,
                                     size_t max_missing)
  : max_in_flight_(std::max<size_t>(max_in_flight, 1)),
    missing_ttl_(missing_ttl), max_missing_(max_missing) {
  // nop
}

lookup_start placement_lookups::begin(const std::string& tenant, waiter& done,
                                      clock_point now) {
  if (known_missing(tenant, now))
    return lookup_start::known_missing;
  if (auto i = waiting_.find(tenant); i != waiting_.end()) {
    i->second.push_back(std::move(done));
    return lookup_start::joined;
  }
  if (waiting_.size() >= max_in_flight_)
    return lookup_start::full;
  waiting_[tenant].push_back(std::move(done));
  return lookup_start::read;
}

std::vector<placement_lookups::waiter>
placement_lookups::finish(const std::string& tenant, const result& got,
                          clock_point now) {
  std::vector<waiter> out;
  if (auto i = waiting_.find(tenant); i != waiting_.end()) {
    out = std::move(i->second);
    waiting_.erase(i);
  }
  if (got && !*got && max_missing_ > 0 && missing_ttl_.count() > 0) {
    prune(now);
    while (missing_order_.size() >= max_missing_) {
      auto& [old, until] = missing_order_.front();
      if (auto j = missing_.find(old);
          j != missing_.end() && j->second == until)
        missing_.erase(j);
      missing_order_.pop_front();
    }
    auto until = now + missing_ttl_;
    missing_[tenant] = until;
    missing_order_.emplace_back(tenant, until);
  }
  return out;
}

bool placement_lookups::known_missing(std::string_view tenant,
                                      clock_point now) const {
  auto i = missing_.find(tenant);
  return i != missing_.end() && now < i->second;
}

void placement_lookups::placed(std::string_view tenant) {
  if (auto i = missing_.find(tenant); i != missing_.end())
    missing_.erase(i);
}

std::vector<placement_lookups::waiter> placement_lookups::take_all() {
  std::vector<waiter> out;
  for (auto& [tenant, ws] : waiting_)
    for (auto& w : ws)
      out.push_back(std::move(w));
  waiting_.clear();
  return out;
}

void placement_lookups::prune(clock_point now) {
  while (!missing_order_.empty() && missing_order_.front().second <= now) {
    auto& [old, until] = missing_order_.front();
    if (auto j = missing_.find(old); j != missing_.end() && j->second == until)
      missing_.erase(j);
    missing_order_.pop_front();
  }
}

} // namespace wi::cluster
