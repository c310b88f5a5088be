#include "actors/cluster/mover.hpp"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <deque>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <future>
#include <set>
#include <sstream>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "webhook_ingress/error.hpp"

namespace wi::cluster {

// -- thread_runner
// ---------------------------------------------------------------

thread_runner::thread_runner(size_t threads) {
  for (size_t i = 0; i < std::max<size_t>(threads, 1); ++i)
    threads_.emplace_back([this] { loop(); });
}

thread_runner::~thread_runner() {
  stop();
}

void thread_runner::post(std::function<void()> fn) {
  post_after(std::chrono::milliseconds{0}, std::move(fn));
}

void thread_runner::post_after(std::chrono::milliseconds delay,
                               std::function<void()> fn) {
  {
    std::lock_guard guard{mtx_};
    if (stopping_)
      return;
    due_.emplace(clock::now() + delay, std::move(fn));
  }
  cv_.notify_all();
}

void thread_runner::stop() {
  {
    std::lock_guard guard{mtx_};
    stopping_ = true;
    due_.clear();
  }
  cv_.notify_all();
  for (auto& t : threads_)
    if (t.joinable())
      t.join();
}

void thread_runner::loop() {
  std::unique_lock guard{mtx_};
  for (;;) {
    if (stopping_)
      return;
    if (due_.empty()) {
      cv_.wait(guard);
      continue;
    }
    auto first = due_.begin();
    if (first->first > clock::now()) {
      // A copy: wait_until reads its time point again after waking, when
      // another thread may have run and erased this entry.
      auto when = first->first;
      cv_.wait_until(guard, when);
      continue;
    }
    auto fn = std::move(first->second);
    due_.erase(first);
    guard.unlock();
    fn();
    guard.lock();
  }
}

// -- the coordinator
// ---------------------------------------------------------------

namespace {

using clock_point = std::chrono::steady_clock::time_point;

/// Upper bounds (seconds) of the move duration histogram.
constexpr std::array<double, 9> duration_buckets{0.05, 0.1, 0.25, 0.5, 1,
                                                 2,    5,   10,   30};

caf::error invalid(std::string field, std::string text) {
  return make_error(errc::validation_failed, std::move(field), std::move(text));
}

} // namespace

/// Writes `text` to `path` durably and atomically (temporary file, fsync,
/// rename, fsync of the directory).
caf::error write_durably(const std::string& path, const std::string& text) {
  auto tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return make_error(errc::storage_unavailable, "cannot write " + tmp);
  size_t off = 0;
  bool ok = true;
  while (ok && off < text.size()) {
    auto n = ::write(fd, text.data() + off, text.size() - off);
    if (n <= 0)
      ok = false;
    else
      off += static_cast<size_t>(n);
  }
  ok = ok && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0)
    return make_error(errc::storage_unavailable, "cannot write " + path);
  auto dir = std::filesystem::path{path}.parent_path().string();
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
  return {};
}

std::string crash_hook_from_environment() {
  const char* v = std::getenv("WEBHOOK_INGRESS_TEST_CRASH_AT");
  return v ? std::string{v} : std::string{};
}

struct move_coordinator::impl : std::enable_shared_from_this<impl> {
  mover_config cfg;
  mover_deps deps;

  /// One outgoing move: its machine, its caller, the export in transit.
  struct outgoing {
    move_machine machine;
    std::function<void(caf::error)> done;
    std::optional<tenant_export> exported;
  };

  /// One incoming move (this node is the new owner).
  struct incoming {
    std::string from;
    move_state state = move_state::importing;
  };

