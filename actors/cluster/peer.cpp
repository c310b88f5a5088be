#include "actors/cluster/peer.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <memory>
#include <optional>
#include <unordered_map>

#include <caf/io/middleman.hpp>
#include <caf/io/middleman_actor.hpp>
#include <caf/io/publish.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>
#include <spdlog/spdlog.h>

#include "actors/common/metrics.hpp"
#include "webhook_ingress/error.hpp"

namespace wi::cluster {

namespace {

bool iequals(std::string_view x, std::string_view y) noexcept {
  return x.size() == y.size() &&
         std::equal(x.begin(), x.end(), y.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) ==
                  std::tolower(static_cast<unsigned char>(b));
         });
}

// -- the published side
// --------------------------------------------------------

/// The peer actor's full interface: the published one plus the message its
/// continuations send back to it (delivered promises stay on its thread).
using peer_impl_actor = peer_actor::extend<
  caf::reacts_to<peer_done_atom, uint64_t, forwarded_response>>;

struct peer_state {
  local_handler handler;
  uint64_t next_id = 0;
  std::unordered_map<uint64_t, caf::typed_response_promise<forwarded_response>>
    pending;
  static inline const char* name = "wi.peer";
};

peer_impl_actor::behavior_type
peer_impl(peer_impl_actor::stateful_pointer<peer_state> self,
          local_handler handler) {
  self->state.handler = std::move(handler);
  return {
    [self](peer_fwd_atom, forwarded_request& req)
      -> caf::typed_response_promise<forwarded_response> {
      auto& st = self->state;
      auto promise = self->make_response_promise<forwarded_response>();
      auto id = ++st.next_id;
      st.pending.emplace(id, promise);
      // The handler answers from whatever thread computes the answer: hop
      // back onto this actor to deliver.
      auto back = caf::actor_cast<peer_impl_actor>(self);
      st.handler(std::move(req), [back, id](forwarded_response resp) {
        caf::anon_send(back, peer_done_atom::value, id, std::move(resp));
      });
      return promise;
    },
    [self](peer_done_atom, uint64_t id, forwarded_response& resp) {
      auto i = self->state.pending.find(id);
      if (i == self->state.pending.end())
        return;
      i->second.deliver(std::move(resp));
      self->state.pending.erase(i);
    },
  };
}

// -- the forwarding side
// -------------------------------------------------------

using clock = std::chrono::steady_clock;

/// One forward not answered yet.
struct in_flight {
  std::string peer;
  forward_done done;
  clock::time_point started;
  /// The request while it waits for the connection; empty once sent.
  std::optional<forwarded_request> waiting;
};

/// One peer address.
struct peer_link {
  /// Set once connected; reset on its `down_msg`.
  peer_actor handle;
  bool connecting = false;
};

struct forwarder_state {
  forwarder_config cfg;
  uint64_t next_id = 0;
  std::unordered_map<std::string, peer_link> peers;
  std::unordered_map<uint64_t, in_flight> forwards;
  static inline const char* name = "wi.forwarder";
};

using forwarder_pointer = forwarder_actor::stateful_pointer<forwarder_state>;

caf::error unavailable() {
  return make_error(errc::tenant_unavailable,
                    "the node that owns this tenant is unreachable; retry "
                    "later");
}

/// Ends forward `id` with `result` (if it is still under way) and counts it
/// under `outcome`.
void finish(forwarder_pointer self, uint64_t id,
            caf::expected<forwarded_response> result,
            std::string_view outcome) {
  auto i = self->state.forwards.find(id);
  if (i == self->state.forwards.end())
    return; // already failed by a down_msg, or answered
  auto f = std::move(i->second);
  self->state.forwards.erase(i);
  auto seconds =
    std::chrono::duration<double>(clock::now() - f.started).count();
  node_metrics().on_forward(outcome, seconds);
  if (!result)
    spdlog::warn("forward to peer={} failed outcome={} after_ms={:.1f}: {}",
                 f.peer, outcome, seconds * 1000, to_string(result.error()));
  f.done.fn(std::move(result));
}

/// Fails every forward to `peer` at once (its connection went down or could
/// not be made).
void fail_peer(forwarder_pointer self, const std::string& peer,
               std::string_view outcome) {
  std::vector<uint64_t> ids;
  for (const auto& [id, f] : self->state.forwards)
    if (f.peer == peer)
      ids.push_back(id);
  for (auto id : ids)
    finish(self, id, unavailable(), outcome);
}

void send_forward(forwarder_pointer self, uint64_t id, const peer_actor& hdl,
                  forwarded_request req, clock::time_point started) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
    self->state.cfg.timeout - (clock::now() - started));
  if (left.count() <= 0) {
    finish(self, id, unavailable(), "timeout");
    return;
  }
  self->request(hdl, left, peer_fwd_atom::value, std::move(req))
    .then(
      [self, id](forwarded_response& resp) {
        finish(self, id, std::move(resp), "answered");
      },
      [self, id](caf::error& err) {
        finish(self, id, unavailable(),
               err == caf::sec::request_timeout ? "timeout" : "unreachable");
      });
}

/// Sends every forward to `peer` that waited for the connection.
void flush_waiting(forwarder_pointer self, const std::string& peer,
                   const peer_actor& hdl) {
  for (auto& [id, f] : self->state.forwards) {
    if (f.peer != peer || !f.waiting)
      continue;
    auto req = std::move(*f.waiting);
    f.waiting.reset();
    send_forward(self, id, hdl, std::move(req), f.started);
  }
}

