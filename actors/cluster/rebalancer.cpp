#include "actors/cluster/rebalancer.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "actors/cluster/membership.hpp"
#include "actors/cluster/placement.hpp"
#include "webhook_ingress/error.hpp"

namespace wi::cluster {

namespace {

using clock_point = std::chrono::steady_clock::time_point;

} // namespace

std::vector<planned_move> plan_moves(const cluster_picture& p) {
  if (!p.in_sync || !p.may_acknowledge)
    return {};
  std::vector<std::string> candidates;
  for (const auto& m : p.members)
    if (m.state == node_state::active && m.id != p.self)
      candidates.push_back(m.id);
  switch (p.self_state) {
  case node_state::active:
    // Counted as active even before its member key says so: else a node
    // whose put is on its way would give everything away.
    candidates.push_back(p.self);
    break;
  case node_state::draining:
    break;
  case node_state::joining:
  case node_state::drained:
    return {};
  }
  auto owned = p.owned;
  std::sort(owned.begin(), owned.end());
  std::set<std::string> pinned(p.pinned.begin(), p.pinned.end());
  std::vector<planned_move> result;
  for (const auto& tenant : owned) {
    if (p.self_state == node_state::active && pinned.contains(tenant))
      continue; // a manual move placed it; only a drain moves it on
    auto owner = rendezvous_owner(tenant, candidates);
    if (owner && *owner != p.self)
      result.push_back({tenant, std::move(*owner)});
  }
  return result;
}

// -- the driver ---------------------------------------------------------------

struct rebalancer::shared {
  struct retry {
    unsigned failures = 0;
    clock_point not_before;
  };

  std::function<clock_point()> clock;
  std::chrono::milliseconds min_backoff;
  std::chrono::milliseconds max_backoff;

  mutable std::mutex mtx;
  std::condition_variable cv;
  bool poked = true; // the first round runs at once
  bool stopping = false;
  bool drain_asked = false;
  /// The state this node last set through the driver.
  std::optional<node_state> state_set;
  std::set<std::string> under_way;
  std::map<std::string, retry> retries;
  size_t started = 0;
  size_t aborted = 0;
  bool warned_no_mover = false;

  void poke() {
    {
      std::lock_guard guard{mtx};
      poked = true;
    }
    cv.notify_all();
  }

  void drain() {
    {
      std::lock_guard guard{mtx};
      if (drain_asked)
        return;
      drain_asked = true;
      poked = true;
    }
    cv.notify_all();
  }