  mutable std::mutex mtx;
  /// Tenants in the journal (guarded by `journal_mtx`).
  std::mutex journal_mtx;
  std::set<std::string> journaled;
  /// Running moves by tenant (at most `max_concurrent`).
  std::map<std::string, outgoing, std::less<>> running;
  /// Moves waiting for a slot, oldest first: (tenant, to, done).
  struct queued_move {
    std::string tenant;
    std::string to;
    std::function<void(caf::error)> done;
    clock_point since;
  };
  std::deque<queued_move> queued;
  std::map<std::string, incoming, std::less<>> incomings;
  uint64_t done_count = 0;
  uint64_t aborted_count = 0;
  uint64_t bytes_moved = 0;
  std::array<uint64_t, duration_buckets.size() + 1> duration_counts{};
  double duration_sum = 0;

  impl(mover_config c, mover_deps d) : cfg(std::move(c)), deps(std::move(d)) {
    if (!cfg.clock)
      cfg.clock = [] { return std::chrono::steady_clock::now(); };
    if (cfg.max_concurrent == 0)
      cfg.max_concurrent = 1;
  }

  std::string self() const { return deps.cluster->self(); }

  /// The test-only fault hook.
  void crash_point(std::string_view step, std::string_view role) const {
    if (cfg.crash_at.empty())
      return;
    auto at = "move:" + std::string{step} + ":" + std::string{role};
    if (cfg.crash_at != at)
      return;
    spdlog::critical("test fault hook {}: exiting with 137", at);
    spdlog::default_logger()->flush();
    ::_exit(137);
  }

  /// Runs `fn(impl&)` if the coordinator still exists.
  template <class F>
  auto guarded(F fn) {
    return [w = weak_from_this(), fn = std::move(fn)](auto&&... xs) mutable {
      if (auto self = w.lock())
        fn(*self, std::forward<decltype(xs)>(xs)...);
    };
  }

  std::optional<std::string> peer_of(const std::string& node) const {
    auto m = deps.cluster->member_of(node);
    if (!m || m->peer.empty())
      return std::nullopt;
    return m->peer;
  }

  // -- old owner
  // ------------------------------------------------------------------

  caf::error check(const std::string& tenant, const std::string& to) const {
    if (!deps.cluster->ready())
      return make_error(errc::storage_unavailable, "etcd",
                        "etcd is not reachable (or this node's lease is not "
                        "renewed in time): moves are refused");
    if (to == self())
      return invalid("to", "to names this node (" + to +
                             "), which already owns the tenant");
    auto target = deps.cluster->member_of(to);
    if (!target)
      return invalid("to", "to names no member of the cluster: " + to);
    if (target->state != node_state::active)
      return invalid("to", "to names node " + to + ", which is " +
                             std::string{to_string(target->state)} +
                             ", not active");
    auto place = deps.cluster->placement_of(tenant);
    if (!place)
      return invalid("tenant", "tenant " + tenant +
                                 " has no placement yet; retry in a moment");
    if (place->owner != self())
      return invalid("tenant",
                     "tenant " + tenant + " is owned by " + place->owner);
    return {};
  }

  void move(std::string tenant, std::string to,
            std::function<void(caf::error)> done) {
    if (auto err = check(tenant, to)) {
      done(std::move(err));
      return;
    }
    {
      std::lock_guard guard{mtx};
      bool busy = running.contains(tenant) ||
                  std::any_of(queued.begin(), queued.end(), [&](const auto& q) {
                    return q.tenant == tenant;
                  });
      if (!busy) {
        queued.push_back(
          {std::move(tenant), std::move(to), std::move(done), cfg.clock()});
        done = nullptr;
      }
    }
    if (done) {
      done(invalid("tenant", "a move of this tenant is already under way"));
      return;
    }
    start_queued();
  }

  /// Starts queued moves while slots are free.
  void start_queued() {
    for (;;) {
      std::vector<move_effect> first;
      std::string tenant;
      {
        std::lock_guard guard{mtx};
        if (queued.empty() || running.size() >= cfg.max_concurrent)
          return;
        auto q = std::move(queued.front());
        queued.pop_front();
        auto [m, effects] =
          start_move(q.tenant, self(), q.to, cfg.timing, cfg.clock());
        spdlog::info("move tenant={} from={} to={} started", q.tenant, m.from,
                     m.to);
        tenant = q.tenant;
        running.emplace(q.tenant,
                        outgoing{std::move(m), std::move(q.done), {}});
        first = std::move(effects);
      }
      run(tenant, std::move(first));
    }
  }

