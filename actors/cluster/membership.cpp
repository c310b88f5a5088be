#include "actors/cluster/membership.hpp"

#include <algorithm>
#include <sstream>

#include <spdlog/spdlog.h>

#include "actors/cluster/placement.hpp"
#include "webhook_ingress/error.hpp"

namespace wi::cluster {

namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

membership_config normalized(membership_config cfg) {
  if (!cfg.clock)
    cfg.clock = [] { return std::chrono::steady_clock::now(); };
  if (cfg.lease_ttl < std::chrono::seconds{2})
    cfg.lease_ttl = std::chrono::seconds{2};
  if (cfg.fence_margin <= milliseconds{0} || cfg.fence_margin >= cfg.lease_ttl)
    cfg.fence_margin = cfg.lease_ttl / 4;
  return cfg;
}

} // namespace

membership::membership(membership_config cfg)
  : cfg_(normalized(std::move(cfg))), client_(cfg_.etcd),
    members_prefix_(wi::cluster::members_prefix(cfg_.root)),
    tenants_prefix_(wi::cluster::tenants_prefix(cfg_.root)),
    lookups_(cfg_.max_lookups, cfg_.missing_ttl, cfg_.max_missing),
    http_(cfg_.http), peer_(cfg_.peer), synced_at_(cfg_.clock()) {
  // nop
}

membership::~membership() {
  stop_threads();
}

std::string membership::member_key(std::string_view id) const {
  return members_prefix_ + std::string{id};
}

std::string membership::tenant_key(std::string_view id) const {
  return tenants_prefix_ + std::string{id};
}

void membership::count_error(const caf::error& err, const char* what) {
  etcd_errors_.fetch_add(1, std::memory_order_relaxed);
  spdlog::warn("etcd {} failed: {}", what, text_of(err));
}

caf::error membership::connect() {
  auto probe = client_.range_prefix(members_prefix_);
  if (!probe) {
    etcd_errors_.fetch_add(1, std::memory_order_relaxed);
    return make_error(errc::storage_unavailable, "etcd",
                      "etcd unreachable at " + client_.endpoints_text() + " (" +
                        text_of(probe.error()) + ")");
  }
  etcd_up_ = true;
  return {};
}

caf::error membership::register_member(bool wait_for_old_key) {
  auto ttl_s =
    std::chrono::duration_cast<std::chrono::seconds>(cfg_.lease_ttl).count();
  auto lease = client_.grant(ttl_s);
  if (!lease)
    return lease.error();
  auto key = member_key(cfg_.node_id);
  auto deadline =
    std::chrono::steady_clock::now() + cfg_.lease_ttl + std::chrono::seconds{1};
  for (;;) {
    auto self = self_record();
    auto res =
      client_.txn({{key, txn_compare::target::create, 0, {}}},
                  {{txn_op::kind::put, key, encode_member(self), lease->id}},
                  {{txn_op::kind::range, key, {}, 0}});
    if (!res) {
      (void)client_.revoke(lease->id);
      return res.error();
    }
    if (res->succeeded) {
      std::lock_guard guard{mtx_};
      lease_ = lease->id;
      last_renewal_ = now();
      return {};
    }
    if (!wait_for_old_key || std::chrono::steady_clock::now() >= deadline) {
      (void)client_.revoke(lease->id);
      std::string holder = "?";
      if (!res->read.empty())
        if (auto m = decode_member(res->read.front().value))
          holder = m->http;
      return make_error(errc::validation_failed, "node-id",
                        "node id " + cfg_.node_id +
                          " is already a live member of the cluster (HTTP " +
                          holder +
                          "); start this node with another "
                          "--node-id or data directory");
    }
    std::this_thread::sleep_for(milliseconds{200});
    // The wait for the old key can outlast our own fresh lease (TTL + 1 s
    // against TTL): keep it alive, or the put fails on a lease etcd dropped.
    if (auto left = client_.keep_alive(lease->id); !left || *left == 0) {
      (void)client_.revoke(lease->id);
      auto fresh = client_.grant(ttl_s);
      if (!fresh)
        return fresh.error();
      lease = std::move(fresh);
    }
  }
}

