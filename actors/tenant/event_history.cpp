#include "actors/tenant/event_history.hpp"

#include <algorithm>
#include <optional>
#include <type_traits>

namespace wi {

namespace {

/// Whether `d` counts as failed for good for `recover`: deliveries of a
/// deleted endpoint (`cancelled`) went with it.
bool recoverable(const delivery_state& d) {
  return d.status == delivery_status::failed && d.reason != "cancelled";
}

/// The one delivery whose state `rec` changes, if it is such a record.
std::optional<std::pair<std::string, endpoint_id>>
touched_delivery(const record& rec) {
  if (const auto* x = std::get_if<attempt_recorded>(&rec))
    return std::pair{x->attempt.event_id, x->endpoint};
  if (const auto* x = std::get_if<delivery_expired>(&rec))
    return std::pair{x->event_id, x->endpoint};
  if (const auto* x = std::get_if<delivery_rescheduled>(&rec))
    return std::pair{x->event_id, x->endpoint};
  return std::nullopt;
}

const delivery_state* find(const event_state& ev, endpoint_id ep) {
  for (const auto& d : ev.deliveries)
    if (d.endpoint == ep)
      return &d;
  return nullptr;
}

} // namespace

void event_history::add(const event_state& ev) {
  key k{ev.created_at, ev.id};
  all_.insert(k);
  auto i = by_type_.find(ev.type);
  if (i == by_type_.end())
    i = by_type_.emplace(ev.type, tree{}).first;
  i->second.insert(std::move(k));
  for (const auto& d : ev.deliveries)
    add_failed(ev, d);
}

void event_history::remove(const event_state& ev) {
  key k{ev.created_at, ev.id};
  all_.erase(k);
  if (auto i = by_type_.find(ev.type); i != by_type_.end()) {
    i->second.erase(k);
    if (i->second.empty())
      by_type_.erase(i);
  }
  for (const auto& d : ev.deliveries)
    remove_failed(ev, d);
}

void event_history::add_failed(const event_state& ev, const delivery_state& d) {
  if (recoverable(d))
    failed_[d.endpoint].emplace(d.next_attempt_at, ev.id);
}

void event_history::remove_failed(const event_state& ev,
                                  const delivery_state& d) {
  if (!recoverable(d))
    return;
  if (auto i = failed_.find(d.endpoint); i != failed_.end()) {
    i->second.erase({d.next_attempt_at, ev.id});
    if (i->second.empty())
      failed_.erase(i);
  }
}

void event_history::rebuild(const tenant_state& st) {
  all_.clear();
  by_type_.clear();
  failed_.clear();
  for (const auto& [id, ev] : st.events)
    add(ev);
}

void event_history::before(const tenant_state& st, const record& rec) {
  if (auto t = touched_delivery(rec)) {
    if (auto i = st.events.find(t->first); i != st.events.end())
      if (const auto* d = find(i->second, t->second))
        remove_failed(i->second, *d);
    return;
  }
  if (const auto* x = std::get_if<history_pruned>(&rec)) {
    leaving_.clear();
    for (const auto& id : x->event_ids)
      if (auto i = st.events.find(id); i != st.events.end())
        leaving_.push_back(i->second);
  }
}

void event_history::after(const tenant_state& st, const record& rec) {
  if (auto t = touched_delivery(rec)) {
    if (auto i = st.events.find(t->first); i != st.events.end())
      if (const auto* d = find(i->second, t->second))
        add_failed(i->second, *d);
    return;
  }
  std::visit(
    [&](const auto& x) {
      using type = std::decay_t<decltype(x)>;
      if constexpr (std::is_same_v<type, event_accepted>) {
        if (auto i = st.events.find(x.event_id); i != st.events.end())
          add(i->second);
      } else if constexpr (std::is_same_v<type, history_pruned>) {
        for (const auto& ev : leaving_)
          if (st.events.count(ev.id) == 0)
            remove(ev);
        leaving_.clear();
      } else if constexpr (std::is_same_v<type, endpoint_deleted>) {
        failed_.erase(x.id);
      } else if constexpr (std::is_same_v<type, tenant_state_imported>) {
        rebuild(st);
      }
    },
    rec);
}

event_page event_history::list(const tenant_state& st,
                               const event_query& q) const {
  event_page result;
  result.page = q.page;
  result.page_size = q.page_size;
  const tree* t = &all_;
  if (!q.event_type.empty()) {
    auto i = by_type_.find(q.event_type);
    if (i == by_type_.end())
      return result;
    t = &i->second;
  }
  uint64_t lo = q.created_from ? t->order_of_key(key{*q.created_from, {}}) : 0;
  uint64_t hi =
    q.created_to ? t->order_of_key(key{*q.created_to + 1, {}}) : t->size();
  if (hi <= lo)
    return result;
  result.total_items = hi - lo;
  auto offset = (static_cast<uint64_t>(q.page) - 1) * q.page_size;
  if (offset >= result.total_items)
    return result;
  // Newest first: from rank hi - 1 - offset down, at most a page, not below
  // rank lo.
  auto rank = hi - 1 - offset;
  auto n = std::min<uint64_t>(q.page_size, rank - lo + 1);
  auto it = t->find_by_order(rank);
  result.items.reserve(n);
  for (uint64_t k = 0; k < n; ++k, --it)
    result.items.push_back(st.events.at(it->id));
  return result;
}

std::vector<std::string> event_history::failed_since(endpoint_id ep,
                                                     unix_millis since,
                                                     size_t max) const {
  std::vector<std::string> result;
  auto i = failed_.find(ep);
  if (i == failed_.end())
    return result;
  for (auto j = i->second.lower_bound({since, {}});
       j != i->second.end() && result.size() < max; ++j)
    result.push_back(j->second);
  return result;
}

event_attempt_page attempts_of_event(const tenant_state& st,
                                     const event_state& ev, uint32_t page,
                                     uint32_t page_size) {
  event_attempt_page result;
  result.page = page;
  result.page_size = page_size;
  std::vector<event_attempt> all;
  for (const auto& d : ev.deliveries) {
    auto a = st.activity.find(d.endpoint);
    if (a == st.activity.end())
      continue;
    for (const auto& x : a->second.recent)
      if (x.event_id == ev.id)
        all.push_back({d.endpoint, x});
  }
  std::sort(all.begin(), all.end(), [](const auto& x, const auto& y) {
    if (x.attempt.at != y.attempt.at)
      return x.attempt.at > y.attempt.at;
    if (x.endpoint != y.endpoint)
      return x.endpoint < y.endpoint;
    return x.attempt.attempt > y.attempt.attempt;
  });
  result.total_items = all.size();
  auto first = (static_cast<uint64_t>(page) - 1) * page_size;
  for (auto k = first; k < first + page_size && k < all.size(); ++k)
    result.items.push_back(std::move(all[k]));
  return result;
}

} // namespace wi