  /// Feeds `ev` to the tenant's machine and runs what it says.
  void feed(const std::string& tenant, const move_event& ev) {
    std::vector<move_effect> effects;
    {
      std::lock_guard guard{mtx};
      auto i = running.find(tenant);
      if (i == running.end())
        return;
      effects = step(i->second.machine, ev, cfg.clock());
    }
    run(tenant, std::move(effects));
  }

  void run(const std::string& tenant, std::vector<move_effect> effects) {
    for (auto& e : effects)
      std::visit([&](auto& x) { apply(tenant, x); }, e);
  }

  /// A copy of the machine (under the lock).
  std::optional<move_machine> machine_of(const std::string& tenant) const {
    std::lock_guard guard{mtx};
    auto i = running.find(tenant);
    if (i == running.end())
      return std::nullopt;
    return i->second.machine;
  }

  void apply(const std::string& tenant, move_effects::read_placement&) {
    auto m = machine_of(tenant);
    if (!m)
      return;
    bool at_start = m->waiting == move_wait::placement;
    deps.runner->post(guarded([tenant, at_start](impl& self) {
      auto key = self.deps.store.read(tenant);
      if (!key)
        self.feed(tenant, move_events::etcd_failed{key.error()});
      else if (at_start)
        self.feed(tenant, move_events::placement_read{*key});
      else
        self.feed(tenant, move_events::resolved{*key});
    }));
  }

  /// Adds (or removes) `tenant` to the journal; durable when adding.
  caf::error journal(const std::string& tenant, bool add) {
    if (cfg.journal_path.empty())
      return {};
    std::lock_guard guard{journal_mtx};
    if (add ? !journaled.insert(tenant).second : journaled.erase(tenant) == 0)
      return {};
    std::string text;
    for (const auto& t : journaled)
      text += t + "\n";
    return write_durably(cfg.journal_path, text);
  }

  void apply(const std::string& tenant, move_effects::freeze&) {
    // Runner thread: the journal write blocks (fsync).
    deps.runner->post(guarded([tenant](impl& self) { self.freeze(tenant); }));
  }

  void freeze(const std::string& tenant) {
    if (auto err = journal(tenant, true)) {
      feed(tenant, move_events::freeze_failed{err});
      return;
    }
    deps.local.freeze(
      tenant, guarded([tenant](impl& self, caf::expected<tenant_export> x) {
        if (!x) {
          self.feed(tenant, move_events::freeze_failed{x.error()});
          return;
        }
        self.crash_point("frozen", "old");
        auto bytes = x->size_bytes();
        {
          std::lock_guard guard{self.mtx};
          auto i = self.running.find(tenant);
          if (i == self.running.end())
            return;
          i->second.exported = std::move(*x);
        }
        self.feed(tenant, move_events::frozen{bytes});
      }));
  }

  void apply(const std::string& tenant, move_effects::ship& s) {
    move_offer offer;
    std::string to;
    {
      std::lock_guard guard{mtx};
      auto i = running.find(tenant);
      if (i == running.end() || !i->second.exported)
        return;
      offer.state = std::move(*i->second.exported);
      i->second.exported.reset();
      to = i->second.machine.to;
    }
    offer.from = self();
    offer.epoch = s.epoch;
    offer.mod_revision = s.mod_revision;
    deps.runner->post_after(s.timeout, guarded([tenant](impl& self) {
                              self.feed(tenant, move_events::timed_out{});
                            }));
    auto peer = peer_of(to);
    if (!peer) {
      feed(tenant, move_events::ship_failed{make_error(
                     errc::tenant_unavailable, "node " + to + " is gone")});
      return;
    }
    deps.ship(
      *peer, std::move(offer),
      move_done{guarded([tenant](impl& self, caf::expected<move_reply> reply) {
                  if (!reply) {
                    self.feed(tenant, move_events::ship_failed{reply.error()});
                    return;
                  }
                  self.crash_point("answered", "old");
                  self.feed(tenant, move_events::answered{reply->committed,
                                                          reply->reason});
                }),
                s.timeout});
  }