member membership::self_record() const {
  std::lock_guard guard{mtx_};
  return {cfg_.node_id, http_, peer_, state_};
}

caf::error membership::set_addresses(std::string http, std::string peer) {
  node_state state = node_state::joining;
  {
    std::lock_guard guard{mtx_};
    http_ = std::move(http);
    peer_ = std::move(peer);
    if (lease_ == 0)
      return {};
    state = state_;
  }
  return set_state(state);
}

caf::error membership::join() {
  if (auto err = register_member(true))
    return err;
  auto rev = load_cache();
  if (!rev)
    return rev.error();
  stop_ = false;
  {
    std::lock_guard guard{mtx_};
    stopping_ = false;
  }
  keepalive_thread_ = std::thread{[this] { keepalive_loop(); }};
  watch_thread_ = std::thread{[this] { watch_loop(); }};
  claim_thread_ = std::thread{[this] { claim_loop(); }};
  for (size_t i = 0; i < std::max<size_t>(cfg_.lookup_threads, 1); ++i)
    lookup_threads_.emplace_back([this] { lookup_loop(); });
  return {};
}

caf::error membership::set_state(node_state state) {
  int64_t lease = 0;
  {
    std::lock_guard guard{mtx_};
    state_ = state;
    lease = lease_;
  }
  auto self = self_record();
  auto res = client_.put(member_key(cfg_.node_id), encode_member(self), lease);
  if (!res) {
    count_error(res.error(), "member update");
    return res.error();
  }
  std::lock_guard guard{mtx_};
  members_[cfg_.node_id] = self;
  return {};
}

void membership::leave() {
  stop_threads();
  int64_t lease = 0;
  {
    std::lock_guard guard{mtx_};
    lease = lease_;
    lease_ = 0;
  }
  if (lease != 0)
    if (auto err = client_.revoke(lease))
      spdlog::warn("etcd lease revoke failed: {}", text_of(err));
}

void membership::stop_threads() {
  stop_ = true;
  {
    std::lock_guard guard{mtx_};
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto* t : {&keepalive_thread_, &watch_thread_, &claim_thread_})
    if (t->joinable())
      t->join();
  for (auto& t : lookup_threads_)
    if (t.joinable())
      t.join();
  lookup_threads_.clear();
  // Requests waiting for a placement look-up get their answer too.
  std::vector<placement_lookups::waiter> waiting;
  decltype(jobs_) jobs;
  {
    std::lock_guard guard{mtx_};
    waiting = lookups_.take_all();
    lookup_queue_.clear();
    jobs.swap(jobs_);
  }
  for (auto& job : jobs)
    job(true); // each answers without etcd
  for (auto& done : waiting)
    done(make_error(errc::tenant_unavailable,
                    "cluster mode: the node is stopping; retry later"));
  // Creates still waiting for their claim get their answer.
  decltype(created_) left;
  {
    std::lock_guard guard{mtx_};
    left.swap(created_);
  }
  for (auto& [tenant, done] : left)
    done(make_error(errc::tenant_unavailable,
                    "cluster mode: the node is stopping; retry later"));
}

bool membership::pause(milliseconds d) {
  std::unique_lock guard{mtx_};
  return !cv_.wait_for(guard, d, [this] { return stopping_; });
}

