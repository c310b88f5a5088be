#pragma once

// This node's membership in the cluster, kept in etcd: its member key under
// a lease (kept alive), self-fencing, the member list and the placement map
// cached from one watch, and the placement claims of tenants it creates.
//
// Threads: `connect`, `join`, `activate` and `leave` block on etcd and are
// for the main thread. Everything else runs on the membership's own threads
// (lease keep-alive, watch, claims, placement look-ups); the `control`
// functions read the cache under a mutex and never block on the network.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "actors/cluster/etcd_client.hpp"
#include "actors/cluster/move_machine.hpp"
#include "actors/cluster/routing.hpp"
#include "webhook_ingress/cluster.hpp"

namespace wi::cluster {

/// The clock of the membership's decisions (lease renewal age, map age);
/// injected so tests can move time.
using steady_clock_fn = std::function<std::chrono::steady_clock::time_point()>;

/// Settings of one node's membership.
struct membership_config {
  /// How to reach etcd.
  etcd_client_config etcd;
  /// Key prefix of this cluster's keys. Default: `/wi`.
  std::string root = "/wi";
  /// This node's id.
  std::string node_id;
  /// `host:port` clients use for this node's HTTP API.
  std::string http;
  /// `host:port` peers use for this node's CAF middleman (may be empty).
  std::string peer;
  /// Lease TTL; whole seconds, at least 2 (etcd raises 1 to 2). Default 5 s.
  std::chrono::milliseconds lease_ttl{5000};
  /// Self-fencing margin: the node stops acknowledging once its last
  /// successful renewal is `lease_ttl - fence_margin` old. Default: a
  /// quarter of the TTL (set when zero).
  std::chrono::milliseconds fence_margin{0};
  /// The clock; default `std::chrono::steady_clock::now`.
  steady_clock_fn clock;
  /// `lookup_placement`: distinct keys queued or being read at once (more
  /// are refused), the threads that read them, and how long a "no key"
  /// answer is served from memory (the negative cache, at most
  /// `max_missing` entries). Defaults 64, 2, 1 s, 4096.
  size_t max_lookups = 64;
  size_t lookup_threads = 2;
  std::chrono::milliseconds missing_ttl{1000};
  size_t max_missing = 4096;
  /// Test only (`WEBHOOK_INGRESS_TEST_IGNORE_PLACEMENTS`): the cache never
  /// takes placement keys naming other nodes from etcd (neither the load
  /// nor the watch), as if the watch lagged behind every create and move
  /// elsewhere. Look-ups still read etcd.
  bool ignore_foreign_placements = false;
};

/// A node's membership (see the file comment). Implements `control`.
class membership final : public control {
 public:
  explicit membership(membership_config cfg);

  /// Stops the threads (without revoking the lease; see `leave`).
  ~membership() override;

  membership(const membership&) = delete;
  membership& operator=(const membership&) = delete;

  /// Checks that etcd answers (a read of the member list). Fails naming
  /// every configured URL and why. Blocks; main thread.
  [[nodiscard]] caf::error connect();

  /// Sets the advertised `http` and `peer` addresses (`host:port`), e.g.
  /// once the HTTP port or the peer listener's port 0 is bound. Before
  /// `join` it only records them; after, it also rewrites the member key.
  /// Blocks then; main thread.
  [[nodiscard]] caf::error set_addresses(std::string http, std::string peer);

  /// Registers this node as `joining` under a fresh lease, guarded by "no
  /// member key with this id exists" (`create_revision == 0`). When another
  /// node holds the id, waits up to one lease TTL + 1 s for its key to
  /// expire (a node restarted right after a kill -9 finds its own old key),
  /// then refuses: the error names the id and the holder's HTTP address.
  /// Then loads the cache and starts the keep-alive, watch and claim
  /// threads. Blocks; main thread.
  [[nodiscard]] caf::error join();

  /// Sets this node's state (`active` once it serves). Blocks; main thread.
  [[nodiscard]] caf::error set_state(node_state state);

