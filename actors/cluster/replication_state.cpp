#include "actors/cluster/replication_state.hpp"

#include <utility>

#include "actors/cluster/placement.hpp"

namespace wi::cluster {

std::optional<std::string>
choose_backup(std::string_view tenant_id, std::string_view owner,
              const std::vector<std::string>& candidates) {
  std::vector<std::string> others;
  others.reserve(candidates.size());
  for (const auto& id : candidates)
    if (id != owner)
      others.push_back(id);
  return rendezvous_owner(tenant_id, others);
}

std::string_view to_string(replica_phase phase) noexcept {
  switch (phase) {
  case replica_phase::alone:
    return "alone";
  case replica_phase::filling:
    return "filling";
  case replica_phase::in_sync:
    return "in_sync";
  case replica_phase::dropping:
    return "dropping";
  }
  return "alone";
}

bool replica_tracker::overdue(
  time_point now, std::chrono::milliseconds timeout) const noexcept {
  if (!in_flight.empty() && now - in_flight.front().second >= timeout)
    return true;
  return base_sent_at && !base_acked && now - *base_sent_at >= timeout;
}

replica_step replica_tracker::next(const std::optional<std::string>& wanted,
                                   bool backup_active, time_point now,
                                   std::chrono::milliseconds timeout) const {
  switch (phase) {
  case replica_phase::alone:
    return wanted ? replica_step::start_fill : replica_step::none;
  case replica_phase::filling:
    if (!backup_active || !wanted || *wanted != backup || overdue(now, timeout))
      return replica_step::abandon_fill;
    if (base_acked && lag() == 0)
      return replica_step::join;
    return replica_step::none;
  case replica_phase::in_sync:
    if (!backup_active || overdue(now, timeout))
      return replica_step::drop;
    return replica_step::none;
  case replica_phase::dropping:
    return replica_step::none;
  }
  return replica_step::none;
}

void replica_tracker::on_sent(uint64_t records, time_point now) {
  sent += records;
  in_flight.emplace_back(sent, now);
}

void replica_tracker::on_acked(uint64_t upto) noexcept {
  if (upto <= acked || upto > sent)
    return;
  acked = upto;
  while (!in_flight.empty() && in_flight.front().first <= upto)
    in_flight.pop_front();
}

void replica_tracker::on_base_sent(time_point now) noexcept {
  base_sent_at = now;
  base_acked = false;
}

void replica_tracker::on_base_acked() noexcept {
  base_acked = true;
}

void replica_tracker::fill_started(std::string node) {
  *this = replica_tracker{};
  phase = replica_phase::filling;
  backup = std::move(node);
}

void replica_tracker::joined() noexcept {
  if (phase == replica_phase::filling)
    phase = replica_phase::in_sync;
}

void replica_tracker::drop_started() noexcept {
  if (phase == replica_phase::in_sync)
    phase = replica_phase::dropping;
}

void replica_tracker::dropped() noexcept {
  *this = replica_tracker{};
}

} // namespace wi::cluster