caf::expected<int64_t> membership::load_cache() {
  auto all = client_.range_prefix(cfg_.root + "/");
  if (!all) {
    count_error(all.error(), "range");
    return all.error();
  }
  std::map<std::string, member, std::less<>> members;
  std::map<std::string, placement, std::less<>> placements;
  for (const auto& kv : all->kvs) {
    if (kv.key.starts_with(members_prefix_)) {
      if (auto m = decode_member(kv.value))
        members[m->id] = std::move(*m);
    } else if (kv.key.starts_with(tenants_prefix_)) {
      if (auto p = decode_placement(kv.value); p && takes(*p))
        placements[kv.key.substr(tenants_prefix_.size())] = std::move(*p);
    }
  }
  std::lock_guard guard{mtx_};
  members_ = std::move(members);
  placements_ = std::move(placements);
  synced_at_ = now();
  return all->revision;
}

void membership::apply_events(const std::vector<watch_event>& events) {
  std::unique_lock guard{mtx_};
  bool members_changed = false;
  for (const auto& ev : events) {
    const auto& key = ev.kv.key;
    if (key.starts_with(members_prefix_)) {
      members_changed = true;
      auto id = key.substr(members_prefix_.size());
      if (!ev.is_put) {
        members_.erase(id);
      } else if (auto m = decode_member(ev.kv.value)) {
        members_[id] = std::move(*m);
      }
    } else if (key.starts_with(tenants_prefix_)) {
      auto id = key.substr(tenants_prefix_.size());
      if (!ev.is_put) {
        placements_.erase(id);
      } else if (auto p = decode_placement(ev.kv.value); p && takes(*p)) {
        lookups_.placed(id);
        // `note_placement` may have put a newer epoch already.
        auto& known = placements_[id];
        if (known.owner.empty() || p->epoch >= known.epoch)
          known = std::move(*p);
      }
    }
  }
  synced_at_ = now();
  if (members_changed && on_members_changed_) {
    auto fn = on_members_changed_;
    guard.unlock();
    fn();
  }
}

