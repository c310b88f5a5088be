#include "persistence/payload_reader.hpp"

#include <string>

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "webhook_ingress/error.hpp"

namespace wi::persistence {

namespace {

struct payload_reader_state {
  std::shared_ptr<storage> store;
  static inline const char* name = "wi.payload_reader";
};

payload_reader_actor::behavior_type payload_reader(
  payload_reader_actor::stateful_pointer<payload_reader_state> self,
  std::shared_ptr<storage> store) {
  self->state.store = std::move(store);
  return {
    [self](get_atom, const std::string& key) -> caf::result<std::string> {
      auto value = self->state.store->get_payload(key);
      if (!value)
        return value.error();
      if (!*value)
        return make_error(errc::not_found, "payload", "no payload " + key);
      return std::move(**value);
    },
  };
}

} // namespace

payload_reader_actor spawn_payload_reader(caf::actor_system& sys,
                                          std::shared_ptr<storage> store) {
  return sys.spawn<caf::detached>(payload_reader, std::move(store));
}

std::string payload_key(std::string_view tenant_id, std::string_view event_id) {
  std::string result{tenant_id};
  result += '/';
  result += event_id;
  return result;
}

} // namespace wi::persistence