  /// Stops the threads and revokes the lease, so the member key goes at
  /// once instead of a TTL later. Blocks (bounded by the client timeout).
  void leave();

  /// Queues placement claims for every tenant of `held` (tenants this node
  /// holds) without a placement key in the cache. Call after `join`.
  void reconcile(const std::vector<std::string>& held);

  // -- view and control ------------------------------------------------------

  std::string self() const override;
  std::optional<placement>
  placement_of(std::string_view tenant_id) const override;
  std::optional<member> member_of(std::string_view node_id) const override;
  std::vector<member> members() const override;
  bool ready() const override;
  std::map<std::string, size_t> tenants_by_node() const override;
  void tenant_created(std::string tenant_id) override;
  void
  claim_created(std::string tenant_id,
                std::function<void(caf::expected<placement>)> done) override;
  bool may_acknowledge() const override;
  void lookup_placement(std::string tenant_id, lookup_done done) override;
  void set_pinned(std::string tenant_id, bool pinned,
                  std::function<void(caf::expected<placement>)> done) override;
  bool known_missing(std::string_view tenant_id) const override;

  // -- what the rebalancer reads ---------------------------------------------

  /// This node's own state, as last set by `set_state` (its member key
  /// follows once etcd took the put).
  [[nodiscard]] node_state state() const;

  /// The tenants the cached placement map gives `node_id`, ordered by id.
  [[nodiscard]] std::vector<std::string>
  tenants_of(std::string_view node_id) const;

  /// Those of them whose placement is pinned, ordered by id.
  [[nodiscard]] std::vector<std::string>
  pinned_of(std::string_view node_id) const;

  /// Whether etcd answers and the cache follows it (the watch is up).
  [[nodiscard]] bool in_sync() const noexcept { return etcd_up_ && watch_up_; }

  /// Calls `fn` (on the watch thread; it must not block) after every batch
  /// of changes that touched a member key. Set before `join`.
  void on_members_changed(std::function<void()> fn);

  // -- health and metrics -----------------------------------------------------

  // (`may_acknowledge`, from `control`: whether the last successful lease
  // renewal is younger than `lease_ttl - fence_margin`.)

  /// Seconds since the cached map was last known in sync with etcd: 0
  /// while the watch is up.
  [[nodiscard]] double placement_map_age_seconds() const;

  /// Failed etcd calls so far.
  [[nodiscard]] uint64_t etcd_errors() const noexcept {
    return etcd_errors_.load(std::memory_order_relaxed);
  }

  /// Placement claims waiting for etcd.
  [[nodiscard]] size_t claims_pending() const;

  /// Placement look-ups (`lookup_placement`) so far: `read` (etcd was
  /// asked), `refused` (too many in flight, or etcd away), `missing`
  /// (answered "no key" from the negative cache).
  struct lookup_counts {
    uint64_t read = 0;
    uint64_t refused = 0;
    uint64_t missing = 0;
  };
  [[nodiscard]] lookup_counts lookups() const;

  /// The Prometheus text of the membership's metrics
  /// (`webhook_ingress_cluster_etcd_up`,
  /// `webhook_ingress_cluster_etcd_errors_total`,
  /// `webhook_ingress_cluster_placement_map_age_seconds`,
  /// `webhook_ingress_cluster_members`,
  /// `webhook_ingress_cluster_placement_claims_pending`,
  /// `webhook_ingress_cluster_placement_lookups_total{result}`).
  [[nodiscard]] std::string metrics_text() const;

  // -- placement transactions (blocking: own threads or tests only) ----------

  /// Claims `tenant_id` for `owner` at epoch 1, guarded by
  /// `create_revision == 0`. Returns the placement etcd holds afterwards
  /// (the existing one when the key was there).
  [[nodiscard]] caf::expected<placement> claim(const std::string& tenant_id,
                                               const std::string& owner);