void membership::keepalive_loop() {
  while (pause(cfg_.lease_ttl / 3)) {
    int64_t lease = 0;
    {
      std::lock_guard guard{mtx_};
      lease = lease_;
    }
    auto ttl = client_.keep_alive(lease);
    if (!ttl) {
      if (etcd_up_.exchange(false))
        spdlog::error("etcd lost: {}; serving on with the placement known",
                      text_of(ttl.error()));
      etcd_errors_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    if (!etcd_up_.exchange(true))
      spdlog::info("etcd reachable again");
    if (*ttl > 0) {
      bool stale = false;
      node_state state = node_state::joining;
      {
        std::lock_guard guard{mtx_};
        last_renewal_ = now();
        if (watch_up_)
          synced_at_ = *last_renewal_;
        auto self = members_.find(cfg_.node_id);
        state = state_;
        stale =
          watch_up_ && (self == members_.end() || self->second.state != state_);
      }
      // A state change whose put failed (etcd away): write it again.
      if (stale)
        (void)set_state(state);
      continue;
    }
    // The lease expired while etcd could not hear from us: its member key
    // is gone. Register again under a new lease.
    spdlog::warn("etcd lease {} expired; registering node {} again", lease,
                 cfg_.node_id);
    if (auto err = register_member(true))
      count_error(err, "member registration");
  }
}

void membership::watch_loop() {
  auto end = etcd_client::prefix_end(cfg_.root + "/");
  while (!stop_) {
    // (Re)load everything, then follow changes from the revision read: a
    // watch that broke, or one canceled by compaction, loses nothing.
    auto loaded = load_cache();
    if (!loaded) {
      if (!pause(milliseconds{500}))
        return;
      continue;
    }
    auto rev = *loaded;
    auto err = client_.watch(
      cfg_.root + "/", end, rev + 1, stop_,
      [this] {
        watch_up_ = true;
        std::lock_guard guard{mtx_};
        synced_at_ = now();
      },
      [this](const std::vector<watch_event>& evs) { apply_events(evs); });
    if (watch_up_.exchange(false)) {
      std::lock_guard guard{mtx_};
      synced_at_ = now();
    }
    if (stop_)
      return;
    count_error(err, "watch");
    if (!pause(milliseconds{500}))
      return;
  }
}

void membership::claim_loop() {
  for (;;) {
    std::string tenant;
    std::function<void(caf::expected<placement>)> done;
    {
      std::unique_lock guard{mtx_};
      cv_.wait(guard, [this] {
        return stopping_ || !claims_.empty() || !created_.empty();
      });
      if (stopping_)
        return;
      if (!created_.empty()) {
        tenant = std::move(created_.front().first);
        done = std::move(created_.front().second);
        created_.pop_front();
      } else {
        tenant = claims_.front();
      }
    }
    auto got = claim(tenant, cfg_.node_id);
    if (done) {
      // A create waits for this answer: one attempt, the caller decides.
      if (!got) {
        count_error(got.error(), "placement claim");
      } else {
        std::lock_guard guard{mtx_};
        placements_[tenant] = *got;
      }
      done(std::move(got));
      continue;
    }
    if (!got) {
      count_error(got.error(), "placement claim");
      // Wait before the next attempt, but serve a waiting create at once.
      std::unique_lock guard{mtx_};
      cv_.wait_for(guard, milliseconds{500},
                   [this] { return stopping_ || !created_.empty(); });
      if (stopping_)
        return;
      continue;
    }
    std::lock_guard guard{mtx_};
    claims_.pop_front();
    claims_queued_.erase(tenant);
    placements_[tenant] = *got;
  }
}

bool membership::takes(const placement& value) const {
  return !cfg_.ignore_foreign_placements || value.owner == cfg_.node_id;
}

void membership::lookup_placement(std::string tenant_id, lookup_done done) {
  auto refuse = [&done](std::string text) {
    done(make_error(errc::tenant_unavailable, std::move(text)));
  };
  std::unique_lock guard{mtx_};
  if (stopping_ || lease_ == 0 || !etcd_up_) {
    ++lookup_counts_.refused;
    guard.unlock();
    refuse("cluster mode: this node cannot read the tenant's placement "
           "(etcd is not reachable, or the node is starting or stopping); "
           "retry later");
    return;
  }
  switch (lookups_.begin(tenant_id, done, now())) {
  case lookup_start::read:
    ++lookup_counts_.read;
    lookup_queue_.push_back(std::move(tenant_id));
    guard.unlock();
    cv_.notify_all();
    return;
  case lookup_start::joined:
    return;
  case lookup_start::known_missing:
    ++lookup_counts_.missing;
    guard.unlock();
    done(std::optional<placement>{});
    return;
  case lookup_start::full:
    ++lookup_counts_.refused;
    guard.unlock();
    refuse("too many placement look-ups in flight on this node; retry later");
    return;
  }
}

void membership::set_pinned(
  std::string tenant_id, bool pinned,
  std::function<void(caf::expected<placement>)> done) {
  {
    std::lock_guard guard{mtx_};
    if (!stopping_ && lease_ != 0) {
      jobs_.push_back([this, tenant = std::move(tenant_id), pinned,
                       done = std::move(done)](bool stopping) {
        if (stopping)
          done(make_error(errc::tenant_unavailable,
                          "cluster mode: the node is stopping; retry later"));
        else
          done(pin(tenant, pinned));
      });
      cv_.notify_all();
      return;
    }
  }
  done(make_error(errc::tenant_unavailable,
                  "cluster mode: the node is not a member (starting or "
                  "stopping); retry later"));
}

caf::expected<placement> membership::pin(const std::string& tenant_id,
                                         bool pinned) {
  auto key = tenant_key(tenant_id);
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto read = read_placement(tenant_id);
    if (!read)
      return make_error(errc::tenant_unavailable, "etcd did not answer (" +
                                                    text_of(read.error()) +
                                                    "); retry later");
    if (!*read)
      return make_error(errc::not_found, "id",
                        "tenant " + tenant_id + " has no placement");
    auto value = (*read)->value;
    if (value.owner != cfg_.node_id)
      return make_error(errc::tenant_unavailable,
                        "tenant " + tenant_id + " is owned by " + value.owner +
                          " now; retry later");
    if (value.pinned != pinned) {
      value.pinned = pinned;
      auto res = client_.txn(
        {{key, txn_compare::target::mod, (*read)->mod_revision, {}}},
        {{txn_op::kind::put, key, encode_placement(value), 0}}, {});
      if (!res) {
        count_error(res.error(), "placement pin");
        return make_error(errc::tenant_unavailable, "etcd did not answer (" +
                                                      text_of(res.error()) +
                                                      "); retry later");
      }
      if (!res->succeeded)
        continue; // the key changed under us: read it again
    }
    std::lock_guard guard{mtx_};
    auto& known = placements_[tenant_id];
    if (known.owner.empty() || value.epoch >= known.epoch)
      known = value;
    return value;
  }
  return make_error(errc::tenant_unavailable, "the placement of tenant " +
                                                tenant_id +
                                                " kept changing; retry later");
}

