#include "persistence/wal_writer.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor_cast.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "persistence/wal_retention.hpp"
#include "webhook_ingress/error.hpp"

// Group commit, and why it needs no timer:
//
// Every `append` only queues its record and, if no flush is scheduled yet,
// sends the writer a `flush` message. That message lands behind every append
// already in the mailbox. While a flush blocks in the synced write, new
// appends pile up in the mailbox; the writer takes them all (queueing them
// and scheduling exactly one new flush) before it reaches that flush, so the
// next batch carries everything that arrived during the previous sync. Under
// no load a batch holds one record and costs no added latency; under load
// batches grow with concurrency, up to `max_batch`.
//
// Ordering: records are written, and replies sent, in arrival order. An
// append rejected with `overloaded` is answered at once and never written.

namespace wi::persistence {

namespace {

/// The writer's full interface: the public one plus the message it sends
/// itself. Clients only ever see `wal_writer_actor`.
using replicated_atom = caf::atom_constant<caf::atom("replicated")>;

using wal_writer_impl =
  wal_writer_actor::extend<caf::reacts_to<flush_atom>,
                           caf::reacts_to<replicated_atom, uint64_t>>;

/// A synced batch whose answers wait for the replication hook: each
/// append's promise and its result (first sequence number or error).
struct held_batch {
  uint64_t id = 0;
  bool done = false;
  std::vector<
    std::pair<caf::typed_response_promise<uint64_t>, caf::expected<uint64_t>>>
    answers;
};

/// Records of one append waiting for their batch, and the promise of the
/// first one's sequence number (the others follow it).
struct pending_append : wal_append {
  caf::typed_response_promise<uint64_t> promise;
};

struct wal_writer_state {
  std::shared_ptr<storage> store;
  wal_writer_config cfg;
  /// Appends in arrival order.
  std::deque<pending_append> pending;
  /// Records in `pending`, at most `cfg.max_pending`.
  size_t pending_records = 0;
  /// True while a `flush` message is on its way to this actor.
  bool flush_scheduled = false;
  /// Which WAL records owners still need.
  wal_retention retention;
  /// Whom to ask for snapshots; may be null.
  checkpoint_actor listener;
  /// The owner last asked for a snapshot, and the head sequence then.
  std::string asked_owner;
  uint64_t asked_at = 0;
  /// The highest sequence number a stored snapshot covers.
  uint64_t last_snapshot_seq = 0;
  /// Purged owners: their appends are refused and never retained.
  std::set<std::string, std::less<>> purged;
  /// Synced batches waiting for the replication hook, oldest first (only
  /// with `cfg.replicate`).
  std::deque<held_batch> held;
  /// The id of the next held batch.
  uint64_t next_held = 1;

  wal_writer_state() = default;
  wal_writer_state(const wal_writer_state&) = delete;
  wal_writer_state& operator=(const wal_writer_state&) = delete;

  /// Runs when the actor exits: nobody is left waiting forever.
  ~wal_writer_state() {
    for (auto& p : pending)
      p.promise.deliver(make_error(errc::storage_unavailable,
                                   "the WAL writer stopped before the record "
                                   "was written"));
    // Durable here but not known to be replicated: never acknowledged.
    for (auto& h : held)
      for (auto& [promise, result] : h.answers)
        promise.deliver(make_error(errc::storage_unavailable,
                                   "the WAL writer stopped before the record "
                                   "was replicated"));
  }