  /// Moves `tenant_id` to `new_owner` with epoch + 1, guarded by the key's
  /// `mod_revision` as read: fails (false) when the key changed since, so a
  /// stale owner can never write. The key's pin goes with it (read first;
  /// the guard covers the read).
  [[nodiscard]] caf::expected<bool> move(const std::string& tenant_id,
                                         int64_t expected_mod_revision,
                                         const std::string& new_owner,
                                         uint64_t new_epoch);

  /// Reads `tenant_id`'s placement key from etcd (a linearizable read):
  /// its value and `mod_revision`, nothing when the key is missing.
  [[nodiscard]] caf::expected<std::optional<placement_record>>
  read_placement(const std::string& tenant_id);

  /// Sets or clears the pin of `tenant_id`'s key, which must name this
  /// node (see `control::set_pinned`).
  [[nodiscard]] caf::expected<placement> pin(const std::string& tenant_id,
                                             bool pinned);

  /// Records in the cached map that `value` places `tenant_id`, at once,
  /// without waiting for the watch (a move's outcome, known to this node
  /// from its own transaction). The watch never takes the cache back to an
  /// older epoch of the key. The pin the cache knows for the same owner and
  /// epoch is kept (a move's outcome does not say).
  void note_placement(const std::string& tenant_id, placement value);

  /// The client (for tests and the placement transactions).
  etcd_client& client() noexcept { return client_; }

 private:
  using clock_point = std::chrono::steady_clock::time_point;

  clock_point now() const { return cfg_.clock(); }
  member self_record() const;
  std::string member_key(std::string_view id) const;
  std::string tenant_key(std::string_view id) const;
  void count_error(const caf::error& err, const char* what);
  caf::error register_member(bool wait_for_old_key);
  caf::expected<int64_t> load_cache();
  void apply_events(const std::vector<watch_event>& events);
  void keepalive_loop();
  void watch_loop();
  void claim_loop();
  void lookup_loop();
  /// Whether the cache takes `value` (see `ignore_foreign_placements`).
  bool takes(const placement& value) const;
  /// Waits `d` or until stopping; returns false when stopping.
  bool pause(std::chrono::milliseconds d);
  void stop_threads();

  membership_config cfg_;
  etcd_client client_;
  std::string members_prefix_;
  std::string tenants_prefix_;

  // Guarded by mtx_.
  mutable std::mutex mtx_;
  std::condition_variable cv_;
  std::map<std::string, member, std::less<>> members_;
  std::map<std::string, placement, std::less<>> placements_;
  std::deque<std::string> claims_;
  /// `claim_created` requests: one attempt each, ahead of `claims_`.
  std::deque<
    std::pair<std::string, std::function<void(caf::expected<placement>)>>>
    created_;
  std::function<void()> on_members_changed_;
  std::set<std::string, std::less<>> claims_queued_;
  /// `lookup_placement`: the book and the keys to read, in order.
  placement_lookups lookups_;
  std::deque<std::string> lookup_queue_;
  /// Other blocking work for the look-up threads (`set_pinned`).
  /// The argument says whether the node is stopping (answer, no etcd).
  std::deque<std::function<void(bool)>> jobs_;
  lookup_counts lookup_counts_;
  node_state state_ = node_state::joining;
  /// The advertised addresses (`set_addresses`).
  std::string http_;
  std::string peer_;
  int64_t lease_ = 0;
  std::optional<clock_point> last_renewal_;
  /// When the cache was last in sync (set while the watch is up).
  clock_point synced_at_;
  bool stopping_ = false;

  std::atomic<bool> stop_{false};
  std::atomic<bool> watch_up_{false};
  std::atomic<bool> etcd_up_{false};
  std::atomic<uint64_t> etcd_errors_{0};

  std::thread keepalive_thread_;
  std::thread watch_thread_;
  std::thread claim_thread_;
  std::vector<std::thread> lookup_threads_;
};

} // namespace wi::cluster
