#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "webhook_ingress/messages.hpp"
#include "webhook_ingress/state.hpp"

namespace wi {

/// The routing view of the tenant registry that HTTP handlers read to reach
/// a tenant actor in one hop and to check tokens without a message.
///
/// Ownership: the directory actor is the only writer (it derives every entry
/// from its own state); handlers on any thread only read. Readers hold a
/// shared lock for one hash look-up and a constant-time compare, writers an
/// exclusive lock for one insert: no I/O and no waiting beyond that.
class tenant_table {
 public:
  /// Outcome of a look-up.
  enum class verdict {
    /// Unknown tenant, wrong or expired token, or deactivated tenant.
    unauthorized,
    /// Valid token; the tenant's actor does not run yet (ask the directory).
    dormant,
    /// Valid token; `actor` is the tenant's actor.
    running,
    /// Valid token; the tenant is frozen for a planned move: the request
    /// waits (`park`).
    moving,
    /// The tenant just moved from here to the node `node` (this node's
    /// placement cache may not know yet): the request goes there, whose
    /// owner judges the token.
    moved,
  };

  struct lookup_result {
    verdict outcome = verdict::unauthorized;
    tenant_actor actor;
    /// For `moved`: the node id of the new owner.
    std::string node;
  };

  /// A request parked while its tenant moves. Called exactly once, from the
  /// directory's thread: with `false` when it may go on (dispatch it again:
  /// the tenant serves here again, or moved), with `true` when it waited
  /// longer than the park timeout. Must not block.
  using parked_request = std::function<void(bool expired)>;

  /// What `park` did.
  enum class park_result {
    parked,
    /// The tenant is not (or no longer) moving: dispatch again.
    not_moving,
    /// `max_parked` requests already wait for the tenant.
    full,
  };

  /// Requests one moving tenant may have parked at once.
  static constexpr size_t max_parked = 1000;

  /// Tenants the table remembers as moved away (oldest forgotten first).
  static constexpr size_t max_moved = 4096;

  /// Checks `token_hash` (SHA-256 of the presented token) against the
  /// tenant's current token, and against the token a rotation replaced
  /// while `now` (unix seconds) is before the end of its grace period, in
  /// constant time; returns where to send the request.
  [[nodiscard]] lookup_result lookup(std::string_view tenant_id,
                                     std::string_view token_hash,
                                     unix_seconds now) const;

  /// `lookup` at the current time.
  [[nodiscard]] lookup_result lookup(std::string_view tenant_id,
                                     std::string_view token_hash) const;

  /// Whether the table has an entry for the tenant (active or not; purged
  /// tenants have none).
  [[nodiscard]] bool holds(std::string_view tenant_id) const;

  /// Adds or replaces a tenant's credentials and state from its registry
  /// entry, keeping its actor; a purged entry removes the tenant.
  void update(const tenant_entry& entry);

  /// Sets the actor of an existing entry (null: the tenant is dormant).
  void set_actor(const std::string& tenant_id, tenant_actor actor);

  /// Removes a tenant (its copy left this node; see `release`). Returns
  /// its parked requests, for the caller to call with `false`.
  [[nodiscard]] std::vector<parked_request>
  remove(const std::string& tenant_id);

  // -- planned moves (written by the directory; `park` by HTTP threads) ----

  /// The tenant is frozen for a move: its look-ups answer `moving` (after
  /// the token check) and its requests park.
  void set_moving(const std::string& tenant_id);

  /// Parks a request of a moving tenant until `thaw`, `release` or
  /// `expire`. Never blocks beyond the table's lock.
  [[nodiscard]] park_result park(std::string_view tenant_id,
                                 parked_request req);

  /// The move was aborted: the tenant serves here again (with the actor
  /// `actor`, null: dormant). Returns the parked requests, in arrival order,
  /// for the caller to call with `false`.
  [[nodiscard]] std::vector<parked_request> thaw(const std::string& tenant_id,
                                                 tenant_actor actor = {});

  /// The move committed: the tenant is removed and remembered as moved to
  /// `node` (look-ups answer `moved`) until this node learns otherwise
  /// (`update` of the tenant brings it back) or `max_moved` later moves
  /// push it out. Returns the parked requests, in arrival order.
  [[nodiscard]] std::vector<parked_request>
  release(const std::string& tenant_id, std::string node);

  /// Takes out the parked requests that waited at least `timeout` by `now`
  /// (steady clock), for the caller to call with `true`.
  [[nodiscard]] std::vector<parked_request>
  expire(std::chrono::steady_clock::time_point now,
         std::chrono::steady_clock::duration timeout);

  /// How many requests are parked over all tenants.
  [[nodiscard]] size_t parked() const;

  /// How long a request may stay parked before it is answered 503
  /// `TENANT_UNAVAILABLE` (default 10 s; the directory checks about ten
  /// times per timeout).
  [[nodiscard]] std::chrono::steady_clock::duration park_timeout() const;
  void set_park_timeout(std::chrono::steady_clock::duration timeout);

 private:
  struct waiting {
    std::chrono::steady_clock::time_point since;
    parked_request req;
  };

  struct entry {
    std::string token_hash;
    std::string previous_token_hash;
    unix_seconds previous_valid_until = 0;
    bool active = true;
    tenant_actor actor;
    /// Frozen for a planned move; `parked` waits for its end.
    bool moving = false;
    std::deque<waiting> parked;
  };

  /// Drops `tenant_id` from the moved memory (lock held).
  void forget_moved(const std::string& tenant_id);

  /// Removes a tenant, returning its parked requests (lock held).
  std::vector<parked_request> erase_locked(const std::string& tenant_id);

  mutable std::shared_mutex mtx_;
  std::unordered_map<std::string, entry> entries_;
  /// Tenants that moved away, by id: the new owner's node id.
  std::unordered_map<std::string, std::string> moved_;
  std::deque<std::string> moved_order_;
  size_t parked_ = 0;
  std::chrono::steady_clock::duration park_timeout_ = std::chrono::seconds{10};
};

} // namespace wi