  void apply(const std::string& tenant, move_effects::note_placement& n) {
    deps.note_placement(tenant, n.value);
  }

  void apply(const std::string& tenant, move_effects::release&) {
    auto m = machine_of(tenant);
    if (!m)
      return;
    deps.local.release_to(tenant, m->to,
                          guarded([tenant](impl& self, caf::error err) {
                            if (err)
                              spdlog::error("move tenant={}: the local copy "
                                            "was not released: {}",
                                            tenant, text_of(err));
                            self.crash_point("released", "old");
                            self.feed(tenant, move_events::released{err});
                          }));
  }

  void apply(const std::string& tenant, move_effects::abort_txn& a) {
    deps.runner->post(guarded([tenant, a](impl& self) {
      auto ok =
        self.deps.store.swap(tenant, a.mod_revision, self.self(), a.epoch);
      if (!ok)
        self.feed(tenant, move_events::etcd_failed{ok.error()});
      else
        self.feed(tenant, move_events::abort_done{*ok});
    }));
  }

  void apply(const std::string& tenant, move_effects::thaw&) {
    deps.local.thaw(tenant, guarded([tenant](impl& self, caf::error err) {
                      if (err)
                        spdlog::error("move tenant={}: thaw failed: {}", tenant,
                                      text_of(err));
                      self.feed(tenant, move_events::thawed{err});
                    }));
  }

  void apply(const std::string& tenant, move_effects::tell_discard& t) {
    auto m = machine_of(tenant);
    if (!m || !deps.tell_discard)
      return;
    if (auto peer = peer_of(m->to))
      deps.tell_discard(*peer, tenant, t.epoch);
  }

  void apply(const std::string& tenant, move_effects::retry_after& r) {
    deps.runner->post_after(r.delay, guarded([tenant](impl& self) {
                              self.feed(tenant, move_events::retry_due{});
                            }));
  }

  void apply(const std::string& tenant, move_effects::finish& f) {
    std::function<void(caf::error)> done;
    {
      std::lock_guard guard{mtx};
      auto i = running.find(tenant);
      if (i == running.end())
        return;
      const auto& m = i->second.machine;
      auto seconds =
        std::chrono::duration<double>(m.finished - m.started).count();
      if (m.state == move_state::done) {
        ++done_count;
        bytes_moved += m.bytes;
        duration_sum += seconds;
        size_t b = 0;
        while (b < duration_buckets.size() && seconds > duration_buckets[b])
          ++b;
        ++duration_counts[b];
        spdlog::info("move tenant={} from={} to={} done bytes={} ms={:.1f}",
                     tenant, m.from, m.to, m.bytes, seconds * 1000);
      } else {
        ++aborted_count;
        spdlog::warn("move tenant={} from={} to={} aborted after ms={:.1f}: {}",
                     tenant, m.from, m.to, seconds * 1000,
                     f.err ? text_of(f.err) : std::string{"?"});
      }
      done = std::move(i->second.done);
      running.erase(i);
    }
    // The move ended: nothing to fence at the next start (not synced: a
    // crash before the next write only fences once more).
    deps.runner->post(
      guarded([tenant](impl& self) { (void)self.journal(tenant, false); }));
    if (done)
      done(f.err);
    start_queued();
  }

  // -- new owner
  // ----------------------------------------------------------------

  void set_incoming(const std::string& tenant, move_state state) {
    std::lock_guard guard{mtx};
    auto i = incomings.find(tenant);
    if (i != incomings.end())
      i->second.state = state;
  }

