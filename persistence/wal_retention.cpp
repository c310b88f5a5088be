#include "persistence/wal_retention.hpp"

namespace wi::persistence {

void wal_retention::seed(const std::string& owner,
                         const std::vector<uint64_t>& seqs) {
  for (auto seq : seqs)
    on_append(owner, seq);
}

void wal_retention::on_append(const std::string& owner, uint64_t seq) {
  auto& q = pending_[owner];
  q.push_back(seq);
  if (q.size() == 1)
    fronts_.emplace(seq, owner);
}

void wal_retention::on_snapshot(const std::string& owner, uint64_t covered) {
  auto i = pending_.find(owner);
  if (i == pending_.end())
    return;
  auto& q = i->second;
  if (q.front() > covered)
    return;
  fronts_.erase(q.front());
  while (!q.empty() && q.front() <= covered)
    q.pop_front();
  if (q.empty())
    pending_.erase(i);
  else
    fronts_.emplace(q.front(), owner);
}

uint64_t wal_retention::needed_from(uint64_t next) const {
  return fronts_.empty() ? next : fronts_.begin()->first;
}

std::optional<std::string> wal_retention::oldest_owner() const {
  if (fronts_.empty())
    return std::nullopt;
  return fronts_.begin()->second;
}

} // namespace wi::persistence
