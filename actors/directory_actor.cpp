#include "actors/directory_actor.hpp"

#include <utility>
#include <vector>

#include "actors/crypto.hpp"
#include "actors/tenant_actor.hpp"
#include "persistence/record_codec.hpp"
#include "webhook_ingress/error.hpp"

namespace wi {

namespace {

using self_ptr = directory_actor::stateful_pointer<directory_actor_state>;

directory_actor::behavior_type
directory_impl(self_ptr self, directory_state data,
               std::unordered_map<std::string, tenant_state> dormant,
               wal_writer_actor wal, std::shared_ptr<tenant_table> table) {
  auto& st = self->state;
  st.data = std::move(data);
  st.dormant = std::move(dormant);
  st.wal = std::move(wal);
  st.table = std::move(table);
  return {
    [self](create_atom, std::string& name, reply_fn<tenant_info>& reply) {
      auto id = crypto::make_tenant_id();
      while (self->state.data.tenants.count(id) > 0)
        id = crypto::make_tenant_id();
      auto token = crypto::make_tenant_token(id);
      tenant_created rec{id, std::move(name), crypto::sha256(token),
                         crypto::now_seconds()};
      self
        ->request(self->state.wal, caf::infinite, append_atom::value,
                  persistence::encode(rec))
        .then(
          [self, rec, token, reply](uint64_t) {
            auto& s = self->state;
            if (auto err = wi::apply(s.data, rec)) {
              reply(
                make_error(errc::internal,
                           "durable record did not apply: " + text_of(err)));
              return;
            }
            s.dormant[rec.tenant_id].tenant_id = rec.tenant_id;
            s.table->put(rec.tenant_id, rec.token_hash, true, {});
            auto info = info_of(s.data.tenants.at(rec.tenant_id));
            info.token = token;
            reply(std::move(info));
          },
          [reply](caf::error& err) { reply(std::move(err)); });
    },
    [self](list_atom, reply_fn<std::vector<tenant_info>>& reply) {
      std::vector<tenant_info> result;
      result.reserve(self->state.data.tenants.size());
      for (const auto& [id, entry] : self->state.data.tenants)
        result.push_back(info_of(entry));
      reply(std::move(result));
    },
    [self](spawn_atom, const std::string& tenant_id,
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
      tenant_state init;
      if (auto i = s.dormant.find(tenant_id); i != s.dormant.end()) {
        init = std::move(i->second);
        s.dormant.erase(i);
      } else {
        init.tenant_id = tenant_id;
      }
      auto actor =
        self->spawn<caf::linked>(tenant_actor_impl, std::move(init), s.wal);
      s.running.emplace(tenant_id, actor);
      s.table->set_actor(tenant_id, actor);
      cont(std::move(actor));
    },
  };
}

} // namespace

directory_actor spawn_directory(caf::actor_system& sys, node_state node,
                                wal_writer_actor wal,
                                std::shared_ptr<tenant_table> table) {
  for (const auto& [id, entry] : node.directory.tenants)
    table->put(id, entry.token_hash, entry.active, {});
  return sys.spawn(directory_impl, std::move(node.directory),
                   std::move(node.tenants), std::move(wal), std::move(table));
}

} // namespace wi