  void end_incoming(const std::string& tenant) {
    std::lock_guard guard{mtx};
    incomings.erase(tenant);
  }

  void accept(move_offer offer, std::function<void(move_reply)> reply) {
    auto tenant = offer.state.tenant_id;
    {
      std::lock_guard guard{mtx};
      if (running.contains(tenant) ||
          !incomings
             .emplace(tenant, incoming{offer.from, move_state::importing})
             .second) {
        reply({false, "a move of tenant " + tenant + " is under way here"});
        return;
      }
    }
    auto epoch = offer.epoch + 1;
    auto guard_rev = offer.mod_revision;
    auto from = offer.from;
    deps.local.import(
      std::move(offer.state), epoch,
      guarded([tenant, epoch, guard_rev, from, reply](impl& self,
                                                      caf::error err) mutable {
        if (err) {
          self.end_incoming(tenant);
          reply({false, "import failed: " + text_of(err)});
          return;
        }
        self.crash_point("imported", "new");
        self.set_incoming(tenant, move_state::committing);
        self.deps.runner->post(
          self.guarded([tenant, epoch, guard_rev,
                        reply = std::move(reply)](impl& me) mutable {
            me.commit(tenant, epoch, guard_rev, std::move(reply));
          }));
      }));
  }

  /// Runner thread: the new owner's commit, then the decision.
  void commit(const std::string& tenant, uint64_t epoch, int64_t guard_rev,
              std::function<void(move_reply)> reply) {
    auto ok = deps.store.swap(tenant, guard_rev, self(), epoch);
    if (ok && *ok) {
      crash_point("committed", "new");
      decided(tenant, incoming_verdict::activate, epoch, std::move(reply));
      return;
    }
    if (!ok)
      spdlog::warn("move tenant={}: commit outcome unknown ({}); reading the "
                   "placement key",
                   tenant, text_of(ok.error()));
    settle(tenant, epoch, std::move(reply));
  }

  /// Runner thread: reads the key until it says who owns the tenant.
  void settle(const std::string& tenant, uint64_t epoch,
              std::function<void(move_reply)> reply) {
    auto key = deps.store.read(tenant);
    if (!key) {
      deps.runner->post_after(
        cfg.timing.etcd_retry,
        guarded([tenant, epoch, reply = std::move(reply)](impl& self) mutable {
          self.settle(tenant, epoch, std::move(reply));
        }));
      return;
    }
    auto verdict = decide_incoming(self(), *key);
    auto known_epoch = *key ? (*key)->value.epoch : epoch;
    decided(tenant, verdict, known_epoch, std::move(reply));
  }

  void decided(const std::string& tenant, incoming_verdict verdict,
               uint64_t epoch, std::function<void(move_reply)> reply) {
    if (verdict == incoming_verdict::activate) {
      deps.note_placement(tenant, placement{self(), epoch});
      set_incoming(tenant, move_state::releasing);
      deps.local.activate(
        tenant, epoch,
        guarded([tenant, reply = std::move(reply)](impl& self, caf::error err) {
          if (err) // it owns the tenant now whatever happened
            spdlog::error("move tenant={}: activation failed: {}", tenant,
                          text_of(err));
          self.crash_point("activated", "new");
          self.end_incoming(tenant);
          reply({true, {}});
        }));
      return;
    }
    deps.local.discard(
      tenant,
      guarded([tenant, reply = std::move(reply)](impl& self, caf::error err) {
        if (err)
          spdlog::error("move tenant={}: discarding the uncommitted copy "
                        "failed: {}",
                        tenant, text_of(err));
        self.end_incoming(tenant);
        reply({false, "the placement changed since the offer was made (its "
                      "mod_revision guard failed)"});
      }));
  }

