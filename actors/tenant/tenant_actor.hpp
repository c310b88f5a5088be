#pragma once

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

#include "actors/common/clock.hpp"
#include "actors/common/owner_log.hpp"
#include "actors/common/wal_commit.hpp"
#include "actors/delivery/delivery_engine.hpp"
#include "actors/delivery/retry_policy.hpp"
#include "actors/tenant/body_cache.hpp"
#include "actors/tenant/delivery_gate.hpp"
#include "actors/tenant/event_history.hpp"
#include "actors/tenant/tenant_limits.hpp"
#include "actors/tenant/tenant_state.hpp"
#include "webhook_ingress/messages.hpp"

namespace wi {

/// What tenant actors need to deliver events; shared by all of them and
/// immutable after start.
struct delivery_settings {
  /// Runs the HTTP requests; never null.
  std::shared_ptr<delivery_engine> engine;
  /// Reads event payloads at delivery time.
  payload_reader_actor payloads;
  /// The program's clock: every "now" of the tenant actors (record times,
  /// retry, breaker, expiry and prune deadlines). Default: the wall clock.
  clock_ptr clock = wall_clock();
  /// Delays between attempts.
  retry_policy retries;
  /// Jitter for the delays (default: uniform in [-1, 1]).
  jitter_source jitter = default_jitter();
  /// Timeouts of one attempt. Defaults: 5 s and 15 s.
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds total_timeout{15'000};
  /// Most pending deliveries per tenant; a publish beyond it gets 429.
  /// Default: 100 000.
  uint64_t max_pending = 100'000;
  /// How long an idempotency key answers with its first event. Default: 24 h.
  std::chrono::milliseconds idempotency_window{24 * 3600 * 1000};
  /// Consecutive failed attempts that trip the breaker. Default: 10.
  uint32_t breaker_failures = 10;
  /// First cool-down before a probe; doubles after each failed probe up to
  /// `breaker_max_cooldown`. Defaults: 60 s and 1 h.
  std::chrono::milliseconds breaker_cooldown{60'000};
  std::chrono::milliseconds breaker_max_cooldown{3'600'000};
  /// A pending delivery older than this is dropped as failed (`expired`).
  /// Default: 7 days.
  std::chrono::milliseconds retention{7LL * 24 * 3600 * 1000};
  /// Bytes of request bodies of recent events each tenant actor keeps in
  /// memory, so that their deliveries need no payload read. Default: 8 MiB.
  size_t body_cache_bytes = size_t{8} << 20;
  /// The same over all tenant actors together (see `body_cache`), and their
  /// current total. Default: 64 MiB.
  size_t body_cache_total_bytes = size_t{64} << 20;
  std::shared_ptr<std::atomic<size_t>> body_cache_total =
    std::make_shared<std::atomic<size_t>>(0);
  /// Attempts one tenant actor has under way at once (reading the payload
  /// or handed to the engine); further due deliveries wait in the actor, in
  /// the order they became due, so that one tenant cannot fill the engine's
  /// queue. Breaker probes are not held back. Default: 1024
  /// (`--tenant-concurrency`).
  size_t max_attempts_under_way = 1024;
  /// How often a tenant actor prunes delivered history: events none of
  /// whose deliveries is pending, created more than `retention` ago (and,
  /// with an idempotency key, more than `idempotency_window` ago). Default:
  /// 60 s (`--prune-interval`).
  std::chrono::milliseconds prune_interval{60'000};
  /// Most events one `history_pruned` record removes; a full round is
  /// followed by the next one at once. Default: 1000.
  size_t max_pruned_per_round = 1000;
  /// Per-tenant limits (issue 13): the node defaults, which a tenant's own
  /// overrides replace (`--tenant-max-endpoints` and friends).
  tenant_limits limits;
};

/// The rate limit of one endpoint at runtime (issue 17): its token bucket and
/// the due deliveries waiting for a token, oldest first.
struct endpoint_throttle {
  token_bucket bucket;
  std::deque<std::pair<std::string, endpoint_id>> queue;
  /// Event ids in `queue` (each delivery waits once).
  std::set<std::string> queued;
  /// Whether a `throttle_atom` timer is armed.
  bool armed = false;
};

/// A record waiting in a tenant actor for the WAL append it shares with
/// others, and what to do once it is applied or failed.
struct batched_record {
  record rec;
  std::function<void()> on_applied;
  std::function<void(caf::error)> on_error;
};

/// State of a running tenant actor.
struct tenant_actor_state {
  /// The tenant's data as durably applied; changed only by `apply` after the
  /// WAL writer confirmed the record.
  tenant_state data;
  /// The next identifier to hand out. It runs ahead of `data.last_id` while
  /// creates wait for their sync; an identifier whose write failed is never
  /// shown to anyone, so skipping it is harmless.
  endpoint_id next_id = 1;
  /// Where records go to become durable.
  wal_writer_actor wal;
  /// Where `data` stands in the WAL, and the snapshot cadence.
  commit_log log;
  /// Delivery machinery; null disables deliveries (unit tests).
  std::shared_ptr<const delivery_settings> delivery;
  /// Deliveries with an attempt under way: (event id, endpoint). Runtime
  /// only: after a crash the attempt is simply made again (at-least-once).
  std::set<std::pair<std::string, endpoint_id>> in_flight;
  /// Deliveries that became due while `in_flight` was full, oldest first
  /// (runtime only; checked again when their turn comes).
  std::deque<std::pair<std::string, endpoint_id>> waiting;
  /// Rate limits of endpoints that have one (runtime only: a restarted
  /// tenant starts with full buckets).
  std::unordered_map<endpoint_id, endpoint_throttle> throttles;
  /// Pending deliveries of FIFO endpoints by ordering key, and the keys with
  /// an attempt under way (runtime only; see `fifo_lanes`).
  fifo_lanes lanes;
  /// Publishes with an idempotency key whose record is not durable yet, and
  /// the callers waiting for the same key.
  std::unordered_map<std::string, std::vector<reply_fn<event_receipt>>>
    publishing;
  /// Pending deliveries of publishes not durable yet (counted against the
  /// cap).
  uint64_t publishing_deliveries = 0;
  /// Next delivery job id.
  uint64_t next_job = 1;
  /// Deliveries whose expiry record is on its way to the WAL.
  std::set<std::pair<std::string, endpoint_id>> expiring;
  /// Deliveries a `recover` re-queues whose record is on its way to the WAL
  /// (a second recover meanwhile leaves them alone).
  std::set<std::pair<std::string, endpoint_id>> recovering;
  /// Disabled endpoints with a probe under way.
  std::set<endpoint_id> probing;
  /// Endpoints with a breaker record on its way to the WAL (no second trip
  /// or probe decision until it is applied).
  std::set<endpoint_id> breaker_busy;
  /// Attempt records gathered for the next WAL append: the first one sends
  /// the actor a `flush_atom` message, which lands behind every outcome
  /// already in the mailbox, so one append carries all of them (as the WAL
  /// writer's group commit does for appends).
  std::vector<batched_record> batch;
  /// Events listed in a `history_pruned` record on its way to the WAL: a
  /// resend of one answers `not_found` (it would race with the removal).
  std::set<std::string> pruning;
  /// Request bodies of recent events (runtime only).
  body_cache bodies;
  /// The indexes of the event history and of failed deliveries (issue 17;
  /// runtime only, derived from `data`, kept in step by `apply_durable`).
  event_history history;
  /// Set when the tenant was deactivated: no attempt or probe starts any
  /// more (attempts under way still end and are recorded).
  bool paused = false;
  /// Per-tenant limits: the publish token bucket and what is under way
  /// (runtime only; see `actors/tenant_limits.hpp`).
  limits_runtime limits;
  /// WAL appends sent and not answered yet (a freeze waits for them).
  size_t commits_under_way = 0;
  /// Set by `freeze_atom` (a planned move): nothing starts any more,
  /// outcomes and timers are dropped, mutations are refused.
  bool frozen = false;
  /// The freeze's answer, delivered once no commit is under way.
  std::optional<caf::typed_response_promise<frozen_tenant>> freezing;

  tenant_actor_state() = default;
  tenant_actor_state(const tenant_actor_state&) = delete;
  tenant_actor_state& operator=(const tenant_actor_state&) = delete;

  /// The state's endpoints and pending deliveries leave the node's gauges
  /// with it (see `metrics::count_tenant`).
  ~tenant_actor_state();

  static inline const char* name = "wi.tenant";
};

/// The behavior of a tenant actor (see `tenant_actor` in messages.hpp).
///
/// Every mutation becomes a WAL record that is sent to `wal`; only when the
/// writer confirms the synced write is the record applied to `data` and the
/// caller answered. A failed write answers the error and applies nothing.
/// Records reach the writer, and their confirmations come back, in mailbox
/// order, so state changes apply in the order requests arrived. Reads
/// answer from `data` at once. Every `reply_fn` is called exactly once.
///
/// Snapshots: after `snapshot_every` applied records, and whenever asked
/// (`checkpoint_atom`), the actor sends its whole state to the WAL writer,
/// covering every record up to `log.last_seq`; records still waiting for their
/// sync are not in it and stay in the WAL.
///
/// Deliveries: a publish becomes an `event_accepted` record stored with its
/// payload in one batch; each matching endpoint then gets a delivery whose
/// attempts are timed by the actor (`due_atom`), run by the delivery engine,
/// and recorded as `attempt_recorded` records (retry or give up per the
/// retry policy). On start, every pending delivery is scheduled again.
///
/// `log` is where recovery left this tenant in the WAL.
tenant_actor::behavior_type
tenant_actor_impl(tenant_actor::stateful_pointer<tenant_actor_state> self,
                  tenant_state init, owner_log log, wal_writer_actor wal,
                  uint64_t snapshot_every,
                  std::shared_ptr<const delivery_settings> delivery);

/// The two halves of `tenant_actor_impl`, for actors that obtain their
/// state later (`stored_tenant_actor_impl`): `start_tenant` installs the
/// state and schedules pending deliveries, probes and pruning;
/// `tenant_behavior` returns the message handlers, which assume that
/// `start_tenant` ran before the first of them does.
void start_tenant(tenant_actor::stateful_pointer<tenant_actor_state> self,
                  tenant_state init, const owner_log& log, wal_writer_actor wal,
                  uint64_t snapshot_every,
                  std::shared_ptr<const delivery_settings> delivery);
tenant_actor::behavior_type
tenant_behavior(tenant_actor::stateful_pointer<tenant_actor_state> self);

} // namespace wi
