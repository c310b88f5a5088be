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
  caf::reacts_to<peer_done_atom, uint64_t, forwarded_response>,
  caf::reacts_to<peer_done_atom, uint64_t, move_reply>>;

struct peer_state {
  local_handler handler;
  move_handlers moves;
  uint64_t next_id = 0;
  std::unordered_map<uint64_t, caf::typed_response_promise<forwarded_response>>
    pending;
  std::unordered_map<uint64_t, caf::typed_response_promise<move_reply>>
    pending_moves;
  static inline const char* name = "wi.peer";
};

peer_impl_actor::behavior_type
peer_impl(peer_impl_actor::stateful_pointer<peer_state> self,
          local_handler handler, move_handlers moves) {
  self->state.handler = std::move(handler);
  self->state.moves = std::move(moves);
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
    [self](peer_move_atom,
           move_offer& offer) -> caf::typed_response_promise<move_reply> {
      auto& st = self->state;
      auto promise = self->make_response_promise<move_reply>();
      if (!st.moves.offer) {
        promise.deliver(move_reply{false, "this node takes no moves"});
        return promise;
      }
      auto id = ++st.next_id;
      st.pending_moves.emplace(id, promise);
      auto back = caf::actor_cast<peer_impl_actor>(self);
      st.moves.offer(std::move(offer), [back, id](move_reply reply) {
        caf::anon_send(back, peer_done_atom::value, id, std::move(reply));
      });
      return promise;
    },
    [self](peer_done_atom, uint64_t id, move_reply& reply) {
      auto i = self->state.pending_moves.find(id);
      if (i == self->state.pending_moves.end())
        return;
      i->second.deliver(std::move(reply));
      self->state.pending_moves.erase(i);
    },
    [self](peer_discard_atom, std::string& tenant, uint64_t epoch) {
      if (self->state.moves.discard)
        self->state.moves.discard(std::move(tenant), epoch);
    },
  };
}

// -- the forwarding side
// -------------------------------------------------------

using clock = std::chrono::steady_clock;

/// One forward (or move offer) not answered yet.
struct in_flight {
  std::string peer;
  clock::time_point started;
  std::chrono::milliseconds timeout{0};
  /// Sends the message once connected; empty once sent.
  std::function<void(const peer_actor&)> send;
  /// Ends it with an error (exactly once, through `fail_one`).
  std::function<void(caf::error, std::string_view outcome)> fail;
};

/// One peer address.
struct peer_link {
  /// Set once connected; reset on its `down_msg`.
  peer_actor handle;
  bool connecting = false;
  /// Best-effort messages (discards) waiting for the connection.
  std::vector<std::function<void(const peer_actor&)>> waiting;
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

/// Removes `id` if it is still under way (not failed by a `down_msg` nor
/// answered yet).
std::optional<in_flight> take(forwarder_pointer self, uint64_t id) {
  auto i = self->state.forwards.find(id);
  if (i == self->state.forwards.end())
    return std::nullopt;
  auto f = std::move(i->second);
  self->state.forwards.erase(i);
  return f;
}

void fail_one(forwarder_pointer self, uint64_t id, std::string_view outcome) {
  if (auto f = take(self, id))
    f->fail(unavailable(), outcome);
}

/// Fails everything under way to `peer` at once (its connection went down
/// or could not be made).
void fail_peer(forwarder_pointer self, const std::string& peer,
               std::string_view outcome) {
  std::vector<uint64_t> ids;
  for (const auto& [id, f] : self->state.forwards)
    if (f.peer == peer)
      ids.push_back(id);
  for (auto id : ids)
    fail_one(self, id, outcome);
  self->state.peers[peer].waiting.clear();
}

/// The time left of `f`; nothing when it is over.
std::optional<std::chrono::milliseconds> time_left(const in_flight& f) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
    f.timeout - (clock::now() - f.started));
  if (left.count() <= 0)
    return std::nullopt;
  return left;
}

std::string_view outcome_of(const caf::error& err) {
  return err == caf::sec::request_timeout ? "timeout" : "unreachable";
}

/// Registers `f` under a new id and sends it now (connected) or once
/// connected.
void start(forwarder_pointer self, in_flight f);

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
        auto waiting = std::move(link.waiting);
        link.waiting.clear();
        for (auto& send : waiting)
          send(link.handle);

        // Every message to `peer` that waited for the connection (sending
        // may end one: collect first).
        std::vector<std::function<void(const peer_actor&)>> sends;
        for (auto& [id, f] : self->state.forwards) {
          if (f.peer != peer || !f.send)
            continue;
          sends.push_back(std::move(f.send));
          f.send = nullptr;
        }
        auto hdl = link.handle;
        for (auto& send : sends)
          send(hdl);
      },
      [self, peer](caf::error& err) {
        self->state.peers[peer].connecting = false;
        fail_peer(self, peer, outcome_of(err));
      });
}