  void discard_copy(std::string tenant, uint64_t epoch) {
    {
      std::lock_guard guard{mtx};
      if (incomings.contains(tenant)) // it settles by itself
        return;
    }
    deps.runner->post(guarded([tenant, epoch](impl& self) {
      auto key = self.deps.store.read(tenant);
      if (!key || (*key && (*key)->value.owner == self.self()))
        return; // unknown, or this node owns it: keep
      spdlog::info("move tenant={}: discarding the copy of an aborted move "
                   "(epoch {})",
                   tenant, epoch);
      self.deps.local.discard(tenant, [tenant](caf::error err) {
        if (err)
          spdlog::warn("move tenant={}: discard failed: {}", tenant,
                       text_of(err));
      });
    }));
  }

  std::vector<move_info> under_way() const {
    std::lock_guard guard{mtx};
    std::vector<std::pair<clock_point, move_info>> all;
    for (const auto& [t, o] : running)
      all.emplace_back(
        o.machine.started,
        move_info{t, o.machine.from, o.machine.to, o.machine.state});
    for (const auto& q : queued)
      all.emplace_back(q.since,
                       move_info{q.tenant, self(), q.to, move_state::freezing});
    std::stable_sort(all.begin(), all.end(), [](const auto& x, const auto& y) {
      return x.first < y.first;
    });
    std::vector<move_info> result;
    for (auto& [at, info] : all)
      result.push_back(std::move(info));
    for (const auto& [t, in] : incomings)
      result.push_back(move_info{t, in.from, self(), in.state});
    return result;
  }
};

move_coordinator::move_coordinator(mover_config cfg, mover_deps deps)
  : impl_(std::make_shared<impl>(std::move(cfg), std::move(deps))) {
  // nop
}

move_coordinator::~move_coordinator() = default;

void move_coordinator::move(std::string tenant, std::string to,
                            std::function<void(caf::error)> done) {
  impl_->move(std::move(tenant), std::move(to), std::move(done));
}

std::vector<move_info> move_coordinator::under_way() const {
  return impl_->under_way();
}

uint64_t move_coordinator::moves_done() const {
  std::lock_guard guard{impl_->mtx};
  return impl_->done_count;
}

uint64_t move_coordinator::moves_aborted() const {
  std::lock_guard guard{impl_->mtx};
  return impl_->aborted_count;
}

void move_coordinator::accept(move_offer offer,
                              std::function<void(move_reply)> reply) {
  impl_->accept(std::move(offer), std::move(reply));
}

void move_coordinator::discard_copy(std::string tenant, uint64_t epoch) {
  impl_->discard_copy(std::move(tenant), epoch);
}

caf::expected<size_t> move_coordinator::reconcile_at_start(
  const std::vector<std::string>& held,
  const std::vector<std::pair<std::string, uint64_t>>& incoming) {
  auto& s = *impl_;
  auto self = s.self();
  std::set<std::string> fence;
  if (!s.cfg.journal_path.empty()) {
    std::ifstream in{s.cfg.journal_path};
    for (std::string line; std::getline(in, line);)
      if (!line.empty())
        fence.insert(line);
  }
  std::set<std::string> stale;
  for (const auto& t : held) {
    auto place = s.deps.cluster->placement_of(t);
    if (place && place->owner != self)
      stale.insert(t);
  }
  for (const auto& t : fence) {
    if (stale.contains(t))
      continue;
    for (;;) {
      auto key = s.deps.store.read(t);
      if (!key)
        return key.error();
      if (!*key)
        break; // no key: nothing to fence (a claim follows)
      if ((*key)->value.owner != self) {
        stale.insert(t);
        break;
      }
      auto epoch = (*key)->value.epoch + 1;
      auto ok = s.deps.store.swap(t, (*key)->mod_revision, self, epoch);
      if (!ok)
        return ok.error();
      if (*ok) {
        s.deps.note_placement(t, placement{self, epoch});
        spdlog::info("move tenant={}: fenced an unfinished move at start "
                     "(epoch {})",
                     t, epoch);
        break;
      }
    }
  }
  std::vector<std::pair<std::string, uint64_t>> activate;
  for (const auto& [t, epoch] : incoming) {
    auto place = s.deps.cluster->placement_of(t);
    if (place && place->owner == self)
      activate.emplace_back(t, epoch);
    else
      stale.insert(t);
  }
  for (const auto& t : stale) {
    if (auto err = wait_for_step(
          [&](auto done) { s.deps.local.discard(t, std::move(done)); }))
      return err;
    spdlog::info("tenant={} is placed on another node: discarded the stale "
                 "copy held here",
                 t);
  }
  for (const auto& [t, epoch] : activate) {
    if (auto err = wait_for_step(
          [&](auto done) { s.deps.local.activate(t, epoch, std::move(done)); }))
      return err;
    spdlog::info("tenant={} was imported here and its move committed "
                 "(epoch {}): activated at start",
                 t, epoch);
  }
  if (!s.cfg.journal_path.empty()) {
    std::lock_guard guard{s.journal_mtx};
    s.journaled.clear();
    if (auto err = write_durably(s.cfg.journal_path, {}))
      return err;
  }
  return stale.size();
}