bool membership::known_missing(std::string_view tenant_id) const {
  std::lock_guard guard{mtx_};
  return !placements_.contains(tenant_id) &&
         lookups_.known_missing(tenant_id, now());
}

membership::lookup_counts membership::lookups() const {
  std::lock_guard guard{mtx_};
  return lookup_counts_;
}

void membership::lookup_loop() {
  for (;;) {
    std::string tenant;
    {
      std::unique_lock guard{mtx_};
      cv_.wait(guard, [this] {
        return stopping_ || !lookup_queue_.empty() || !jobs_.empty();
      });
      if (stopping_)
        return;
      if (!jobs_.empty()) {
        auto job = std::move(jobs_.front());
        jobs_.pop_front();
        guard.unlock();
        job(false);
        continue;
      }
      tenant = std::move(lookup_queue_.front());
      lookup_queue_.pop_front();
    }
    placement_lookups::result got = std::optional<placement>{};
    if (auto read = read_placement(tenant); !read)
      got = make_error(errc::tenant_unavailable,
                       "cluster mode: the tenant's placement could not be read "
                       "from etcd (" +
                         text_of(read.error()) + "); retry later");
    else if (*read)
      got = std::optional<placement>{(*read)->value};
    std::vector<placement_lookups::waiter> waiting;
    {
      std::lock_guard guard{mtx_};
      waiting = lookups_.finish(tenant, got, now());
    }
    for (auto& done : waiting)
      done(got);
  }
}

void membership::tenant_created(std::string tenant_id) {
  {
    std::lock_guard guard{mtx_};
    std::vector<std::string> active;
    for (const auto& [id, m] : members_)
      if (m.state == node_state::active)
        active.push_back(id);
    auto owner = rendezvous_owner(tenant_id, active);
    if (owner && *owner != cfg_.node_id)
      spdlog::debug("tenant {} created on {}, its rendezvous owner is {}: "
                    "kept here until moves exist",
                    tenant_id, cfg_.node_id, *owner);
    if (!claims_queued_.insert(tenant_id).second)
      return;
    claims_.push_back(std::move(tenant_id));
  }
  cv_.notify_all();
}

void membership::claim_created(
  std::string tenant_id, std::function<void(caf::expected<placement>)> done) {
  {
    std::lock_guard guard{mtx_};
    if (!stopping_ && lease_ != 0) { // joined, not leaving
      created_.emplace_back(std::move(tenant_id), std::move(done));
      cv_.notify_all();
      return;
    }
  }
  done(make_error(errc::tenant_unavailable,
                  "cluster mode: the node is not a member (starting or "
                  "stopping); retry later"));
}

node_state membership::state() const {
  std::lock_guard guard{mtx_};
  return state_;
}

std::vector<std::string> membership::pinned_of(std::string_view node_id) const {
  std::lock_guard guard{mtx_};
  std::vector<std::string> result;
  for (const auto& [tenant, p] : placements_)
    if (p.owner == node_id && p.pinned)
      result.push_back(tenant);
  return result;
}

