#include "actors/body_cache.hpp"

#include <utility>

namespace wi {

void body_cache::put(const std::string& event_id, std::string body) {
  if (body.size() > max_bytes_ || entries_.count(event_id) > 0)
    return;
  while (bytes_ + body.size() > max_bytes_)
    erase(order_.front());
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
  bytes_ -= i->second.body.size();
  order_.erase(i->second.pos);
  entries_.erase(i);
}

} // namespace wi