void connect(forwarder_pointer self, const std::string& peer) {
  auto addr = parse_peer_address(peer);
  if (!addr) {
    fail_peer(self, peer, "unreachable");
    return;
  }
  self->state.peers[peer].connecting = true;
  // The middleman actor connects on its own thread: asking it does not
  // block this one (io::remote_actor would).
  auto mm = self->system().middleman().actor_handle();
  self
    ->request(mm, self->state.cfg.timeout, caf::connect_atom::value,
              addr->first, addr->second)
    .then(
      [self, peer](const caf::node_id&, caf::strong_actor_ptr& ptr,
                   const std::set<std::string>& ifs) {
        auto& link = self->state.peers[peer];
        link.connecting = false;
        if (!ptr || ifs != self->system().message_types<peer_actor>()) {
          spdlog::warn("peer={} publishes no webhook-ingress peer actor", peer);
          fail_peer(self, peer, "unreachable");
          return;
        }
        link.handle = caf::actor_cast<peer_actor>(std::move(ptr));
        self->monitor(link.handle);
        flush_waiting(self, peer, link.handle);
      },
      [self, peer](caf::error& err) {
        self->state.peers[peer].connecting = false;
        fail_peer(self, peer,
                  err == caf::sec::request_timeout ? "timeout" : "unreachable");
      });
}

forwarder_actor::behavior_type forwarder(forwarder_pointer self,
                                         forwarder_config cfg) {
  self->state.cfg = cfg;
  self->set_down_handler([self](caf::down_msg& msg) {
    for (auto& [peer, link] : self->state.peers) {
      if (link.handle && link.handle.address() == msg.source) {
        spdlog::warn("peer={} down: {}", peer, to_string(msg.reason));
        link.handle = nullptr; // the next forward connects again
        fail_peer(self, peer, "peer_down");
        return;
      }
    }
  });
  return {
    [self](peer_fwd_atom, std::string& peer, forwarded_request& req,
           forward_done& done) {
      auto& st = self->state;
      auto id = ++st.next_id;
      auto started = clock::now();
      auto& link = st.peers[peer];
      if (link.handle) {
        st.forwards.emplace(id, in_flight{peer, std::move(done), started, {}});
        send_forward(self, id, link.handle, std::move(req), started);
        return;
      }
      st.forwards.emplace(
        id, in_flight{peer, std::move(done), started, std::move(req)});
      if (!link.connecting)
        connect(self, peer);
    },
  };
}

} // namespace

const std::vector<std::string>& forwarded_header_names() {
  static const std::vector<std::string> names{
    "Authorization", "Content-Type", "Idempotency-Key", "X-Request-Id"};
  return names;
}

const std::vector<std::string>& answer_header_names() {
  static const std::vector<std::string> names{
    "Content-Type", "Retry-After", "Location", "X-Request-Id", "Allow"};
  return names;
}

const std::string* find_header(const header_list& headers,
                               std::string_view name) noexcept {
  for (const auto& [key, value] : headers)
    if (iequals(key, name))
      return &value;
  return nullptr;
}

void configure_peer_layer(caf::actor_system_config& cfg) {
  cfg.load<caf::io::middleman>();
  cfg.add_message_type<forwarded_request>("wi_fwd_req");
  cfg.add_message_type<forwarded_response>("wi_fwd_resp");
}

peer_actor spawn_peer(caf::actor_system& sys, local_handler handler) {
  return caf::actor_cast<peer_actor>(sys.spawn(peer_impl, std::move(handler)));
}

caf::expected<uint16_t> publish_peer(caf::actor_system& sys,
                                     const peer_actor& peer,
                                     const std::string& host, uint16_t port) {
  auto bound = sys.middleman().publish(peer, port, host.c_str(), true);
  if (!bound)
    return make_error(errc::internal, "peer-listen",
                      "cannot listen for peers on " + host + ":" +
                        std::to_string(port) + ": " +
                        sys.render(bound.error()));
  return *bound;
}

std::optional<std::pair<std::string, uint16_t>>
parse_peer_address(std::string_view address) {
  auto colon = address.rfind(':');
  if (colon == std::string_view::npos || colon == 0 ||
      colon + 1 == address.size())
    return std::nullopt;
  auto host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2); // [::1]:port
  auto digits = address.substr(colon + 1);
  uint32_t port = 0;
  auto [end, ec] =
    std::from_chars(digits.data(), digits.data() + digits.size(), port);
  if (ec != std::errc{} || end != digits.data() + digits.size() || port == 0 ||
      port > 65535)
    return std::nullopt;
  return std::pair{std::string{host}, static_cast<uint16_t>(port)};
}

forwarder_actor spawn_forwarder(caf::actor_system& sys, forwarder_config cfg) {
  return sys.spawn(forwarder, cfg);
}

std::function<void(std::string, forwarded_request, forward_done)>
forward_function(forwarder_actor forwarder) {
  return [forwarder = std::move(forwarder)](
           std::string peer, forwarded_request req, forward_done done) {
    caf::anon_send(forwarder, peer_fwd_atom::value, std::move(peer),
                   std::move(req), std::move(done));
  };
}

} // namespace wi::cluster