std::vector<std::string>
membership::tenants_of(std::string_view node_id) const {
  std::lock_guard guard{mtx_};
  std::vector<std::string> result;
  for (const auto& [tenant, p] : placements_)
    if (p.owner == node_id)
      result.push_back(tenant);
  return result;
}

void membership::on_members_changed(std::function<void()> fn) {
  std::lock_guard guard{mtx_};
  on_members_changed_ = std::move(fn);
}

void membership::reconcile(const std::vector<std::string>& held) {
  size_t queued = 0;
  {
    std::lock_guard guard{mtx_};
    for (const auto& t : held)
      if (!placements_.contains(t) && claims_queued_.insert(t).second) {
        claims_.push_back(t);
        ++queued;
      }
  }
  if (queued > 0) {
    spdlog::info("claiming placement keys for {} tenants held here", queued);
    cv_.notify_all();
  }
}

caf::expected<placement> membership::claim(const std::string& tenant_id,
                                           const std::string& owner) {
  auto key = tenant_key(tenant_id);
  placement fresh{owner, 1};
  auto res = client_.txn({{key, txn_compare::target::create, 0, {}}},
                         {{txn_op::kind::put, key, encode_placement(fresh), 0}},
                         {{txn_op::kind::range, key, {}, 0}});
  if (!res)
    return res.error();
  if (res->succeeded)
    return fresh;
  if (res->read.empty())
    return make_error(errc::internal, "etcd",
                      "placement claim of " + tenant_id + " failed");
  auto existing = decode_placement(res->read.front().value);
  if (!existing)
    return make_error(errc::corrupt_data, "etcd",
                      "placement key " + key + " is not {owner, epoch}");
  return *existing;
}

caf::expected<bool> membership::move(const std::string& tenant_id,
                                     int64_t expected_mod_revision,
                                     const std::string& new_owner,
                                     uint64_t new_epoch) {
  auto key = tenant_key(tenant_id);
  // The pin goes with the tenant: read it (the guard below covers the read).
  bool pinned = false;
  auto current = client_.range(key);
  if (!current)
    return current.error();
  if (current->kvs.empty() ||
      current->kvs.front().mod_revision != expected_mod_revision)
    return false;
  if (auto p = decode_placement(current->kvs.front().value))
    pinned = p->pinned;
  placement value{new_owner, new_epoch};
  value.pinned = pinned;
  auto res =
    client_.txn({{key, txn_compare::target::mod, expected_mod_revision, {}}},
                {{txn_op::kind::put, key, encode_placement(value), 0}}, {});
  if (!res)
    return res.error();
  if (res->succeeded)
    note_placement(tenant_id, std::move(value));
  return res->succeeded;
}

caf::expected<std::optional<placement_record>>
membership::read_placement(const std::string& tenant_id) {
  auto key = tenant_key(tenant_id);
  auto res = client_.range(key);
  if (!res) {
    count_error(res.error(), "placement read");
    return res.error();
  }
  if (res->kvs.empty())
    return std::optional<placement_record>{};
  auto value = decode_placement(res->kvs.front().value);
  if (!value)
    return make_error(errc::corrupt_data, "etcd",
                      "placement key " + key + " is not {owner, epoch}");
  return std::optional<placement_record>{
    placement_record{std::move(*value), res->kvs.front().mod_revision}};
}

void membership::note_placement(const std::string& tenant_id, placement value) {
  std::lock_guard guard{mtx_};
  auto& known = placements_[tenant_id];
  if (!known.owner.empty() && value.epoch == known.epoch &&
      value.owner == known.owner)
    value.pinned = value.pinned || known.pinned;
  if (known.owner.empty() || value.epoch >= known.epoch)
    known = std::move(value);
}

std::string membership::self() const {
  return cfg_.node_id;
}

std::optional<placement>
membership::placement_of(std::string_view tenant_id) const {
  std::lock_guard guard{mtx_};
  auto it = placements_.find(tenant_id);
  if (it == placements_.end())
    return std::nullopt;
  return it->second;
}