move_handlers move_coordinator::handlers() {
  std::weak_ptr<impl> w = impl_;
  move_handlers h;
  h.offer = [w](move_offer offer, std::function<void(move_reply)> reply) {
    if (auto self = w.lock())
      self->accept(std::move(offer), std::move(reply));
    else
      reply({false, "the node is shutting down"});
  };
  h.discard = [w](std::string tenant, uint64_t epoch) {
    if (auto self = w.lock())
      self->discard_copy(std::move(tenant), epoch);
  };
  return h;
}

std::string move_coordinator::metrics_text() const {
  std::lock_guard guard{impl_->mtx};
  const auto& s = *impl_;
  std::ostringstream out;
  out << "# HELP webhook_ingress_cluster_moves_total Planned moves this node "
         "ran as the old owner, by result.\n"
      << "# TYPE webhook_ingress_cluster_moves_total counter\n"
      << "webhook_ingress_cluster_moves_total{result=\"done\"} " << s.done_count
      << '\n'
      << "webhook_ingress_cluster_moves_total{result=\"aborted\"} "
      << s.aborted_count << '\n'
      << "# HELP webhook_ingress_cluster_moves_under_way Moves running or "
         "queued here (old or new owner).\n"
      << "# TYPE webhook_ingress_cluster_moves_under_way gauge\n"
      << "webhook_ingress_cluster_moves_under_way "
      << s.running.size() + s.queued.size() + s.incomings.size() << '\n'
      << "# HELP webhook_ingress_cluster_move_bytes_total Bytes of tenant "
         "state shipped by moves that committed.\n"
      << "# TYPE webhook_ingress_cluster_move_bytes_total counter\n"
      << "webhook_ingress_cluster_move_bytes_total " << s.bytes_moved << '\n'
      << "# HELP webhook_ingress_cluster_move_duration_seconds Duration of "
         "moves that committed, from the first etcd read to the release.\n"
      << "# TYPE webhook_ingress_cluster_move_duration_seconds histogram\n";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < duration_buckets.size(); ++i) {
    cumulative += s.duration_counts[i];
    out << "webhook_ingress_cluster_move_duration_seconds_bucket{le=\""
        << duration_buckets[i] << "\"} " << cumulative << '\n';
  }
  cumulative += s.duration_counts.back();
  out << "webhook_ingress_cluster_move_duration_seconds_bucket{le=\"+Inf\"} "
      << cumulative << '\n'
      << "webhook_ingress_cluster_move_duration_seconds_sum " << s.duration_sum
      << '\n'
      << "webhook_ingress_cluster_move_duration_seconds_count " << cumulative
      << '\n';
  return out.str();
}

} // namespace wi::cluster