  static inline const char* name = "wi.wal_writer";
};

using wal_writer_pointer = wal_writer_impl::stateful_pointer<wal_writer_state>;

void schedule_flush(wal_writer_pointer self) {
  if (self->state.flush_scheduled)
    return;
  self->state.flush_scheduled = true;
  self->send(caf::actor_cast<wal_writer_impl>(self), flush_atom::value);
}

void ask_for_checkpoint(wal_writer_pointer self);
void schedule_flush(wal_writer_pointer self);

/// Queues one append for the next batch, or refuses it when full.
caf::result<uint64_t> enqueue(wal_writer_pointer self, pending_append entry) {
  auto& st = self->state;
  if (entry.revives)
    st.purged.erase(entry.owner);
  if (st.purged.count(entry.owner) > 0)
    return make_error(errc::not_found, "tenant",
                      "tenant " + entry.owner + " was purged");
  if (entry.records.empty())
    return make_error(errc::internal, "an append without records");
  if (st.pending_records + entry.records.size() > st.cfg.max_pending)
    return make_error(errc::overloaded, "the WAL writer has " +
                                          std::to_string(st.pending_records) +
                                          " records waiting");
  entry.promise = self->make_response_promise<uint64_t>();
  auto promise = entry.promise;
  st.pending_records += entry.records.size();
  st.pending.push_back(std::move(entry));
  schedule_flush(self);
  return promise;
}

/// Answers the held batches from the oldest on, as long as the replication
/// hook is done with them: answers keep batch order.
void answer_held(wal_writer_pointer self) {
  auto& held = self->state.held;
  while (!held.empty() && held.front().done) {
    for (auto& [promise, result] : held.front().answers) {
      if (result)
        promise.deliver(*result);
      else
        promise.deliver(result.error());
    }
    held.pop_front();
  }
}

/// Hands the synced batch (records from `first`, their `owners`) to the
/// replication hook; its `done` tells this writer that batch `id` may be
/// answered.
void replicate(wal_writer_pointer self, uint64_t first,
               std::vector<std::string_view> owners,
               std::vector<std::string> records,
               std::vector<payload_put> payloads, uint64_t id) {
  synced_batch batch;
  batch.records.reserve(records.size());
  for (size_t k = 0; k < records.size(); ++k)
    batch.records.push_back(
      {std::string{owners[k]}, first + k, std::move(records[k])});
  batch.payloads = std::move(payloads);
  auto handle = caf::actor_cast<wal_writer_impl>(self);
  self->state.cfg.replicate(std::move(batch), [handle, id] {
    caf::anon_send(handle, replicated_atom::value, id);
  });
}

/// Writes the oldest pending appends, `max_batch` records at most (but
/// always at least one append, which is never split), as one batch and
/// answers each of them; schedules the next flush if appends remain.
void flush(wal_writer_pointer self) {
  auto& st = self->state;
  st.flush_scheduled = false;
  size_t n = 0;
  size_t count = 0;
  while (n < st.pending.size() &&
         (n == 0 || count + st.pending[n].records.size() <= st.cfg.max_batch))
    count += st.pending[n++].records.size();
  if (n == 0)
    return;
  std::vector<std::string> records;
  std::vector<payload_put> payloads;
  records.reserve(count);
  // Record owners, for the replication hook (sequence numbers come later).
  std::vector<std::string_view> owners;
  if (st.cfg.replicate)
    owners.reserve(count);
  for (size_t i = 0; i < n; ++i) {
    auto& p = st.pending[i];
    if (st.cfg.replicate)
      for (size_t k = 0; k < p.records.size(); ++k)
        owners.push_back(k < p.owners.size() ? p.owners[k] : p.owner);
    for (auto& r : p.records)
      records.push_back(std::move(r));
    if (!p.payload_key.empty())
      payloads.push_back({std::move(p.payload_key), std::move(p.payload)});
    for (auto& key : p.erased_payloads)
      payloads.push_back({std::move(key), {}, true});
    for (auto& [key, value] : p.payloads)
      payloads.push_back({std::move(key), std::move(value)});
  }
  auto started = std::chrono::steady_clock::now();
  auto first = st.store->append_with_payloads(records, payloads);
  if (first && st.cfg.on_batch)
    st.cfg.on_batch(count, std::chrono::duration<double>(
                             std::chrono::steady_clock::now() - started)
                             .count());
  uint64_t seq = first ? *first : 0;
  held_batch* hold = nullptr;
  if (st.cfg.replicate) {
    st.held.push_back({st.next_held++, !first, {}});
    hold = &st.held.back();
    if (first)
      replicate(self, *first, std::move(owners), std::move(records),
                std::move(payloads), hold->id);
  }
  for (size_t i = 0; i < n; ++i) {
    auto& front = st.pending.front();
    auto size = front.records.size();
    auto answer = first ? caf::expected<uint64_t>{seq}
                        : caf::expected<uint64_t>{first.error()};
    if (first) {
      // Appends queued before a purge are written but not retained.
      bool retained = st.purged.count(front.owner) == 0;
      for (size_t k = 0; k < size; ++k, ++seq)
        if (retained)
          st.retention.on_append(
            k < front.owners.size() ? front.owners[k] : front.owner, seq);
    }
    if (hold)
      hold->answers.emplace_back(front.promise, std::move(answer));
    else if (answer)
      front.promise.deliver(*answer);
    else
      front.promise.deliver(answer.error());
    st.pending_records -= size;
    st.pending.pop_front();
  }
  if (hold)
    answer_held(self);
  if (!st.pending.empty())
    schedule_flush(self);
  if (first)
    ask_for_checkpoint(self);
}

/// Asks the listener to snapshot the owner that holds the WAL back, once the
/// tail behind its oldest record grew past the configured bound. Asks again
/// only for another owner or after the tail grew by another bound.
void ask_for_checkpoint(wal_writer_pointer self) {
  auto& st = self->state;
  if (!st.listener)
    return;
  auto next = st.store->last_sequence() + 1;
  auto limit =
    st.cfg.max_tail_per_owner * std::max<uint64_t>(1, st.retention.owners());
  if (next - st.retention.needed_from(next) <= limit)
    return;
  auto owner = st.retention.oldest_owner();
  if (!owner || (*owner == st.asked_owner && next - st.asked_at <= limit))
    return;
  st.asked_owner = *owner;
  st.asked_at = next;
  self->send(st.listener, checkpoint_atom::value, *owner);
}

/// Deletes the WAL below what any owner still needs (never the newest
/// record). A failed truncation loses nothing: the records stay until the
/// next attempt, and recovery skips what snapshots cover.
void truncate(wal_writer_pointer self) {
  auto& st = self->state;
  auto needed = st.retention.needed_from(st.store->last_sequence() + 1);
  if (needed > st.store->first_sequence())
    static_cast<void>(st.store->truncate_wal(needed));
}

/// Forgets a purged owner and deletes its snapshot and payloads.
bool purge(wal_writer_pointer self, const std::string& owner) {
  auto& st = self->state;
  st.purged.insert(owner);
  st.retention.on_snapshot(owner, st.store->last_sequence());
  if (owner == st.asked_owner)
    st.asked_owner.clear();
  auto err = st.store->purge_owner(owner);
  truncate(self);
  return !err;
}

/// Stores a snapshot, then truncates the WAL below what is still needed.
caf::result<uint64_t> store_snapshot(wal_writer_pointer self,
                                     const std::string& owner, uint64_t covered,
                                     const std::string& bytes) {
  auto& st = self->state;
  if (auto err = st.store->put_snapshot(owner, covered, bytes))
    return err;
  st.retention.on_snapshot(owner, covered);
  st.last_snapshot_seq = std::max(st.last_snapshot_seq, covered);
  if (owner == st.asked_owner)
    st.asked_owner.clear();
  truncate(self);
  // The next owner in line may hold the tail back as well: ask it now, not
  // only after the next append (there may be none for a while).
  ask_for_checkpoint(self);
  return covered;
}

wal_writer_impl::behavior_type
wal_writer(wal_writer_pointer self, std::shared_ptr<storage> store,
           wal_writer_config cfg,
           std::unordered_map<std::string, std::vector<uint64_t>> uncovered) {
  for (const auto& [owner, seqs] : uncovered)
    self->state.retention.seed(owner, seqs);
  // A batch of zero records would never drain the queue.
  cfg.max_batch = std::max(cfg.max_batch, size_t{1});
  self->state.store = std::move(store);
  self->state.cfg = cfg;
  self->state.last_snapshot_seq = cfg.recovered_snapshot_seq;
  return {
    [self](append_atom, wal_append& req) -> caf::result<uint64_t> {
      return enqueue(self, {std::move(req), {}});
    },
    [self](flush_atom) { flush(self); },
    [self](replicated_atom, uint64_t id) {
      for (auto& h : self->state.held)
        if (h.id == id)
          h.done = true;
      answer_held(self);
    },
    [self](snapshot_atom, const std::string& owner, uint64_t covered,
           const std::string& bytes) {
      return store_snapshot(self, owner, covered, bytes);
    },
    [self](listen_atom, checkpoint_actor& listener) {
      self->state.listener = std::move(listener);
    },
    [self](stats_atom) {
      const auto& st = self->state;
      return wal_status{st.store->last_sequence(), st.store->first_sequence(),
                        st.last_snapshot_seq, st.pending_records};
    },
    [self](purge_atom, const std::string& owner) { return purge(self, owner); },
  };
}

} // namespace

wal_writer_actor spawn_wal_writer(
  caf::actor_system& sys, std::shared_ptr<storage> store, wal_writer_config cfg,
  std::unordered_map<std::string, std::vector<uint64_t>> uncovered) {
  return sys.spawn<caf::detached>(wal_writer, std::move(store), cfg,
                                  std::move(uncovered));
}

} // namespace wi::persistence