std::optional<member> membership::member_of(std::string_view node_id) const {
  std::lock_guard guard{mtx_};
  auto it = members_.find(node_id);
  if (it == members_.end())
    return std::nullopt;
  return it->second;
}

std::vector<member> membership::members() const {
  std::lock_guard guard{mtx_};
  std::vector<member> result;
  result.reserve(members_.size());
  for (const auto& [id, m] : members_)
    result.push_back(m);
  return result;
}

bool membership::may_acknowledge() const {
  std::lock_guard guard{mtx_};
  return wi::cluster::may_acknowledge(now(), last_renewal_, cfg_.lease_ttl,
                                      cfg_.fence_margin);
}

bool membership::ready() const {
  return etcd_up_ && watch_up_ && may_acknowledge();
}

std::map<std::string, size_t> membership::tenants_by_node() const {
  std::lock_guard guard{mtx_};
  return count_by_owner(placements_);
}

double membership::placement_map_age_seconds() const {
  if (watch_up_ && etcd_up_)
    return 0.0;
  std::lock_guard guard{mtx_};
  return std::chrono::duration<double>(now() - synced_at_).count();
}

size_t membership::claims_pending() const {
  std::lock_guard guard{mtx_};
  return claims_.size();
}

std::string membership::metrics_text() const {
  size_t member_count = 0;
  {
    std::lock_guard guard{mtx_};
    member_count = members_.size();
  }
  std::ostringstream out;
  out << "# HELP webhook_ingress_cluster_etcd_up Whether etcd answered the "
         "last lease "
         "renewal (1) or not (0).\n"
      << "# TYPE webhook_ingress_cluster_etcd_up gauge\n"
      << "webhook_ingress_cluster_etcd_up " << (etcd_up_ ? 1 : 0) << '\n'
      << "# HELP webhook_ingress_cluster_etcd_errors_total Failed etcd calls.\n"
      << "# TYPE webhook_ingress_cluster_etcd_errors_total counter\n"
      << "webhook_ingress_cluster_etcd_errors_total " << etcd_errors() << '\n'
      << "# HELP webhook_ingress_cluster_placement_map_age_seconds Seconds "
         "since the "
         "cached placement map was last known in sync with etcd (0 while "
         "the watch is up).\n"
      << "# TYPE webhook_ingress_cluster_placement_map_age_seconds gauge\n"
      << "webhook_ingress_cluster_placement_map_age_seconds "
      << placement_map_age_seconds() << '\n'
      << "# HELP webhook_ingress_cluster_members Members in the cached member "
         "list.\n"
      << "# TYPE webhook_ingress_cluster_members gauge\n"
      << "webhook_ingress_cluster_members " << member_count << '\n'
      << "# HELP webhook_ingress_cluster_placement_claims_pending Placement "
         "keys of "
         "tenants created here that etcd has not taken yet.\n"
      << "# TYPE webhook_ingress_cluster_placement_claims_pending gauge\n"
      << "webhook_ingress_cluster_placement_claims_pending " << claims_pending()
      << '\n';
  auto counts = lookups();
  out << "# HELP webhook_ingress_cluster_placement_lookups_total Placement "
         "keys read from etcd for requests of tenants the cached map did not "
         "know (read), answered from the negative cache (missing), or "
         "refused (too many in flight, etcd away).\n"
      << "# TYPE webhook_ingress_cluster_placement_lookups_total counter\n"
      << "webhook_ingress_cluster_placement_lookups_total{result=\"read\"} "
      << counts.read << '\n'
      << "webhook_ingress_cluster_placement_lookups_total{result=\"missing\"} "
      << counts.missing << '\n'
      << "webhook_ingress_cluster_placement_lookups_total{result=\"refused\"} "
      << counts.refused << '\n';
  return out.str();
}

} // namespace wi::cluster