  /// A move of `tenant` ended (any thread).
  void finished(const std::string& tenant, const caf::error& err) {
    {
      std::lock_guard guard{mtx};
      under_way.erase(tenant);
      if (err) {
        ++aborted;
        auto& r = retries[tenant];
        ++r.failures;
        auto wait = min_backoff;
        for (unsigned i = 1; i < r.failures && wait < max_backoff; ++i)
          wait *= 2;
        r.not_before = clock() + std::min(wait, max_backoff);
        spdlog::warn("move of tenant {} aborted ({} in a row), retried in "
                     "{} ms: {}",
                     tenant, r.failures, std::min(wait, max_backoff).count(),
                     text_of(err));
      } else {
        retries.erase(tenant);
      }
      poked = true;
    }
    cv.notify_all();
  }
};

rebalancer::rebalancer(rebalancer_config cfg)
  : cfg_(std::move(cfg)), sh_(std::make_shared<shared>()) {
  if (!cfg_.clock)
    cfg_.clock = [] { return std::chrono::steady_clock::now(); };
  if (cfg_.max_concurrent == 0)
    cfg_.max_concurrent = 1;
  sh_->clock = cfg_.clock;
  sh_->min_backoff = cfg_.min_backoff;
  sh_->max_backoff = std::max(cfg_.max_backoff, cfg_.min_backoff);
}

rebalancer::~rebalancer() {
  stop();
}

void rebalancer::start() {
  if (!thread_.joinable())
    thread_ = std::thread{[this] { loop(); }};
}

void rebalancer::stop() {
  {
    std::lock_guard guard{sh_->mtx};
    sh_->stopping = true;
  }
  sh_->cv.notify_all();
  if (thread_.joinable())
    thread_.join();
}

void rebalancer::poke() {
  sh_->poke();
}

std::function<void()> rebalancer::poker() const {
  return [weak = std::weak_ptr<shared>{sh_}] {
    if (auto sh = weak.lock())
      sh->poke();
  };
}

std::function<void()> rebalancer::drainer() const {
  return [weak = std::weak_ptr<shared>{sh_}] {
    if (auto sh = weak.lock())
      sh->drain();
  };
}

void rebalancer::drain() {
  sh_->drain();
}

bool rebalancer::draining() const {
  std::lock_guard guard{sh_->mtx};
  return sh_->drain_asked;
}

bool rebalancer::drained() const {
  std::lock_guard guard{sh_->mtx};
  return sh_->state_set == node_state::drained;
}

bool rebalancer::wait_drained(clock_point deadline) {
  std::unique_lock guard{sh_->mtx};
  sh_->cv.wait_until(guard, deadline, [this] {
    return sh_->stopping || sh_->state_set == node_state::drained;
  });
  return sh_->state_set == node_state::drained;
}

std::set<std::string> rebalancer::under_way() const {
  std::lock_guard guard{sh_->mtx};
  return sh_->under_way;
}

size_t rebalancer::started() const {
  std::lock_guard guard{sh_->mtx};
  return sh_->started;
}

size_t rebalancer::aborted() const {
  std::lock_guard guard{sh_->mtx};
  return sh_->aborted;
}

void rebalancer::run_once() {
  bool drain = false;
  std::optional<node_state> state_set;
  {
    std::lock_guard guard{sh_->mtx};
    drain = sh_->drain_asked;
    state_set = sh_->state_set;
  }
  if (drain && state_set != node_state::draining &&
      state_set != node_state::drained) {
    if (auto err = cfg_.set_state(node_state::draining)) {
      spdlog::warn("drain: could not set state draining yet: {}", text_of(err));
      return; // the next round tries again
    }
    spdlog::info("drain: state draining; moving every tenant away");
    std::lock_guard guard{sh_->mtx};
    sh_->state_set = state_set = node_state::draining;
  }
  auto pic = cfg_.picture();
  if (state_set == node_state::drained)
    return;
  if (drain && pic.self_state == node_state::draining && pic.in_sync &&
      pic.owned.empty()) {
    bool idle = false;
    {
      std::lock_guard guard{sh_->mtx};
      idle = sh_->under_way.empty();
    }
    if (idle) {
      if (auto err = cfg_.set_state(node_state::drained)) {
        spdlog::warn("drain: could not set state drained yet: {}",
                     text_of(err));
        return;
      }
      spdlog::info("drain: this node owns no tenant; state drained");
      {
        std::lock_guard guard{sh_->mtx};
        sh_->state_set = node_state::drained;
      }
      sh_->cv.notify_all();
      return;
    }
  }
  auto plan = plan_moves(pic);
  std::vector<planned_move> to_start;
  {
    std::lock_guard guard{sh_->mtx};
    // Forget the backoff of tenants no longer planned (moved, or the
    // member list changed back).
    std::set<std::string> planned;
    for (const auto& m : plan)
      planned.insert(m.tenant);
    std::erase_if(sh_->retries,
                  [&](const auto& kv) { return !planned.contains(kv.first); });
    if (!plan.empty() && !cfg_.moves) {
      if (!sh_->warned_no_mover)
        spdlog::warn("{} tenants should move away from this node, but moves "
                     "are not available; they stay here",
                     plan.size());
      sh_->warned_no_mover = true;
      return;
    }
    auto now = cfg_.clock();
    for (auto& m : plan) {
      if (sh_->under_way.size() >= cfg_.max_concurrent)
        break;
      if (sh_->under_way.contains(m.tenant))
        continue;
      if (auto r = sh_->retries.find(m.tenant);
          r != sh_->retries.end() && now < r->second.not_before)
        continue;
      sh_->under_way.insert(m.tenant);
      ++sh_->started;
      to_start.push_back(std::move(m));
    }
  }
  // Outside the lock: a mover may call `done` before `move` returns.
  for (auto& m : to_start) {
    spdlog::info("moving tenant {} to {}", m.tenant, m.to);
    cfg_.moves->move(m.tenant, m.to,
                     [sh = sh_, tenant = m.tenant](caf::error err) {
                       sh->finished(tenant, err);
                     });
  }
}

void rebalancer::loop() {
  for (;;) {
    {
      std::unique_lock guard{sh_->mtx};
      sh_->cv.wait_for(guard, cfg_.interval,
                       [this] { return sh_->stopping || sh_->poked; });
      if (sh_->stopping)
        return;
      sh_->poked = false;
    }
    run_once();
  }
}

// -- cluster mode wiring ------------------------------------------------------

std::unique_ptr<rebalancer> start_rebalancer(std::shared_ptr<membership> m,
                                             std::shared_ptr<mover> moves) {
  rebalancer_config cfg;
  cfg.picture = [m] {
    cluster_picture p;
    p.self = m->self();
    p.self_state = m->state();
    p.members = m->members();
    p.owned = m->tenants_of(p.self);
    p.pinned = m->pinned_of(p.self);
    p.in_sync = m->in_sync();
    p.may_acknowledge = m->may_acknowledge();
    return p;
  };
  cfg.set_state = [m](node_state s) { return m->set_state(s); };
  cfg.moves = std::move(moves);
  auto r = std::make_unique<rebalancer>(std::move(cfg));
  m->on_members_changed(r->poker());
  r->start();
  return r;
}

bool drain_before_stop(rebalancer& r, const membership& m,
                       std::chrono::milliseconds grace) {
  auto self = m.self();
  auto members = m.members();
  auto others = std::any_of(members.begin(), members.end(), [&](auto& x) {
    return x.id != self && x.state == node_state::active;
  });
  auto owned = m.tenants_of(self).size();
  if (grace.count() <= 0) {
    spdlog::info("stopping without a drain (drain-grace 0)");
    return false;
  }
  if (!others && !r.drained()) {
    spdlog::info("stopping without a drain: no other active member to take "
                 "this node's {} tenants",
                 owned);
    return false;
  }
  if (!r.can_move() && owned > 0) {
    spdlog::warn("stopping without a drain: moves are not available; this "
                 "node's {} tenants answer 503 until it is back",
                 owned);
    return false;
  }
  auto t0 = std::chrono::steady_clock::now();
  spdlog::info("draining before stop: {} tenants to move, grace {} ms", owned,
               grace.count());
  r.drain();
  auto ok = r.wait_drained(t0 + grace);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
    std::chrono::steady_clock::now() - t0);
  if (ok)
    spdlog::info("drained before stop in {} ms", took.count());
  else
    spdlog::warn("drain before stop not finished within {} ms: {} tenants "
                 "stay on this node and answer 503 until it is back",
                 grace.count(), m.tenants_of(self).size());
  return ok;
}

} // namespace wi::cluster
