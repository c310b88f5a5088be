#pragma once

#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <ext/pb_ds/assoc_container.hpp>
#include <ext/pb_ds/tree_policy.hpp>

#include "webhook_ingress/history.hpp"
#include "webhook_ingress/records.hpp"
#include "webhook_ingress/state.hpp"

namespace wi {

/// The indexes that keep every event-history query of a tenant bounded
/// (issue 17): the tenant's events by (`created_at`, id), all of them and
/// per event type, in order-statistic trees (rank and select in O(log n), so
/// a page of `GET /v1/webhook/events` costs O(log n + page size) whatever its
/// number, filters and total); and per endpoint the deliveries that failed
/// for good, by when they failed (`POST .../recover` reads only those since
/// its `since`). Derived from the tenant's state alone and runtime only: built
/// at start (`rebuild`), kept in step by `before` and `after` around every
/// record the tenant actor applies. Events of one millisecond are ordered by
/// id.
class event_history {
 public:
  /// Indexes `st` from scratch.
  void rebuild(const tenant_state& st);

  /// Call with the state before `rec` is applied to it...
  void before(const tenant_state& st, const record& rec);

  /// ... and with the state after (only when it applied).
  void after(const tenant_state& st, const record& rec);

  /// Returns the page `q` asks for, newest first. `st` is the state indexed.
  [[nodiscard]] event_page list(const tenant_state& st,
                                const event_query& q) const;

  /// Returns the events whose delivery to `ep` failed for good (not
  /// cancelled) at or after `since`, oldest failure first, at most `max`.
  [[nodiscard]] std::vector<std::string>
  failed_since(endpoint_id ep, unix_millis since, size_t max) const;

  /// Number of indexed events (tests).
  [[nodiscard]] size_t size() const noexcept { return all_.size(); }

 private:
  struct key {
    unix_millis at = 0;
    std::string id;
    friend bool operator<(const key& x, const key& y) {
      return x.at != y.at ? x.at < y.at : x.id < y.id;
    }
  };
  using tree = __gnu_pbds::tree<key, __gnu_pbds::null_type, std::less<key>,
                                __gnu_pbds::rb_tree_tag,
                                __gnu_pbds::tree_order_statistics_node_update>;
  using failed_set = std::set<std::pair<unix_millis, std::string>>;

  void add(const event_state& ev);
  void remove(const event_state& ev);
  void add_failed(const event_state& ev, const delivery_state& d);
  void remove_failed(const event_state& ev, const delivery_state& d);

  tree all_;
  std::map<std::string, tree, std::less<>> by_type_;
  std::map<endpoint_id, failed_set> failed_;
  /// Events a `history_pruned` record may remove (between `before` and
  /// `after`).
  std::vector<event_state> leaving_;
};

/// Returns the page of event `ev`'s attempts on all its endpoints, newest
/// first (by start time, then endpoint). What the endpoints' attempt logs
/// still hold: each keeps its latest `max_recent_attempts` attempts, so the
/// work is bounded by the event's deliveries times that.
[[nodiscard]] event_attempt_page attempts_of_event(const tenant_state& st,
                                                   const event_state& ev,
                                                   uint32_t page,
                                                   uint32_t page_size);

} // namespace wi
