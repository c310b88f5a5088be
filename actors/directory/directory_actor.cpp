#include "actors/directory/directory_actor.hpp"

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include <caf/actor_cast.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include "actors/common/crypto.hpp"
#include "actors/common/metrics.hpp"
#include "actors/common/text.hpp"
#include "actors/directory/transfer.hpp"
#include "actors/tenant/admin_views.hpp"
#include "actors/tenant/stored_tenant_actor.hpp"
#include "actors/tenant/tenant_actor.hpp"
#include "persistence/payload_reader.hpp"
#include "persistence/record_codec.hpp"
#include "persistence/snapshot_codec.hpp"
#include "webhook_ingress/error.hpp"

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(wi::prepared_import)

namespace wi {

namespace {

using self_ptr = directory_actor::stateful_pointer<directory_actor_state>;

/// Called once per snapshot of a shutdown, with whether it was written.
using snapshot_done = std::function<void(bool)>;

/// Writes a snapshot of `owner` through the WAL writer and calls `done`.
void write_snapshot(self_ptr self, std::string owner, uint64_t covered,
                    std::string bytes, snapshot_done done) {
  self
    ->request(self->state.wal, caf::infinite, snapshot_atom::value,
              std::move(owner), covered, std::move(bytes))
    .then([done](uint64_t) { done(true); },
          [done](caf::error&) { done(false); });
}

/// Snapshots the registry if any registration is not covered yet. Returns
/// whether a snapshot was started.
bool snapshot_directory(self_ptr self, snapshot_done done) {
  auto& st = self->state;
  if (st.log.uncovered == 0)
    return false;
  st.log.snapshot_sent();
  write_snapshot(self, directory_owner, st.log.last_seq,
                 persistence::encode_snapshot(st.data), std::move(done));
  return true;
}

/// The slot of `tenant_id` if it holds a `T`, else null.
template <class T>
T* slot_as(directory_actor_state& s, std::string_view tenant_id) {
  auto i = s.tenants.find(tenant_id);
  return i == s.tenants.end() ? nullptr : std::get_if<T>(&i->second);
}

/// Snapshots a dormant tenant if it has uncovered records. Returns whether a
/// snapshot was started.
bool snapshot_dormant(self_ptr self, const std::string& tenant_id,
                      snapshot_done done) {
  auto& st = self->state;
  auto write = [&](tenant_state& data, owner_log& log) {
    if (log.uncovered.empty())
      return false;
    log.uncovered.clear();
    write_snapshot(self, tenant_id, log.last_seq,
                   persistence::encode_snapshot(data), std::move(done));
    return true;
  };
  if (auto* d = slot_as<dormant_tenant>(st, tenant_id))
    return write(d->data, d->log);
  // An incoming tenant's import record holds the WAL back: snapshot it if
  // decoded; one in its stored form (found so at start) waits for the
  // start-up reconcile, which activates or discards it.
  if (auto* in = slot_as<incoming_tenant>(st, tenant_id))
    if (auto* held = std::get_if<dormant_tenant>(&in->held))
      return write(held->data, held->log);
  return false;
}

/// Sets the tenant gauges from the registry.
void report_tenants(const directory_state& st) {
  uint64_t active = 0;
  uint64_t inactive = 0;
  for (const auto& [id, entry] : st.tenants)
    if (!entry.purged)
      ++(entry.active ? active : inactive);
  node_metrics().set_tenants(active, inactive);
}

/// Makes a registry record durable, applies it, keeps the snapshot cadence
/// and updates the routing table; then calls `on_applied(entry)` with the
/// tenant's entry as applied, or `on_error` if the write failed (nothing
/// was applied).
///
/// Registry changes are rare and operator-driven: each is logged at info
/// with the tenant id and the id of the request that asked for it.
template <class OnApplied, class OnError>
void commit(self_ptr self, record rec, const std::string& request_id,
            OnApplied on_applied, OnError on_error) {
  auto req =
    wal_append::one(std::string{directory_owner}, persistence::encode(rec));
  wal_commit(
    self, self->state.wal, std::move(req),
    [self, rec = std::move(rec), request_id, on_applied,
     on_error](uint64_t seq) {
      auto& s = self->state;
      if (auto err = wi::apply(s.data, rec)) {
        on_error(make_error(errc::internal,
                            "durable record did not apply: " + text_of(err)));
        return;
      }
      if (s.log.applied(seq))
        snapshot_directory(self, [](bool) {});
      report_tenants(s.data);
      spdlog::info("registry record={} tenant={} seq={} request_id=\"{}\"",
                   kind_of(rec), tenant_of(rec), seq, request_id);
      auto i = s.data.tenants.find(tenant_of(rec));
      if (i == s.data.tenants.end()) { // moved out: the caller updates
        tenant_entry gone;
        gone.id = tenant_of(rec);
        on_applied(gone);
        return;
      }
      s.table->update(i->second);
      on_applied(i->second);
    },
    [request_id, on_error](caf::error err) {
      spdlog::warn("registry change failed error=\"{}\" request_id=\"{}\"",
                   text_of(err), request_id);
      on_error(std::move(err));
    });
}

/// Creates a tenant named `name` under `id` (empty: a fresh one).
void register_tenant(self_ptr self, std::string& name, std::string id,
                     reply_fn<tenant_info>& reply) {
  if (!id.empty() && self->state.data.tenants.count(id) > 0) {
    reply(make_error(errc::validation_failed, "id",
                     "a tenant with id " + id + " exists or existed here"));
    return;
  }
  while (id.empty() ||
         self->state.data.tenants.count(id) > 0) // tombstones included
    id = crypto::make_tenant_id();
  auto token = crypto::make_tenant_token(id);
  tenant_created rec{id, std::move(name), crypto::sha256(token),
                     crypto::now_seconds()};
  commit(
    self, std::move(rec), reply.request_id(),
    [self, token, reply](const tenant_entry& entry) {
      dormant_tenant fresh;
      fresh.data.tenant_id = entry.id;
      self->state.tenants.insert_or_assign(entry.id, std::move(fresh));
      auto info = info_of(entry);
      info.token = token;
      reply(std::move(info));
    },
    [reply](caf::error err) { reply(std::move(err)); });
}

/// Returns the registry entry of a tenant that was not purged, or null.
/// An imported tenant not activated yet (`incoming_tenant`) is not
/// served here: it counts as unknown.
const tenant_entry* live_entry(self_ptr self, const std::string& tenant_id) {
  const auto& tenants = self->state.data.tenants;
  auto i = tenants.find(tenant_id);
  if (i == tenants.end() || i->second.purged ||
      slot_as<incoming_tenant>(self->state, tenant_id) != nullptr)
    return nullptr;
  return &i->second;
}

caf::error tenant_not_found(const std::string& tenant_id) {
  return make_error(errc::not_found, "id", "no tenant with id " + tenant_id);
}

/// Who asks for a tenant's actor.
enum class spawn_for {
  /// A tenant request: only an active tenant's actor is handed out.
  request,
  /// The node itself (snapshots, admin views, warm-up): a deactivated
  /// tenant's actor starts too, without deliveries.
  node,
};

/// Calls `cont` with the tenant's actor, spawning it if needed, or with a
/// null handle if the tenant is unknown, purged, or (for requests)
/// deactivated.
void spawn_tenant(self_ptr self, const std::string& tenant_id,
                  tenant_continuation& cont,
                  spawn_for why = spawn_for::request) {
  auto& s = self->state;
  const auto* entry = live_entry(self, tenant_id);
  if (entry == nullptr || (!entry->active && why == spawn_for::request)) {
    cont(tenant_actor{});
    return;
  }
  auto slot = s.tenants.find(tenant_id);
  if (slot != s.tenants.end()) {
    if (auto* r = std::get_if<running_tenant>(&slot->second)) {
      cont(r->actor);
      return;
    }
    // Frozen for a move: it answers reads, refuses mutations (a request
    // that raced with the freeze).
    if (auto* m = std::get_if<moving_tenant>(&slot->second)) {
      cont(m->actor);
      return;
    }
  }
  auto delivery = entry->active ? s.delivery : nullptr;
  tenant_actor actor;
  if (slot != s.tenants.end() &&
      std::holds_alternative<stored_slot>(slot->second)) {
    auto stored = std::get<stored_slot>(std::move(slot->second));
    actor = self->spawn<caf::linked>(stored_tenant_actor_impl, tenant_id,
                                     std::move(stored.data),
                                     std::move(stored.log), s.wal, s.reader,
                                     s.log.snapshot_every, std::move(delivery));
  } else {
    dormant_tenant init;
    if (slot != s.tenants.end())
      init = std::get<dormant_tenant>(std::move(slot->second));
    else
      init.data.tenant_id = tenant_id;
    actor = self->spawn<caf::linked>(tenant_actor_impl, std::move(init.data),
                                     std::move(init.log), s.wal,
                                     s.log.snapshot_every, std::move(delivery));
  }
  s.tenants.insert_or_assign(tenant_id, running_tenant{actor});
  s.table->set_actor(tenant_id, actor);
  cont(std::move(actor));
}

/// Starts the actors of the stored tenants `ids`, all with WAL records past
/// their snapshot, and then calls `then`. Their records are read back first,
/// in one pass of the reader: a tenant's records are spread over the whole
/// WAL, so reading them tenant by tenant would read most stored blocks once
/// per tenant. A tenant started meanwhile (on demand) reads its own; its
/// share of the answer is dropped.
void start_stored(self_ptr self, std::vector<std::string> ids,
                  std::function<void()> then) {
  auto& s = self->state;
  std::vector<std::vector<uint64_t>> lists;
  for (const auto& id : ids)
    lists.push_back(slot_as<stored_slot>(s, id)->log.uncovered);
  if (ids.empty()) {
    then();
    return;
  }
  auto start = [self, ids](std::vector<std::string>* records) {
    tenant_continuation started = [](tenant_actor) {};
    for (size_t i = 0; i < ids.size(); ++i) {
      auto* stored = slot_as<stored_slot>(self->state, ids[i]);
      if (stored == nullptr)
        continue; // started (or purged) meanwhile
      if (records != nullptr && i < records->size())
        stored->data.records = std::move((*records)[i]);
      spawn_tenant(self, ids[i], started, spawn_for::node);
    }
  };
  self->request(s.reader, caf::infinite, read_atom::value, std::move(lists))
    .then(
      [start, then](std::vector<std::string>& records) {
        start(&records);
        then();
      },
      [start, then](caf::error& err) {
        // Each tenant then reads its own (and exits the node if it cannot).
        spdlog::warn("could not read stored tenants' WAL records back: {}",
                     text_of(err));
        start(nullptr);
        then();
      });
}

/// The stored tenants that have WAL records past their snapshot.
std::vector<std::string> stored_with_records(self_ptr self) {
  auto& s = self->state;
  std::vector<std::string> ids;
  for (const auto& [id, slot] : s.tenants)
    if (auto* stored = std::get_if<stored_slot>(&slot);
        stored != nullptr && !stored->log.uncovered.empty())
      ids.push_back(id);
  return ids;
}

/// Starts the actor of every tenant still in its stored form; each decodes
/// itself on a scheduler thread.
void warm_up(self_ptr self) {
  auto& s = self->state;
  std::vector<std::string> snapshot_only;
  for (const auto& [id, slot] : s.tenants)
    if (auto* stored = std::get_if<stored_slot>(&slot);
        stored != nullptr && stored->log.uncovered.empty())
      snapshot_only.push_back(id);
  tenant_continuation started = [](tenant_actor) {};
  for (const auto& id : snapshot_only)
    spawn_tenant(self, id, started, spawn_for::node);
  start_stored(self, stored_with_records(self), [] {});
}

/// `snapshot_all` once every stored tenant with records runs.
void snapshot_started(self_ptr self, std::function<void(uint64_t)> finished) {
  struct tally {
    std::function<void(uint64_t)> finished;
    size_t outstanding = 1; // released after all are started
    uint64_t written = 0;
  };
  auto t = std::make_shared<tally>();
  t->finished = std::move(finished);
  snapshot_done done = [t](bool ok) {
    t->written += ok ? 1 : 0;
    if (--t->outstanding == 0)
      t->finished(t->written);
  };
  auto& s = self->state;
  for (const auto& [id, slot] : s.tenants) {
    ++t->outstanding;
    auto* r = std::get_if<running_tenant>(&slot);
    auto* m = std::get_if<moving_tenant>(&slot);
    if (r != nullptr || m != nullptr)
      self
        ->request(r != nullptr ? r->actor : m->actor, caf::infinite,
                  checkpoint_atom::value)
        .then([done](uint64_t covered) { done(covered != 0); },
              [done](caf::error&) { done(false); });
    else if (!snapshot_dormant(self, id, done))
      --t->outstanding;
  }
  ++t->outstanding;
  if (!snapshot_directory(self, done))
    --t->outstanding;
  done(false); // releases the initial count without counting a snapshot
}

/// Snapshots everything with uncovered records; calls `finished` with the
/// number of snapshots written once every one of them ended.
void snapshot_all(self_ptr self, std::function<void(uint64_t)> finished) {
  // Stored tenants with records to cover snapshot through their actors.
  start_stored(self, stored_with_records(self),
               [self, finished = std::move(finished)] {
                 snapshot_started(self, finished);
               });
}

// -- admin --------------------------------------------------------------------

/// How long the directory waits for a tenant actor's admin answer.
constexpr auto admin_timeout = std::chrono::seconds{10};

/// Starts the actor of a tenant still in its stored form, so that admin
/// questions go to it (it answers once decoded).
void start_if_stored(self_ptr self, const std::string& tenant_id) {
  if (slot_as<stored_slot>(self->state, tenant_id) == nullptr)
    return;
  tenant_continuation ignore = [](tenant_actor) {};
  spawn_tenant(self, tenant_id, ignore, spawn_for::node);
}

/// The node's default per-tenant limits (issue 13).
tenant_limits node_limits(self_ptr self) {
  const auto& delivery = self->state.delivery;
  return delivery ? delivery->limits : tenant_limits{};
}

/// Computes the summary of each tenant in `ids` (asking running actors) and
/// calls `done` with them in the same order, or with the first error.
void summarize_tenants(
  self_ptr self, const std::vector<std::string>& ids,
  std::function<void(caf::expected<std::vector<tenant_summary>>)> done) {
  struct tally {
    std::vector<tenant_summary> items;
    std::function<void(caf::expected<std::vector<tenant_summary>>)> done;
    size_t outstanding = 1; // released after all are started
    bool failed = false;
  };
  auto t = std::make_shared<tally>();
  t->items.resize(ids.size());
  t->done = std::move(done);
  auto release = [t] {
    if (--t->outstanding == 0 && !t->failed)
      t->done(std::move(t->items));
  };
  auto& s = self->state;
  for (const auto& id : ids)
    start_if_stored(self, id);
  for (size_t k = 0; k < ids.size(); ++k) {
    const auto& entry = s.data.tenants.at(ids[k]);
    if (auto* r = slot_as<running_tenant>(s, ids[k])) {
      ++t->outstanding;
      self->request(r->actor, admin_timeout, inspect_atom::value)
        .then(
          [t, k, entry, release,
           limits = node_limits(self)](tenant_summary& x) {
            add_registry_fields(x, entry);
            add_limits(x, limits);
            t->items[k] = std::move(x);
            release();
          },
          [t](caf::error& err) {
            if (!t->failed) {
              t->failed = true;
              t->done(std::move(err));
            }
          });
      continue;
    }
    auto* d = slot_as<dormant_tenant>(s, ids[k]);
    auto* m = slot_as<moving_tenant>(s, ids[k]);
    t->items[k] = d != nullptr                ? summarize(d->data)
                  : m != nullptr && m->frozen ? summarize(m->frozen->data)
                                              : tenant_summary{};
    add_registry_fields(t->items[k], entry);
    add_limits(t->items[k], node_limits(self));
  }
  release();
}

void list_tenants(self_ptr self, const list_query& q,
                  reply_fn<tenant_page>& reply) {
  tenant_page result;
  result.page = q.page;
  result.page_size = q.page_size;
  std::vector<std::string> ids;
  auto first = (static_cast<uint64_t>(q.page) - 1) * q.page_size;
  for (const auto& [id, entry] : self->state.data.tenants) {
    auto created_ms = entry.created_at * 1000;
    if (entry.purged || (q.created_from && created_ms < *q.created_from) ||
        (q.created_to && created_ms > *q.created_to) ||
        (!icontains(id, q.search) && !icontains(entry.name, q.search)) ||
        slot_as<incoming_tenant>(self->state, id) != nullptr)
      continue;
    if (result.total_items >= first && ids.size() < q.page_size)
      ids.push_back(id);
    ++result.total_items;
  }
  summarize_tenants(
    self, ids,
    [result, reply](caf::expected<std::vector<tenant_summary>> items) mutable {
      if (!items) {
        reply(std::move(items.error()));
        return;
      }
      result.items = std::move(*items);
      reply(std::move(result));
    });
}

void get_tenant(self_ptr self, const std::string& tenant_id,
                reply_fn<tenant_summary> reply) {
  if (live_entry(self, tenant_id) == nullptr) {
    reply(tenant_not_found(tenant_id));
    return;
  }
  summarize_tenants(self, {tenant_id},
                    [reply](caf::expected<std::vector<tenant_summary>> items) {
                      if (!items)
                        reply(std::move(items.error()));
                      else
                        reply(std::move(items->front()));
                    });
}

void inspect_endpoint(self_ptr self, const std::string& tenant_id,
                      endpoint_id id, reply_fn<endpoint_internal>& reply) {
  auto& s = self->state;
  if (live_entry(self, tenant_id) == nullptr) {
    reply(tenant_not_found(tenant_id));
    return;
  }
  start_if_stored(self, tenant_id);
  if (auto* r = slot_as<running_tenant>(s, tenant_id)) {
    self->request(r->actor, admin_timeout, inspect_atom::value, id)
      .then([reply](endpoint_internal& x) { reply(std::move(x)); },
            [reply](caf::error& err) { reply(std::move(err)); });
    return;
  }
  auto* d = slot_as<dormant_tenant>(s, tenant_id);
  if (d == nullptr)
    reply(internal_view_of(empty_tenant(tenant_id), id));
  else
    reply(internal_view_of(d->data, id));
}

/// A registry change of a tenant frozen for a move would miss the state
/// that left: refused (503 TENANT_UNAVAILABLE, retried after the move).
template <class T>
bool refuse_moving(self_ptr self, const std::string& tenant_id,
                   const reply_fn<T>& reply) {
  if (slot_as<moving_tenant>(self->state, tenant_id) == nullptr)
    return false;
  reply(make_error(errc::tenant_unavailable,
                   "the tenant is moving between nodes; retry later"));
  return true;
}

void rotate_token(self_ptr self, const std::string& tenant_id,
                  int64_t grace_seconds, reply_fn<issued_token>& reply) {
  const auto* entry = live_entry(self, tenant_id);
  if (entry == nullptr) {
    reply(tenant_not_found(tenant_id));
    return;
  }
  if (refuse_moving(self, tenant_id, reply))
    return;
  if (!entry->active) {
    reply(make_error(errc::validation_failed, "id",
                     "the tenant with id " + tenant_id +
                       " is deactivated; its tokens cannot be rotated"));
    return;
  }
  auto token = crypto::make_tenant_token(tenant_id);
  auto now = crypto::now_seconds();
  token_issued rec{tenant_id, crypto::sha256(token), now, now + grace_seconds};
  commit(
    self, std::move(rec), reply.request_id(),
    [token, now, reply](const tenant_entry& e) {
      reply(issued_token{e.id, token, now, e.previous_valid_until});
    },
    [reply](caf::error err) { reply(std::move(err)); });
}

/// Per-tenant limits (issue 13): has the tenant's actor (started if need
/// be, deactivated tenants included) record the change, and answers the
/// tenant's summary once it is durable and applied.
void change_limits(self_ptr self, const std::string& tenant_id,
                   const limits_patch& patch, reply_fn<tenant_summary>& reply) {
  if (live_entry(self, tenant_id) == nullptr) {
    reply(tenant_not_found(tenant_id));
    return;
  }
  tenant_continuation cont = [self, tenant_id, patch,
                              reply](tenant_actor actor) {
    if (!actor) {
      reply(tenant_not_found(tenant_id));
      return;
    }
    self->request(actor, caf::infinite, limits_atom::value, patch)
      .then(
        [self, tenant_id, reply](tenant_summary& x) {
          if (const auto* entry = live_entry(self, tenant_id))
            add_registry_fields(x, *entry);
          add_limits(x, node_limits(self));
          reply(std::move(x));
        },
        [reply](caf::error& err) { reply(std::move(err)); });
  };
  spawn_tenant(self, tenant_id, cont, spawn_for::node);
}

/// Drops everything the node holds of a purged tenant; `done` runs once the
/// WAL writer deleted its stored data.
void forget_tenant(self_ptr self, const std::string& tenant_id,
                   std::function<void()> done) {
  auto& s = self->state;
  if (auto* r = slot_as<running_tenant>(s, tenant_id)) {
    // Unlinked first: its exit must not end the directory.
    self->unlink_from(r->actor);
    self->send_exit(r->actor, caf::exit_reason::user_shutdown);
  } else if (auto* m = slot_as<moving_tenant>(s, tenant_id)) {
    self->unlink_from(m->actor);
    self->send_exit(m->actor, caf::exit_reason::user_shutdown);
  } else if (auto* d = slot_as<dormant_tenant>(s, tenant_id)) {
    node_metrics().count_tenant(d->data, -1);
  }
  if (auto i = s.tenants.find(tenant_id); i != s.tenants.end())
    s.tenants.erase(i);
  self->request(s.wal, caf::infinite, purge_atom::value, tenant_id)
    .then([done](bool) { done(); }, [done](caf::error&) { done(); });
}

void deactivate_tenant(self_ptr self, const std::string& tenant_id, bool purge,
                       reply_fn<tenant_summary>& reply) {
  const auto* entry = live_entry(self, tenant_id);
  if (entry == nullptr) {
    reply(tenant_not_found(tenant_id));
    return;
  }
  if (refuse_moving(self, tenant_id, reply))
    return;
  auto on_error = [reply](caf::error err) { reply(std::move(err)); };
  if (purge) {
    commit(
      self, tenant_purged{tenant_id, crypto::now_seconds()}, reply.request_id(),
      [self, reply](const tenant_entry& e) {
        tenant_summary summary;
        add_registry_fields(summary, e);
        forget_tenant(self, e.id, [summary, reply] { reply(summary); });
      },
      on_error);
    return;
  }
  if (!entry->active) { // already deactivated: nothing to record
    get_tenant(self, tenant_id, reply);
    return;
  }
  commit(
    self, tenant_deactivated{tenant_id, crypto::now_seconds()},
    reply.request_id(),
    [self, reply](const tenant_entry& e) {
      if (auto* r = slot_as<running_tenant>(self->state, e.id))
        self->send(r->actor, deactivate_atom::value);
      get_tenant(self, e.id, reply);
    },
    on_error);
}

void node_of(self_ptr self, reply_fn<node_status>& reply) {
  self->request(self->state.wal, admin_timeout, stats_atom::value)
    .then(
      [self, reply](wal_status& wal) {
        const auto& s = self->state;
        node_status result;
        result.wal = wal;
        for (const auto& [id, entry] : s.data.tenants) {
          if (entry.purged)
            continue;
          ++result.tenants;
          if (entry.active)
            ++result.tenants_active;
        }
        result.tenants_loaded = static_cast<uint64_t>(
          std::count_if(s.tenants.begin(), s.tenants.end(), [](const auto& x) {
            return std::holds_alternative<running_tenant>(x.second);
          }));
        result.actors_alive = self->system().registry().running();
        if (s.delivery && s.delivery->engine) {
          result.deliveries_in_flight = s.delivery->engine->in_flight();
          result.deliveries_queued = s.delivery->engine->queued();
        }
        reply(std::move(result));
      },
      [reply](caf::error& err) { reply(std::move(err)); });
}

// -- planned moves (`local_tenants`) ------------------------------------------

caf::error not_held(const std::string& tenant_id) {
  return make_error(errc::not_found, "tenant",
                    "no tenant with id " + tenant_id + " is held here");
}

/// Ends a tenant actor the directory no longer wants (unlinked first: its
/// exit must not end the directory).
void end_actor(self_ptr self, const tenant_actor& actor) {
  self->unlink_from(actor);
  self->send_exit(actor, caf::exit_reason::user_shutdown);
}

/// Calls each parked request (false: dispatch again; true: expired).
void resume_parked(std::vector<tenant_table::parked_request> parked,
                   bool expired) {
  for (auto& req : parked)
    req(expired);
}

/// Answers parked requests that waited too long; runs about ten times per
/// park timeout while any tenant is moving.
void schedule_expiry(self_ptr self) {
  auto& s = self->state;
  if (s.expiry_scheduled)
    return;
  s.expiry_scheduled = true;
  auto every = std::chrono::duration_cast<std::chrono::milliseconds>(
    s.table->park_timeout() / 10);
  self->delayed_send(self, std::max(every, std::chrono::milliseconds{1}),
                     expire_atom::value);
}

void on_expire(self_ptr self) {
  auto& s = self->state;
  s.expiry_scheduled = false;
  resume_parked(
    s.table->expire(std::chrono::steady_clock::now(), s.table->park_timeout()),
    true);
  // Frozen and incoming tenants park their requests.
  bool moving = std::any_of(s.tenants.begin(), s.tenants.end(), [](auto& x) {
    return std::holds_alternative<moving_tenant>(x.second) ||
           std::holds_alternative<incoming_tenant>(x.second);
  });
  if (moving || s.table->parked() > 0)
    schedule_expiry(self);
}

/// Reads the payloads of every event of `data` through the WAL reader and
/// calls `done` with the export.
void export_frozen(self_ptr self, const tenant_entry& entry,
                   const tenant_state& data, export_done done) {
  tenant_export x;
  x.tenant_id = entry.id;
  x.registry = persistence::encode_entry(entry);
  x.snapshot = persistence::encode_snapshot(data);
  std::vector<std::string> keys;
  keys.reserve(data.events.size());
  for (const auto& [id, ev] : data.events)
    keys.push_back(persistence::payload_key(entry.id, id));
  if (keys.empty()) {
    done.fn(std::move(x));
    return;
  }
  if (!self->state.reader) {
    done.fn(make_error(errc::internal, "no WAL reader to read payloads"));
    return;
  }
  self
    ->request(self->state.reader, caf::infinite, read_atom::value,
              get_atom::value, std::move(keys))
    .then(
      [x = std::move(x), done](
        std::vector<std::pair<std::string, std::string>>& payloads) mutable {
        x.payloads = std::move(payloads);
        done.fn(std::move(x));
      },
      [done](caf::error& err) { done.fn(std::move(err)); });
}

/// Freezes a tenant's actor (spawning it if need be) and calls `then` with
/// its frozen state, or with the error.
void freeze_actor(self_ptr self, const std::string& tenant_id,
                  std::function<void(caf::expected<frozen_tenant>)> then) {
  auto& s = self->state;
  if (auto* m = slot_as<moving_tenant>(s, tenant_id)) {
    if (m->frozen)
      then(*m->frozen);
    else
      then(make_error(errc::validation_failed, "tenant",
                      "a freeze of tenant " + tenant_id + " is under way"));
    return;
  }
  s.table->set_moving(tenant_id);
  schedule_expiry(self);
  tenant_continuation cont = [self, tenant_id, then](tenant_actor actor) {
    if (!actor) {
      resume_parked(self->state.table->thaw(tenant_id), false);
      then(not_held(tenant_id));
      return;
    }
    self->state.tenants.insert_or_assign(tenant_id,
                                         moving_tenant{actor, std::nullopt});
    self->request(actor, caf::infinite, freeze_atom::value)
      .then(
        [self, tenant_id, then](frozen_tenant& f) {
          auto* m = slot_as<moving_tenant>(self->state, tenant_id);
          if (m == nullptr) {
            then(not_held(tenant_id)); // discarded meanwhile
            return;
          }
          m->frozen = std::move(f);
          then(*m->frozen);
        },
        [then](caf::error& err) { then(std::move(err)); });
  };
  spawn_tenant(self, tenant_id, cont, spawn_for::node);
}

void freeze_tenant(self_ptr self, const std::string& tenant_id,
                   export_done done) {
  if (live_entry(self, tenant_id) == nullptr) {
    done.fn(not_held(tenant_id));
    return;
  }
  freeze_actor(self, tenant_id,
               [self, tenant_id, done](caf::expected<frozen_tenant> f) {
                 if (!f) {
                   done.fn(std::move(f.error()));
                   return;
                 }
                 const auto* entry = live_entry(self, tenant_id);
                 if (entry == nullptr) {
                   done.fn(not_held(tenant_id));
                   return;
                 }
                 export_frozen(self, *entry, f->data, done);
               });
}

/// The WAL position of a frozen tenant as a dormant one keeps it (only the
/// count of uncovered records matters for a dormant tenant).
owner_log log_of(const frozen_tenant& f) {
  owner_log log;
  log.last_seq = f.last_seq;
  log.uncovered.assign(f.uncovered, f.last_seq);
  return log;
}

/// A dormant tenant with pending deliveries, or a stored one that may have
/// some, starts at once (they resume).
void resume_if_pending(self_ptr self, const std::string& tenant_id) {
  auto& s = self->state;
  auto* d = slot_as<dormant_tenant>(s, tenant_id);
  auto* stored = slot_as<stored_slot>(s, tenant_id);
  const auto* entry = live_entry(self, tenant_id);
  bool pending = (d != nullptr && d->data.pending > 0) ||
                 (stored != nullptr && stored->data.may_have_pending);
  if (s.delivery && pending && entry != nullptr && entry->active) {
    tenant_continuation ignore = [](tenant_actor) {};
    spawn_tenant(self, tenant_id, ignore);
  }
}

void thaw_tenant(self_ptr self, const std::string& tenant_id,
                 transfer_done done) {
  auto& s = self->state;
  auto* m = slot_as<moving_tenant>(s, tenant_id);
  if (m == nullptr) {
    // Nothing frozen: fine if the tenant serves here anyway.
    done.fn(live_entry(self, tenant_id) != nullptr ? caf::error{}
                                                   : not_held(tenant_id));
    return;
  }
  if (!m->frozen) {
    done.fn(make_error(errc::validation_failed, "tenant",
                       "a freeze of tenant " + tenant_id + " is under way"));
    return;
  }
  // A fresh actor starts from the frozen state: the frozen one's timers and
  // dropped outcomes end with it.
  end_actor(self, m->actor);
  dormant_tenant back{std::move(m->frozen->data), log_of(*m->frozen)};
  node_metrics().count_tenant(back.data, +1);
  s.tenants.insert_or_assign(tenant_id, std::move(back));
  resume_parked(s.table->thaw(tenant_id), false);
  resume_if_pending(self, tenant_id);
  spdlog::info("move: tenant={} thawed", tenant_id);
  done.fn({});
}

/// Deletes this node's copy of a tenant whose actor is not running (frozen
/// or none): a durable `tenant_moved_out`, then its snapshot and payloads.
void drop_copy(self_ptr self, const std::string& tenant_id,
               transfer_done done) {
  commit(
    self, tenant_moved_out{tenant_id, crypto::now_seconds()}, {},
    [self, done](const tenant_entry& gone) {
      auto& s = self->state;
      if (auto* m = slot_as<moving_tenant>(s, gone.id))
        end_actor(self, m->actor);
      else if (auto* d = slot_as<dormant_tenant>(s, gone.id))
        node_metrics().count_tenant(d->data, -1);
      s.tenants.erase(gone.id);
      resume_parked(s.table->remove(gone.id), false);
      self->request(s.wal, caf::infinite, purge_atom::value, gone.id)
        .then([done](bool) { done.fn({}); },
              [done](caf::error&) { done.fn({}); }); // recovery ignores it
    },
    [done](caf::error err) { done.fn(std::move(err)); });
}

void discard_tenant(self_ptr self, const std::string& tenant_id,
                    transfer_done done) {
  auto& s = self->state;
  auto i = s.data.tenants.find(tenant_id);
  if (i == s.data.tenants.end() || i->second.purged) {
    done.fn({}); // nothing held: nothing to delete
    return;
  }
  if (slot_as<running_tenant>(s, tenant_id) != nullptr ||
      slot_as<stored_slot>(s, tenant_id) != nullptr) {
    // Its actor's commits under way land before the record that forgets
    // the tenant: freeze first.
    freeze_actor(self, tenant_id,
                 [self, tenant_id, done](caf::expected<frozen_tenant> f) {
                   if (!f)
                     done.fn(std::move(f.error()));
                   else
                     drop_copy(self, tenant_id, done);
                 });
    return;
  }
  drop_copy(self, tenant_id, done);
}

void release_tenant(self_ptr self, const std::string& tenant_id, std::string to,
                    transfer_done done) {
  auto& s = self->state;
  auto* m = slot_as<moving_tenant>(s, tenant_id);
  if (m == nullptr || !m->frozen) {
    done.fn(make_error(errc::validation_failed, "tenant",
                       "tenant " + tenant_id + " is not frozen here"));
    return;
  }
  spdlog::info("move: tenant={} released to node={}", tenant_id, to);
  // The parked requests go to the new owner (the table answers `moved`).
  resume_parked(s.table->release(tenant_id, std::move(to)), false);
  drop_copy(self, tenant_id, done);
}

/// Why this node refuses an import of `id`: purged here, or held and
/// served here (an earlier import not activated is replaced).
caf::error import_refused(self_ptr self, const std::string& id) {
  auto& s = self->state;
  auto i = s.data.tenants.find(id);
  if (i == s.data.tenants.end())
    return {};
  if (i->second.purged)
    return make_error(errc::validation_failed, "tenant",
                      "tenant " + id + " was purged on this node");
  if (slot_as<incoming_tenant>(s, id) == nullptr)
    return make_error(errc::validation_failed, "tenant",
                      "tenant " + id + " is held and served here");
  return {};
}

/// Decodes one import (`prepare_import`) on a thread of its own, answers
/// and ends: a large tenant's decode holds up neither the directory (which
/// routes every other tenant of the node) nor a scheduler thread.
/// The import comes as spawn arguments (CAF 0.17 binds a function actor
/// spawned without arguments through a null `shared_ptr<tuple<>>`, which
/// UBSan reports as a null reference).
caf::behavior import_worker(caf::event_based_actor* self,
                            std::shared_ptr<tenant_export> x, uint64_t epoch) {
  return {
    [self, x, epoch](import_atom) -> caf::result<prepared_import> {
      self->quit();
      auto prepared = prepare_import(std::move(*x), epoch);
      if (!prepared)
        return std::move(prepared.error());
      return std::move(*prepared);
    },
  };
}

/// Writes a prepared import durably in one synced batch, then holds the
/// tenant as incoming.
void write_import(self_ptr self, prepared_import& p,
                  std::chrono::steady_clock::time_point started,
                  transfer_done done) {
  auto& s = self->state;
  const auto id = p.head.tenant_id;
  // The node may have changed while the worker decoded.
  if (auto err = import_refused(self, id)) {
    done.fn(std::move(err));
    return;
  }
  auto epoch = p.head.epoch;
  auto bytes = p.bytes;
  record head = std::move(p.head);
  wal_append req;
  req.owner = id;
  req.records.push_back(std::move(p.head_bytes));
  req.records.push_back(std::move(p.state_bytes));
  req.owners = {directory_owner, id};
  req.payloads = std::move(p.payloads);
  req.revives = true;
  if (slot_as<incoming_tenant>(s, id) != nullptr) {
    // An earlier import's payloads and snapshot go first (same mailbox
    // order at the writer).
    s.tenants.erase(id);
    self->request(s.wal, caf::infinite, purge_atom::value, id)
      .then([](bool) {}, [](caf::error&) {});
  }
  auto data = std::make_shared<tenant_state>(std::move(p.data));
  wal_commit(
    self, s.wal, std::move(req),
    [self, head = std::move(head), data, epoch, started, bytes,
     done](uint64_t seq) mutable {
      auto& st = self->state;
      if (auto err = wi::apply(st.data, head)) {
        done.fn(make_error(errc::internal,
                           "durable record did not apply: " + text_of(err)));
        return;
      }
      if (st.log.applied(seq))
        snapshot_directory(self, [](bool) {});
      const auto& tenant = tenant_of(head);
      dormant_tenant held{std::move(*data), {}};
      held.log.last_seq = seq + 1;
      held.log.uncovered.push_back(seq + 1);
      st.tenants.insert_or_assign(tenant,
                                  incoming_tenant{std::move(held), epoch});
      // Requests that find it here before `activate` (this node's placement
      // map may name it the owner as soon as the commit is in etcd) wait
      // instead of getting 401 for a tenant the table does not know.
      st.table->update(st.data.tenants.at(tenant));
      st.table->set_moving(tenant);
      schedule_expiry(self);
      spdlog::info("move: tenant={} imported epoch={} seq={} bytes={} ms={}",
                   tenant, epoch, seq, bytes,
                   std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - started)
                     .count());
      done.fn({});
    },
    [done](caf::error err) { done.fn(std::move(err)); });
}

void import_tenant(self_ptr self, tenant_export& x, uint64_t epoch,
                   transfer_done done) {
  if (auto err = import_refused(self, x.tenant_id)) {
    done.fn(std::move(err));
    return;
  }
  auto started = std::chrono::steady_clock::now();
  auto worker = self->spawn<caf::detached>(
    import_worker, std::make_shared<tenant_export>(std::move(x)), epoch);
  self->request(worker, caf::infinite, import_atom::value)
    .then([self, started,
           done](prepared_import& p) { write_import(self, p, started, done); },
          [done](caf::error& err) { done.fn(std::move(err)); });
}

void activate_tenant(self_ptr self, const std::string& tenant_id,
                     uint64_t epoch, transfer_done done) {
  auto& s = self->state;
  auto* in = slot_as<incoming_tenant>(s, tenant_id);
  if (in == nullptr) {
    const auto* entry = live_entry(self, tenant_id);
    done.fn(entry != nullptr && entry->epoch == epoch ? caf::error{}
                                                      : not_held(tenant_id));
    return;
  }
  if (in->epoch != epoch) {
    done.fn(make_error(errc::validation_failed, "epoch",
                       "tenant " + tenant_id + " was imported with epoch " +
                         std::to_string(in->epoch) + ", not " +
                         std::to_string(epoch)));
    return;
  }
  if (in->activating) {
    done.fn(
      make_error(errc::validation_failed, "tenant",
                 "an activation of tenant " + tenant_id + " is under way"));
    return;
  }
  in->activating = true;
  // Durable first: a restart must find the tenant active (it serves and
  // delivers from here) exactly when this node said so.
  commit(
    self, tenant_activated{tenant_id, epoch}, {},
    [self, tenant_id, epoch, done](const tenant_entry& entry) {
      auto& st = self->state;
      auto* active = slot_as<incoming_tenant>(st, tenant_id);
      if (active == nullptr) { // discarded meanwhile
        done.fn(not_held(tenant_id));
        return;
      }
      if (auto* d = std::get_if<dormant_tenant>(&active->held)) {
        node_metrics().count_tenant(d->data, +1);
        auto held = std::move(*d);
        st.tenants.insert_or_assign(tenant_id, std::move(held));
      } else {
        auto held = std::get<stored_slot>(std::move(active->held));
        st.tenants.insert_or_assign(tenant_id, std::move(held));
      }
      st.table->update(entry);
      resume_parked(st.table->thaw(tenant_id), false); // spawned on use
      resume_if_pending(self, tenant_id);
      spdlog::info("move: tenant={} active here epoch={}", tenant_id, epoch);
      done.fn({});
    },
    [self, tenant_id, done](caf::error err) {
      if (auto* still = slot_as<incoming_tenant>(self->state, tenant_id))
        still->activating = false;
      done.fn(std::move(err));
    });
}

/// One slot per recovered tenant of `node` (its decoded or stored state
/// with its WAL position); the directory's own position stays in
/// `node.logs`. A WAL position without a state (none is expected) becomes
/// an empty dormant tenant, as spawning would have made it.
tenant_slots slots_of(node_state& node) {
  tenant_slots result;
  auto log_of = [&](const std::string& id) {
    owner_log log;
    if (auto i = node.logs.find(id); i != node.logs.end()) {
      log = std::move(i->second);
      node.logs.erase(i);
    }
    return log;
  };
  // An import not activated yet stays incoming: not served, no actor, its
  // deliveries wait for the start-up reconcile.
  auto slot_of = [&](const std::string& id, auto held) -> tenant_slot {
    auto entry = node.directory.tenants.find(id);
    if (entry != node.directory.tenants.end() && entry->second.incoming)
      return incoming_tenant{std::move(held), entry->second.epoch};
    return held;
  };
  for (auto& [id, data] : node.tenants)
    result.emplace(id,
                   slot_of(id, dormant_tenant{std::move(data), log_of(id)}));
  for (auto& [id, data] : node.stored)
    result.emplace(id, slot_of(id, stored_slot{std::move(data), log_of(id)}));
  for (auto& [id, log] : node.logs) {
    auto entry = node.directory.tenants.find(id);
    if (entry == node.directory.tenants.end() || entry->second.purged)
      continue; // the directory's own, or a purged tenant's
    dormant_tenant empty;
    empty.data.tenant_id = id;
    empty.log = std::move(log);
    result.emplace(id, slot_of(id, std::move(empty)));
  }
  return result;
}

directory_actor::behavior_type
directory_impl(self_ptr self, node_state node, wal_writer_actor wal,
               std::shared_ptr<tenant_table> table, uint64_t snapshot_every,
               std::shared_ptr<const delivery_settings> delivery,
               wal_reader_actor reader) {
  auto& initial = self->state;
  if (auto i = node.logs.find(directory_owner); i != node.logs.end()) {
    initial.log = commit_log::starting_at(
      i->second.last_seq, i->second.uncovered.size(), snapshot_every);
    node.logs.erase(i);
  } else {
    initial.log = commit_log::starting_at(0, 0, snapshot_every);
  }
  initial.tenants = slots_of(node); // reads the registry: before it moves
  initial.data = std::move(node.directory);
  initial.wal = std::move(wal);
  initial.reader = std::move(reader);
  initial.table = std::move(table);
  initial.delivery = std::move(delivery);
  // Dormant states count in the gauges; a spawned actor takes its share
  // along (see `metrics::count_tenant`).
  for (const auto& [id, slot] : initial.tenants)
    if (auto* d = std::get_if<dormant_tenant>(&slot))
      node_metrics().count_tenant(d->data, +1);
  report_tenants(initial.data);
  // Requests of incoming tenants park (`spawn_directory`) until the
  // start-up reconcile activates or discards them.
  if (std::any_of(initial.tenants.begin(), initial.tenants.end(),
                  [](const auto& x) {
                    return std::holds_alternative<incoming_tenant>(x.second);
                  }))
    schedule_expiry(self);
  if (initial.delivery) {
    std::vector<std::string> busy;
    for (const auto& [id, slot] : initial.tenants) {
      if (auto* d = std::get_if<dormant_tenant>(&slot);
          d != nullptr && d->data.pending > 0 &&
          initial.data.tenants.at(id).active)
        busy.push_back(id);
      if (auto* st = std::get_if<stored_slot>(&slot);
          st != nullptr && st->data.may_have_pending)
        busy.push_back(id);
    }
    tenant_continuation ignore = [](tenant_actor) {};
    for (const auto& id : busy)
      spawn_tenant(self, id, ignore);
  }

  return {
    [self](create_atom, std::string& name, reply_fn<tenant_info>& reply) {
      register_tenant(self, name, {}, reply);
    },
    [self](create_atom, std::string& name, std::string& id,
           reply_fn<tenant_info>& reply) {
      register_tenant(self, name, std::move(id), reply);
    },
    [self](list_atom, const list_query& q, reply_fn<tenant_page>& reply) {
      list_tenants(self, q, reply);
    },
    [self](get_atom, const std::string& tenant_id,
           reply_fn<tenant_summary>& reply) {
      get_tenant(self, tenant_id, reply);
    },
    [self](inspect_atom, const std::string& tenant_id, endpoint_id id,
           reply_fn<endpoint_internal>& reply) {
      inspect_endpoint(self, tenant_id, id, reply);
    },
    [self](rotate_atom, const std::string& tenant_id, int64_t grace_seconds,
           reply_fn<issued_token>& reply) {
      rotate_token(self, tenant_id, grace_seconds, reply);
    },
    [self](deactivate_atom, const std::string& tenant_id, bool purge,
           reply_fn<tenant_summary>& reply) {
      deactivate_tenant(self, tenant_id, purge, reply);
    },
    [self](limits_atom, const std::string& tenant_id, const limits_patch& patch,
           reply_fn<tenant_summary>& reply) {
      change_limits(self, tenant_id, patch, reply); // issue 13
    },
    [self](snapshot_atom, reply_fn<uint64_t>& reply) {
      snapshot_all(self, [reply](uint64_t n) { reply(n); });
    },
    [self](node_atom, reply_fn<node_status>& reply) { node_of(self, reply); },
    // Warm-up, once the node is ready: every other stored tenant is started
    // too, so that each is decoded by its own actor in the background
    // (requests that arrive first queue behind the decode). The node then
    // holds every tenant decoded, as the state gauges and admin views
    // expect; readiness never waits for it.
    [self](warm_atom) { warm_up(self); },
    [self](spawn_atom, const std::string& tenant_id,
           tenant_continuation& cont) { spawn_tenant(self, tenant_id, cont); },
    [self](checkpoint_atom, const std::string& owner) {
      auto& s = self->state;
      if (owner == directory_owner)
        snapshot_directory(self, [](bool) {});
      else if (auto* r = slot_as<running_tenant>(s, owner))
        caf::anon_send(r->actor, checkpoint_atom::value);
      else if (auto* m = slot_as<moving_tenant>(s, owner))
        caf::anon_send(m->actor, checkpoint_atom::value);
      else if (slot_as<stored_slot>(s, owner) != nullptr) {
        tenant_continuation checkpoint = [](tenant_actor actor) {
          if (actor)
            caf::anon_send(actor, checkpoint_atom::value);
        };
        spawn_tenant(self, owner, checkpoint, spawn_for::node);
      } else
        snapshot_dormant(self, owner, [](bool) {});
    },
    [self](freeze_atom, const std::string& tenant_id, export_done& done) {
      freeze_tenant(self, tenant_id, std::move(done));
    },
    [self](thaw_atom, const std::string& tenant_id, transfer_done& done) {
      thaw_tenant(self, tenant_id, std::move(done));
    },
    [self](release_atom, const std::string& tenant_id, std::string& to,
           transfer_done& done) {
      release_tenant(self, tenant_id, std::move(to), std::move(done));
    },
    [self](import_atom, tenant_export& x, uint64_t epoch, transfer_done& done) {
      import_tenant(self, x, epoch, std::move(done));
    },
    [self](activate_atom, const std::string& tenant_id, uint64_t epoch,
           transfer_done& done) {
      activate_tenant(self, tenant_id, epoch, std::move(done));
    },
    [self](discard_atom, const std::string& tenant_id, transfer_done& done) {
      discard_tenant(self, tenant_id, std::move(done));
    },
    [self](expire_atom) { on_expire(self); },
    [self](shutdown_atom) {
      auto rp = self->make_response_promise<uint64_t>();
      snapshot_all(self, [rp](uint64_t n) mutable { rp.deliver(n); });
      return rp;
    },
  };
}

} // namespace

directory_actor
spawn_directory(caf::actor_system& sys, node_state node, wal_writer_actor wal,
                std::shared_ptr<tenant_table> table, uint64_t snapshot_every,
                std::shared_ptr<const delivery_settings> delivery,
                wal_reader_actor reader) {
  for (const auto& [id, entry] : node.directory.tenants) {
    table->update(entry);
    if (entry.incoming && !entry.purged)
      table->set_moving(id); // its requests wait for the reconcile
  }
  auto dir = sys.spawn(directory_impl, std::move(node), wal, std::move(table),
                       snapshot_every, std::move(delivery), std::move(reader));
  caf::anon_send(wal, listen_atom::value,
                 caf::actor_cast<checkpoint_actor>(dir));
  return dir;
}

} // namespace wi
