#include "actors/directory_actor.hpp"

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include <caf/actor_cast.hpp>
#include <caf/send.hpp>

#include "actors/crypto.hpp"
#include "actors/stored_tenant_actor.hpp"
#include "actors/tenant_actor.hpp"
#include "persistence/record_codec.hpp"
#include "persistence/snapshot_codec.hpp"
#include "webhook_ingress/error.hpp"

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
  if (st.uncovered == 0)
    return false;
  st.uncovered = 0;
  write_snapshot(self, directory_owner, st.last_seq,
                 persistence::encode_snapshot(st.data), std::move(done));
  return true;
}

/// Snapshots a dormant tenant if it has uncovered records. Returns whether a
/// snapshot was started.
bool snapshot_dormant(self_ptr self, const std::string& tenant_id,
                      snapshot_done done) {
  auto& st = self->state;
  auto log = st.dormant_logs.find(tenant_id);
  auto data = st.dormant.find(tenant_id);
  if (log == st.dormant_logs.end() || log->second.uncovered.empty() ||
      data == st.dormant.end())
    return false;
  log->second.uncovered.clear();
  write_snapshot(self, tenant_id, log->second.last_seq,
                 persistence::encode_snapshot(data->second), std::move(done));
  return true;
}

void register_tenant(self_ptr self, std::string& name,
                     reply_fn<tenant_info>& reply) {
  auto id = crypto::make_tenant_id();
  while (self->state.data.tenants.count(id) > 0)
    id = crypto::make_tenant_id();
  auto token = crypto::make_tenant_token(id);
  tenant_created rec{id, std::move(name), crypto::sha256(token),
                     crypto::now_seconds()};
  self
    ->request(self->state.wal, caf::infinite, append_atom::value,
              std::string{directory_owner}, persistence::encode(rec))
    .then(
      [self, rec, token, reply](uint64_t seq) {
        auto& s = self->state;
        if (auto err = wi::apply(s.data, rec)) {
          reply(make_error(errc::internal,
                           "durable record did not apply: " + text_of(err)));
          return;
        }
        s.last_seq = seq;
        if (++s.uncovered >= s.snapshot_every)
          snapshot_directory(self, [](bool) {});
        s.dormant[rec.tenant_id].tenant_id = rec.tenant_id;
        s.table->put(rec.tenant_id, rec.token_hash, true, {});
        auto info = info_of(s.data.tenants.at(rec.tenant_id));
        info.token = token;
        reply(std::move(info));
      },
      [reply](caf::error& err) { reply(std::move(err)); });
}

void spawn_tenant(self_ptr self, const std::string& tenant_id,
                  tenant_continuation& cont) {
  auto& s = self->state;
  if (auto i = s.running.find(tenant_id); i != s.running.end()) {
    cont(i->second);
    return;
  }
  if (s.data.tenants.count(tenant_id) == 0) {
    cont(tenant_actor{});
    return;
  }
  owner_log log;
  if (auto i = s.dormant_logs.find(tenant_id); i != s.dormant_logs.end()) {
    log = std::move(i->second);
    s.dormant_logs.erase(i);
  }
  tenant_actor actor;
  if (auto i = s.stored.find(tenant_id); i != s.stored.end()) {
    auto stored = std::move(i->second);
    s.stored.erase(i);
    actor = self->spawn<caf::linked>(stored_tenant_actor_impl, tenant_id,
                                     std::move(stored), std::move(log), s.wal,
                                     s.snapshot_every, s.delivery);
  } else {
    tenant_state init;
    if (auto j = s.dormant.find(tenant_id); j != s.dormant.end()) {
      init = std::move(j->second);
      s.dormant.erase(j);
    } else {
      init.tenant_id = tenant_id;
    }
    actor = self->spawn<caf::linked>(tenant_actor_impl, std::move(init),
                                     std::move(log), s.wal, s.snapshot_every,
                                     s.delivery);
  }
  s.running.emplace(tenant_id, actor);
  s.table->set_actor(tenant_id, actor);
  cont(std::move(actor));
}

/// Starts every stored tenant that has records its snapshot does not
/// cover: its actor decodes it and snapshots like any running tenant.
void start_stored_with_uncovered(self_ptr self) {
  auto& s = self->state;
  std::vector<std::string> ids;
  for (const auto& [id, stored] : s.stored)
    if (auto i = s.dormant_logs.find(id);
        i != s.dormant_logs.end() && !i->second.uncovered.empty())
      ids.push_back(id);
  tenant_continuation ignore = [](tenant_actor) {};
  for (const auto& id : ids)
    spawn_tenant(self, id, ignore);
}

