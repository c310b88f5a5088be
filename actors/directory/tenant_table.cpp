#include "actors/directory/tenant_table.hpp"

#include <algorithm>
#include <mutex>

#include "actors/common/crypto.hpp"

namespace wi {

bool tenant_table::holds(std::string_view tenant_id) const {
  std::shared_lock guard{mtx_};
  return entries_.contains(std::string{tenant_id});
}

tenant_table::lookup_result tenant_table::lookup(std::string_view tenant_id,
                                                 std::string_view token_hash,
                                                 unix_seconds now) const {
  std::shared_lock guard{mtx_};
  // Heterogeneous look-up needs C++20 transparent hashing; a tenant id is
  // 16 bytes, so the copy stays in the small-string buffer.
  auto i = entries_.find(std::string{tenant_id});
  if (i == entries_.end()) {
    if (auto m = moved_.find(std::string{tenant_id}); m != moved_.end())
      return {verdict::moved, {}, m->second};
    return {};
  }
  if (!i->second.active)
    return {};
  const auto& e = i->second;
  // Both comparisons always run, so timing tells nothing about which token
  // (if any) matched.
  bool current = crypto::constant_time_equal(e.token_hash, token_hash);
  bool previous =
    !e.previous_token_hash.empty() &&
    crypto::constant_time_equal(e.previous_token_hash, token_hash);
  if (!current && !(previous && now < e.previous_valid_until))
    return {};
  if (e.moving)
    return {verdict::moving, {}, {}};
  if (!e.actor)
    return {verdict::dormant, {}, {}};
  return {verdict::running, e.actor, {}};
}

tenant_table::lookup_result
tenant_table::lookup(std::string_view tenant_id,
                     std::string_view token_hash) const {
  return lookup(tenant_id, token_hash, crypto::now_seconds());
}

void tenant_table::update(const tenant_entry& x) {
  std::unique_lock guard{mtx_};
  if (x.purged) {
    entries_.erase(x.id);
    return;
  }
  forget_moved(x.id);
  auto& e = entries_[x.id];
  e.token_hash = x.token_hash;
  e.previous_token_hash = x.previous_token_hash;
  e.previous_valid_until = x.previous_valid_until;
  e.active = x.active;
}

void tenant_table::set_actor(const std::string& tenant_id, tenant_actor actor) {
  std::unique_lock guard{mtx_};
  if (auto i = entries_.find(tenant_id); i != entries_.end())
    i->second.actor = std::move(actor);
}

void tenant_table::forget_moved(const std::string& tenant_id) {
  if (moved_.erase(tenant_id) > 0)
    moved_order_.erase(
      std::find(moved_order_.begin(), moved_order_.end(), tenant_id));
}

void tenant_table::set_moving(const std::string& tenant_id) {
  std::unique_lock guard{mtx_};
  if (auto i = entries_.find(tenant_id); i != entries_.end()) {
    i->second.moving = true;
    i->second.actor = nullptr;
  }
}

tenant_table::park_result tenant_table::park(std::string_view tenant_id,
                                             parked_request req) {
  std::unique_lock guard{mtx_};
  auto i = entries_.find(std::string{tenant_id});
  if (i == entries_.end() || !i->second.moving)
    return park_result::not_moving;
  if (i->second.parked.size() >= max_parked)
    return park_result::full;
  i->second.parked.push_back(
    {std::chrono::steady_clock::now(), std::move(req)});
  ++parked_;
  return park_result::parked;
}

namespace {

template <class Waiting>
std::vector<tenant_table::parked_request> take_all(std::deque<Waiting>& xs) {
  std::vector<tenant_table::parked_request> result;
  result.reserve(xs.size());
  for (auto& x : xs)
    result.push_back(std::move(x.req));
  xs.clear();
  return result;
}

} // namespace

std::vector<tenant_table::parked_request>
tenant_table::erase_locked(const std::string& tenant_id) {
  std::vector<parked_request> result;
  if (auto i = entries_.find(tenant_id); i != entries_.end()) {
    parked_ -= i->second.parked.size();
    result = take_all(i->second.parked);
    entries_.erase(i);
  }
  return result;
}

std::vector<tenant_table::parked_request>
tenant_table::remove(const std::string& tenant_id) {
  std::unique_lock guard{mtx_};
  return erase_locked(tenant_id);
}

std::vector<tenant_table::parked_request>
tenant_table::thaw(const std::string& tenant_id, tenant_actor actor) {
  std::unique_lock guard{mtx_};
  auto i = entries_.find(tenant_id);
  if (i == entries_.end())
    return {};
  i->second.moving = false;
  i->second.actor = std::move(actor);
  parked_ -= i->second.parked.size();
  return take_all(i->second.parked);
}

std::vector<tenant_table::parked_request>
tenant_table::release(const std::string& tenant_id, std::string node) {
  std::unique_lock guard{mtx_};
  auto result = erase_locked(tenant_id);
  forget_moved(tenant_id);
  moved_.emplace(tenant_id, std::move(node));
  moved_order_.push_back(tenant_id);
  if (moved_order_.size() > max_moved) {
    moved_.erase(moved_order_.front());
    moved_order_.pop_front();
  }
  return result;
}

std::vector<tenant_table::parked_request>
tenant_table::expire(std::chrono::steady_clock::time_point now,
                     std::chrono::steady_clock::duration timeout) {
  std::unique_lock guard{mtx_};
  std::vector<parked_request> result;
  if (parked_ == 0)
    return result;
  for (auto& [id, e] : entries_) {
    while (!e.parked.empty() && now - e.parked.front().since >= timeout) {
      result.push_back(std::move(e.parked.front().req));
      e.parked.pop_front();
      --parked_;
    }
  }
  return result;
}

std::chrono::steady_clock::duration tenant_table::park_timeout() const {
  std::shared_lock guard{mtx_};
  return park_timeout_;
}

void tenant_table::set_park_timeout(std::chrono::steady_clock::duration x) {
  std::unique_lock guard{mtx_};
  park_timeout_ = x;
}

size_t tenant_table::parked() const {
  std::shared_lock guard{mtx_};
  return parked_;
}

} // namespace wi
