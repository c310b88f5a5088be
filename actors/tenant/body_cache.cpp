#include "actors/tenant/body_cache.hpp"

#include <utility>

namespace wi {

body_cache::~body_cache() {
  if (shared_)
    shared_->fetch_sub(bytes_);
}

void body_cache::limit(size_t max_bytes,
                       std::shared_ptr<std::atomic<size_t>> shared,
                       size_t shared_max) {
  if (!entries_.empty())
    return;
  max_bytes_ = max_bytes;
  shared_ = std::move(shared);
  shared_max_ = shared_max;
}

bool body_cache::reserve_shared(size_t n) {
  if (!shared_)
    return true;
  auto current = shared_->load();
  while (current + n <= shared_max_)
    if (shared_->compare_exchange_weak(current, current + n))
      return true;
  return false;
}

void body_cache::put(const std::string& event_id, std::string body) {
  if (body.size() > max_bytes_ || entries_.count(event_id) > 0)
    return;
  while (bytes_ + body.size() > max_bytes_)
    erase(order_.front());
  while (!reserve_shared(body.size())) {
    if (order_.empty())
      return; // the others hold the shared total: nothing of ours to drop
    erase(order_.front());
  }
  bytes_ += body.size();
  auto pos = order_.insert(order_.end(), event_id);
  entries_.emplace(event_id, entry{std::move(body), pos});
}

const std::string* body_cache::find(const std::string& event_id) const {
  auto i = entries_.find(event_id);
  return i == entries_.end() ? nullptr : &i->second.body;
}

void body_cache::erase(const std::string& event_id) {
  auto i = entries_.find(event_id);
  if (i == entries_.end())
    return;
  auto n = i->second.body.size();
  bytes_ -= n;
  if (shared_)
    shared_->fetch_sub(n);
  order_.erase(i->second.pos);
  entries_.erase(i);
}

} // namespace wi