/// Snapshots everything with uncovered records; `rp` gets the number of
/// snapshots written once every one of them finished.
void shutdown(self_ptr self, caf::typed_response_promise<uint64_t> rp) {
  struct tally {
    caf::typed_response_promise<uint64_t> rp;
    size_t outstanding = 1; // released after all are started
    uint64_t written = 0;
  };
  auto t = std::make_shared<tally>();
  t->rp = std::move(rp);
  snapshot_done done = [t](bool ok) {
    t->written += ok ? 1 : 0;
    if (--t->outstanding == 0)
      t->rp.deliver(t->written);
  };
  auto& s = self->state;
  start_stored_with_uncovered(self);
  for (const auto& [id, actor] : s.running) {
    ++t->outstanding;
    self->request(actor, caf::infinite, checkpoint_atom::value)
      .then([done](uint64_t) { done(true); },
            [done](caf::error&) { done(false); });
  }
  for (const auto& [id, log] : s.dormant_logs) {
    ++t->outstanding;
    if (!snapshot_dormant(self, id, done))
      --t->outstanding;
  }
  ++t->outstanding;
  if (!snapshot_directory(self, done))
    --t->outstanding;
  done(false); // releases the initial count without counting a snapshot
}

directory_actor::behavior_type
directory_impl(self_ptr self, node_state node, wal_writer_actor wal,
               std::shared_ptr<tenant_table> table, uint64_t snapshot_every,
               std::shared_ptr<const delivery_settings> delivery) {
  auto& initial = self->state;
  initial.data = std::move(node.directory);
  initial.dormant = std::move(node.tenants);
  initial.stored = std::move(node.stored);
  if (auto i = node.logs.find(directory_owner); i != node.logs.end()) {
    initial.last_seq = i->second.last_seq;
    initial.uncovered = i->second.uncovered.size();
    node.logs.erase(i);
  }
  initial.dormant_logs = std::move(node.logs);
  initial.wal = std::move(wal);
  initial.table = std::move(table);
  initial.snapshot_every = std::max<uint64_t>(snapshot_every, 1);
  initial.delivery = std::move(delivery);
  if (initial.delivery) {
    std::vector<std::string> busy;
    for (const auto& [id, tenant] : initial.dormant)
      if (tenant.pending > 0)
        busy.push_back(id);
    for (const auto& [id, stored] : initial.stored)
      if (stored.may_have_pending)
        busy.push_back(id);
    tenant_continuation ignore = [](tenant_actor) {};
    for (const auto& id : busy)
      spawn_tenant(self, id, ignore);
  }
  return {
    [self](create_atom, std::string& name, reply_fn<tenant_info>& reply) {
      register_tenant(self, name, reply);
    },
    [self](list_atom, reply_fn<std::vector<tenant_info>>& reply) {
      std::vector<tenant_info> result;
      result.reserve(self->state.data.tenants.size());
      for (const auto& [id, entry] : self->state.data.tenants)
        result.push_back(info_of(entry));
      reply(std::move(result));
    },
    [self](spawn_atom, const std::string& tenant_id,
           tenant_continuation& cont) { spawn_tenant(self, tenant_id, cont); },
    [self](checkpoint_atom, const std::string& owner) {
      auto& s = self->state;
      if (owner == directory_owner)
        snapshot_directory(self, [](bool) {});
      else if (auto i = s.running.find(owner); i != s.running.end())
        caf::anon_send(i->second, checkpoint_atom::value);
      else if (s.stored.count(owner) > 0) {
        tenant_continuation checkpoint = [](tenant_actor actor) {
          if (actor)
            caf::anon_send(actor, checkpoint_atom::value);
        };
        spawn_tenant(self, owner, checkpoint);
      } else
        snapshot_dormant(self, owner, [](bool) {});
    },
    [self](shutdown_atom) {
      auto rp = self->make_response_promise<uint64_t>();
      shutdown(self, rp);
      return rp;
    },
  };
}

} // namespace

directory_actor
spawn_directory(caf::actor_system& sys, node_state node, wal_writer_actor wal,
                std::shared_ptr<tenant_table> table, uint64_t snapshot_every,
                std::shared_ptr<const delivery_settings> delivery) {
  for (const auto& [id, entry] : node.directory.tenants)
    table->put(id, entry.token_hash, entry.active, {});
  auto dir = sys.spawn(directory_impl, std::move(node), wal, std::move(table),
                       snapshot_every, std::move(delivery));
  caf::anon_send(wal, listen_atom::value,
                 caf::actor_cast<checkpoint_actor>(dir));
  return dir;
}

} // namespace wi