void start(forwarder_pointer self, in_flight f) {
  auto& st = self->state;
  auto peer = f.peer;
  auto& link = st.peers[peer];
  auto id = ++st.next_id;
  if (link.handle) {
    auto send = std::move(f.send);
    f.send = nullptr;
    st.forwards.emplace(id, std::move(f));
    send(link.handle);
    return;
  }
  st.forwards.emplace(id, std::move(f));
  if (!link.connecting)
    connect(self, peer);
}

/// The id `start` gives the next entry.
uint64_t next_id(forwarder_pointer self) {
  return self->state.next_id + 1;
}

/// What sends `msg` (tagged `atom`) for entry `id` once connected, with the
/// time the entry has left, and hands the answer to `on_reply`.
template <class Atom, class Msg, class OnReply>
std::function<void(const peer_actor&)> sender(forwarder_pointer self,
                                              uint64_t id, Atom atom, Msg msg,
                                              OnReply on_reply) {
  return [self, id, atom, msg = std::move(msg),
          on_reply = std::move(on_reply)](const peer_actor& hdl) mutable {
    auto i = self->state.forwards.find(id);
    if (i == self->state.forwards.end())
      return;
    auto left = time_left(i->second);
    if (!left) {
      fail_one(self, id, "timeout");
      return;
    }
    self->request(hdl, *left, atom, std::move(msg))
      .then(on_reply, [self, id](caf::error& err) {
        fail_one(self, id, outcome_of(err));
      });
  };
}

void forward_request(forwarder_pointer self, std::string peer,
                     forwarded_request req, forward_done done) {
  auto id = next_id(self);
  auto started = clock::now();
  auto finish_with = std::make_shared<forward_done>(std::move(done));
  in_flight f;
  f.peer = peer;
  f.started = started;
  f.timeout = self->state.cfg.timeout;
  f.fail = [finish_with, peer, started](caf::error err,
                                        std::string_view outcome) {
    auto seconds =
      std::chrono::duration<double>(clock::now() - started).count();
    node_metrics().on_forward(outcome, seconds);
    spdlog::warn("forward to peer={} failed outcome={} after_ms={:.1f}: {}",
                 peer, outcome, seconds * 1000, to_string(err));
    finish_with->fn(std::move(err));
  };
  f.send = sender(
    self, id, peer_fwd_atom::value, std::move(req),
    [self, id, finish_with](forwarded_response& resp) {
      auto entry = take(self, id);
      if (!entry)
        return;
      node_metrics().on_forward(
        "answered",
        std::chrono::duration<double>(clock::now() - entry->started).count());
      finish_with->fn(std::move(resp));
    });
  start(self, std::move(f));
}

void offer_move(forwarder_pointer self, std::string peer, move_offer offer,
                move_done done) {
  auto id = next_id(self);
  auto finish_with = std::make_shared<move_done>(std::move(done));
  in_flight f;
  f.peer = peer;
  f.started = clock::now();
  f.timeout = finish_with->timeout;
  f.fail = [finish_with, peer](caf::error err, std::string_view outcome) {
    spdlog::warn("move offer to peer={} failed outcome={}: {}", peer, outcome,
                 to_string(err));
    finish_with->fn(std::move(err));
  };
  f.send = sender(self, id, peer_move_atom::value, std::move(offer),
                  [self, id, finish_with](move_reply& reply) {
                    if (take(self, id))
                      finish_with->fn(std::move(reply));
                  });
  start(self, std::move(f));
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
      forward_request(self, std::move(peer), std::move(req), std::move(done));
    },
    [self](peer_move_atom, std::string& peer, move_offer& offer,
           move_done& done) {
      offer_move(self, std::move(peer), std::move(offer), std::move(done));
    },
    [self](peer_discard_atom, std::string& peer, std::string& tenant,
           uint64_t epoch) {
      auto send = [self, tenant, epoch](const peer_actor& hdl) {
        self->send(hdl, peer_discard_atom::value, tenant, epoch);
      };
      auto& link = self->state.peers[peer];
      if (link.handle) {
        send(link.handle);
        return;
      }
      link.waiting.push_back(std::move(send));
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
  cfg.add_message_type<tenant_export>("wi_tenant_export");
  cfg.add_message_type<move_offer>("wi_move_offer");
  cfg.add_message_type<move_reply>("wi_move_reply");
}

peer_actor spawn_peer(caf::actor_system& sys, local_handler handler,
                      move_handlers moves) {
  return caf::actor_cast<peer_actor>(
    sys.spawn(peer_impl, std::move(handler), std::move(moves)));
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
