#include "webhook_ingress/cluster.hpp"

namespace wi::cluster {

std::string_view to_string(node_state state) noexcept {
  switch (state) {
  case node_state::joining:
    return "joining";
  case node_state::active:
    return "active";
  case node_state::draining:
    return "draining";
  case node_state::drained:
    return "drained";
  }
  return "joining";
}

std::optional<node_state> parse_node_state(std::string_view name) noexcept {
  for (auto state : {node_state::joining, node_state::active,
                     node_state::draining, node_state::drained})
    if (to_string(state) == name)
      return state;
  return std::nullopt;
}

std::string_view to_string(move_state state) noexcept {
  switch (state) {
  case move_state::freezing:
    return "freezing";
  case move_state::shipping:
    return "shipping";
  case move_state::importing:
    return "importing";
  case move_state::committing:
    return "committing";
  case move_state::releasing:
    return "releasing";
  case move_state::done:
    return "done";
  case move_state::aborted:
    return "aborted";
  }
  return "aborted";
}

} // namespace wi::cluster
