#include "actors/cluster/peer.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>

#include <caf/io/middleman.hpp>
#include <caf/io/middleman_actor.hpp>
#include <caf/io/publish.hpp>
#include <caf/io/typed_broker.hpp>
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

using peer_flush_atom = caf::atom_constant<caf::atom("peerflsh")>;

/// Where a peer sends the answers to a batch: the batch's sender (a
/// forwarder, seen through its proxy).
using answer_sink =
  caf::typed_actor<caf::reacts_to<peer_answer_atom, std::vector<answer_item>>>;

/// The peer actor's full interface: the published one plus the messages its
/// continuations send to it (answers to send back, move replies to deliver).
using peer_impl_actor =
  peer_actor::extend<caf::reacts_to<peer_flush_atom>,
                     caf::reacts_to<peer_done_atom, uint64_t, move_reply>>;

/// Answers waiting to go back to their senders: filled from whatever thread
/// computes an answer, emptied by the peer actor. One flush message is on
/// its way while it is not empty (`armed`), so the answers computed
/// meanwhile leave together.
struct answer_box {
  std::mutex mtx;
  std::vector<std::pair<caf::strong_actor_ptr, answer_item>> items;
  bool armed = false;
};

struct peer_state {
  local_handler handler;
  move_handlers moves;
  batch_limits limits;
  std::shared_ptr<answer_box> answers = std::make_shared<answer_box>();
  uint64_t next_id = 0;
  std::unordered_map<uint64_t, caf::typed_response_promise<move_reply>>
    pending_moves;
  static inline const char* name = "wi.peer";
};

using peer_pointer = peer_impl_actor::stateful_pointer<peer_state>;

/// Body bytes of each item, for `batch_ranges`.
template <class Item, class BodyOf>
std::vector<size_t> body_sizes(const std::vector<Item>& items, BodyOf body_of) {
  std::vector<size_t> sizes;
  sizes.reserve(items.size());
  for (const auto& x : items)
    sizes.push_back(body_of(x).size());
  return sizes;
}

/// Calls `send` with consecutive batches of `items` within `limits` (moved
/// out of `items`).
template <class Item, class BodyOf, class Send>
void for_each_batch(std::vector<Item>& items, batch_limits limits,
                    BodyOf body_of, Send send) {
  auto ranges = batch_ranges(body_sizes(items, body_of), limits);
  if (ranges.size() == 1) {
    send(std::move(items));
    return;
  }
  for (auto [first, last] : ranges) {
    std::vector<Item> batch;
    batch.reserve(last - first);
    for (auto i = first; i < last; ++i)
      batch.push_back(std::move(items[i]));
    send(std::move(batch));
  }
}

/// Sends the answers waiting in the box to their senders, one batch message
/// per sender (more when over the limits).
void flush_answers(peer_pointer self) {
  std::vector<std::pair<caf::strong_actor_ptr, answer_item>> items;
  {
    auto& box = *self->state.answers;
    std::lock_guard guard{box.mtx};
    items.swap(box.items);
    box.armed = false;
  }
  // Usually one sender or two: a linear search.
  std::vector<std::pair<caf::strong_actor_ptr, std::vector<answer_item>>>
    by_sender;
  for (auto& [sender, item] : items) {
    auto i = std::find_if(by_sender.begin(), by_sender.end(),
                          [&](const auto& x) { return x.first == sender; });
    if (i == by_sender.end()) {
      by_sender.emplace_back(sender, std::vector<answer_item>{});
      i = std::prev(by_sender.end());
    }
    i->second.push_back(std::move(item));
  }
  for (auto& [sender, answers] : by_sender) {
    auto to = caf::actor_cast<answer_sink>(sender);
    for_each_batch(
      answers, self->state.limits,
      [](const answer_item& x) -> const std::string& { return x.resp.body; },
      [self, &to](std::vector<answer_item> batch) {
        self->send(to, peer_answer_atom::value, std::move(batch));
      });
  }
}

/// Runs every request of a batch through the handler; each answer joins the
/// box.
void serve_batch(peer_pointer self, std::vector<forward_item>& items) {
  auto sender = self->current_sender();
  if (!sender)
    return; // nobody to answer
  auto back = caf::actor_cast<peer_impl_actor>(self);
  auto box = self->state.answers;
  for (auto& item : items) {
    self->state.handler(std::move(item.req), [back, box, sender, id = item.id](
                                               forwarded_response resp) {
      bool wake = false;
      {
        std::lock_guard guard{box->mtx};
        box->items.emplace_back(sender, answer_item{id, std::move(resp)});
        wake = !std::exchange(box->armed, true);
      }
      if (wake)
        caf::anon_send(back, peer_flush_atom::value);
    });
  }
}

peer_impl_actor::behavior_type peer_impl(peer_pointer self,
                                         local_handler handler,
                                         move_handlers moves,
                                         batch_limits limits) {
  self->state.handler = std::move(handler);
  self->state.moves = std::move(moves);
  self->state.limits = limits;
  return {
    [self](peer_fwd_atom, std::vector<forward_item>& items) {
      serve_batch(self, items);
    },
    [self](peer_flush_atom) { flush_answers(self); },
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

using fwd_sweep_atom = caf::atom_constant<caf::atom("fwdsweep")>;

/// The forwarder's full interface: the public one plus the answers of its
/// peers and its sweep timer.
using forwarder_impl_actor = forwarder_actor::extend_with<answer_sink>::extend<
  caf::reacts_to<fwd_sweep_atom>>;

} // namespace

/// One forward handed to the forwarder, waiting for it to take the queue.
struct queued_forward {
  std::string peer;
  forwarded_request req;
  forward_done done;
  clock::time_point started;
};

struct forward_queue {
  forwarder_actor forwarder;
  std::mutex mtx;
  std::vector<queued_forward> items;
  /// Whether a message telling the forwarder to take the queue is on its
  /// way (one while the queue is not empty).
  bool armed = false;
};

namespace {

/// One forward not answered yet.
struct forward_entry {
  std::string peer;
  clock::time_point started;
  clock::time_point deadline;
  forward_done done;
  /// The request while it waits for the connection; empty once sent.
  std::optional<forwarded_request> waiting;
};

/// One move offer not answered yet.
struct offer_entry {
  std::string peer;
  clock::time_point deadline;
  /// Sends the offer once connected; empty once sent.
  std::function<void(const peer_actor&)> send;
  /// Ends it with an error (exactly once, through `fail_offer`).
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
  std::unordered_map<uint64_t, forward_entry> forwards;
  std::unordered_map<uint64_t, offer_entry> offers;
  /// Whether a sweep message is on its way (one at a time, none while
  /// nothing is in flight).
  bool sweep_armed = false;
  static inline const char* name = "wi.forwarder";
};

/// The forwarder is a broker: it runs on the middleman's thread, where the
/// batches leave and the answers arrive, so neither waits for another
/// thread of this node.
using forwarder_pointer =
  forwarder_impl_actor::stateful_broker_pointer<forwarder_state>;

caf::error unavailable() {
  return make_error(errc::tenant_unavailable,
                    "the node that owns this tenant is unreachable; retry "
                    "later");
}

double seconds_since(clock::time_point started) {
  return std::chrono::duration<double>(clock::now() - started).count();
}

/// Ends forward `id` (if it is still under way) with the owner's answer and
/// counts it as answered.
void answer_forward(forwarder_pointer self, uint64_t id,
                    forwarded_response resp) {
  auto i = self->state.forwards.find(id);
  if (i == self->state.forwards.end())
    return; // failed meanwhile (timeout, peer down)
  auto f = std::move(i->second);
  self->state.forwards.erase(i);
  node_metrics().on_forward("answered", seconds_since(f.started));
  f.done.fn(std::move(resp));
}

/// Ends forward `id` (if it is still under way) with
/// `errc::tenant_unavailable` and counts it under `outcome`.
void fail_forward(forwarder_pointer self, uint64_t id,
                  std::string_view outcome) {
  auto i = self->state.forwards.find(id);
  if (i == self->state.forwards.end())
    return;
  auto f = std::move(i->second);
  self->state.forwards.erase(i);
  auto seconds = seconds_since(f.started);
  node_metrics().on_forward(outcome, seconds);
  spdlog::warn("forward to peer={} failed outcome={} after_ms={:.1f}", f.peer,
               outcome, seconds * 1000);
  f.done.fn(unavailable());
}

/// Ends offer `id` (if it is still under way) with an error.
void fail_offer(forwarder_pointer self, uint64_t id, std::string_view outcome) {
  auto i = self->state.offers.find(id);
  if (i == self->state.offers.end())
    return;
  auto f = std::move(i->second);
  self->state.offers.erase(i);
  f.fail(unavailable(), outcome);
}

/// Fails everything under way to `peer` at once (its connection went down
/// or could not be made).
void fail_peer(forwarder_pointer self, const std::string& peer,
               std::string_view outcome) {
  std::vector<uint64_t> ids;
  for (const auto& [id, f] : self->state.forwards)
    if (f.peer == peer)
      ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  for (auto id : ids)
    fail_forward(self, id, outcome);
  ids.clear();
  for (const auto& [id, f] : self->state.offers)
    if (f.peer == peer)
      ids.push_back(id);
  for (auto id : ids)
    fail_offer(self, id, outcome);
  self->state.peers[peer].waiting.clear();
}

/// Fails every forward and offer past its own deadline.
void sweep(forwarder_pointer self) {
  auto now = clock::now();
  for (auto id : expired_ids(self->state.forwards, now))
    fail_forward(self, id, "timeout");
  for (auto id : expired_ids(self->state.offers, now))
    fail_offer(self, id, "timeout");
}

/// Sends the next sweep message unless one is on its way or nothing is in
/// flight.
void arm_sweep(forwarder_pointer self) {
  auto& st = self->state;
  if (st.sweep_armed || (st.forwards.empty() && st.offers.empty()))
    return;
  st.sweep_armed = true;
  self->delayed_send(caf::actor_cast<forwarder_impl_actor>(self),
                     st.cfg.sweep_period, fwd_sweep_atom::value);
}

/// The time `f` has left; nothing when it is over.
std::optional<std::chrono::milliseconds> time_left(const offer_entry& f) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
    f.deadline - clock::now());
  if (left.count() <= 0)
    return std::nullopt;
  return left;
}

std::string_view outcome_of(const caf::error& err) {
  return err == caf::sec::request_timeout ? "timeout" : "unreachable";
}

/// Sends `items` to `hdl` in batches within the limits.
void send_batches(forwarder_pointer self, const peer_actor& hdl,
                  std::vector<forward_item>& items) {
  for_each_batch(
    items, self->state.cfg.batches,
    [](const forward_item& x) -> const std::string& { return x.req.body; },
    [self, &hdl](std::vector<forward_item> batch) {
      self->send(hdl, peer_fwd_atom::value, std::move(batch));
    });
}

/// Sends everything to `peer` that waited for its connection.
void flush_waiting(forwarder_pointer self, const std::string& peer,
                   const peer_actor& hdl) {
  auto& link = self->state.peers[peer];
  auto waiting = std::move(link.waiting);
  link.waiting.clear();
  for (auto& send : waiting)
    send(hdl);
  std::vector<forward_item> items;
  for (auto& [id, f] : self->state.forwards) {
    if (f.peer != peer || !f.waiting)
      continue;
    items.push_back(forward_item{id, std::move(*f.waiting)});
    f.waiting.reset();
  }
  std::sort(items.begin(), items.end(),
            [](const auto& x, const auto& y) { return x.id < y.id; });
  send_batches(self, hdl, items);
  // Sending an offer may end one: collect first.
  std::vector<std::function<void(const peer_actor&)>> sends;
  for (auto& [id, f] : self->state.offers) {
    if (f.peer != peer || !f.send)
      continue;
    sends.push_back(std::move(f.send));
    f.send = nullptr;
  }
  for (auto& send : sends)
    send(hdl);
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
        auto hdl = link.handle;
        flush_waiting(self, peer, hdl);
      },
      [self, peer](caf::error& err) {
        self->state.peers[peer].connecting = false;
        fail_peer(self, peer, outcome_of(err));
      });
}

/// Takes every forward waiting in `q`: registers each, sends what goes to
/// a connected peer in batches (one per peer), connects where needed.
void take_queue(forwarder_pointer self, forward_queue& q) {
  std::vector<queued_forward> queued;
  {
    std::lock_guard guard{q.mtx};
    queued.swap(q.items);
    q.armed = false;
  }
  auto& st = self->state;
  // Per connected peer, the items to send (usually one peer).
  std::vector<std::pair<peer_actor, std::vector<forward_item>>> out;
  for (auto& x : queued) {
    auto id = ++st.next_id;
    auto& link = st.peers[x.peer];
    forward_entry f{x.peer, x.started, x.started + st.cfg.timeout,
                    std::move(x.done), std::nullopt};
    if (link.handle) {
      st.forwards.emplace(id, std::move(f));
      auto i = std::find_if(out.begin(), out.end(), [&](const auto& y) {
        return y.first == link.handle;
      });
      if (i == out.end()) {
        out.emplace_back(link.handle, std::vector<forward_item>{});
        i = std::prev(out.end());
      }
      i->second.push_back(forward_item{id, std::move(x.req)});
      continue;
    }
    f.waiting = std::move(x.req);
    st.forwards.emplace(id, std::move(f));
    if (!link.connecting)
      connect(self, x.peer); // may fail it at once
  }
  for (auto& [hdl, items] : out)
    send_batches(self, hdl, items);
  arm_sweep(self);
}

void offer_move(forwarder_pointer self, std::string peer, move_offer offer,
                move_done done) {
  auto& st = self->state;
  auto id = ++st.next_id;
  auto finish_with = std::make_shared<move_done>(std::move(done));
  offer_entry f;
  f.peer = peer;
  f.deadline = clock::now() + finish_with->timeout;
  f.fail = [finish_with, peer](caf::error err, std::string_view outcome) {
    spdlog::warn("move offer to peer={} failed outcome={}: {}", peer, outcome,
                 to_string(err));
    finish_with->fn(std::move(err));
  };
  // Sent with a CAF timeout of the time left (offers are rare): CAF drops
  // its handler at that timeout even when the sweep or a down_msg ended the
  // offer first.
  f.send = [self, id, offer = std::move(offer),
            finish_with](const peer_actor& hdl) mutable {
    auto i = self->state.offers.find(id);
    if (i == self->state.offers.end())
      return;
    auto left = time_left(i->second);
    if (!left) {
      fail_offer(self, id, "timeout");
      return;
    }
    self->request(hdl, *left, peer_move_atom::value, std::move(offer))
      .then(
        [self, id, finish_with](move_reply& reply) {
          auto j = self->state.offers.find(id);
          if (j == self->state.offers.end())
            return;
          self->state.offers.erase(j);
          finish_with->fn(std::move(reply));
        },
        [self, id](caf::error& err) { fail_offer(self, id, outcome_of(err)); });
  };
  auto& link = st.peers[peer];
  if (link.handle) {
    auto send = std::move(f.send);
    f.send = nullptr;
    st.offers.emplace(id, std::move(f));
    send(link.handle);
  } else {
    st.offers.emplace(id, std::move(f));
    if (!link.connecting)
      connect(self, peer);
  }
  arm_sweep(self);
}

forwarder_impl_actor::behavior_type forwarder(forwarder_pointer self,
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
    [self](peer_fwd_atom, std::shared_ptr<forward_queue>& q) {
      if (q)
        take_queue(self, *q);
    },
    [self](peer_answer_atom, std::vector<answer_item>& answers) {
      for (auto& x : answers)
        answer_forward(self, x.id, std::move(x.resp));
    },
    [self](fwd_sweep_atom) {
      self->state.sweep_armed = false;
      sweep(self);
      arm_sweep(self);
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
  cfg.add_message_type<forward_item>("wi_fwd_item");
  cfg.add_message_type<std::vector<forward_item>>("wi_fwd_items");
  cfg.add_message_type<answer_item>("wi_fwd_answer");
  cfg.add_message_type<std::vector<answer_item>>("wi_fwd_answers");
  cfg.add_message_type<tenant_export>("wi_tenant_export");
  cfg.add_message_type<move_offer>("wi_move_offer");
  cfg.add_message_type<move_reply>("wi_move_reply");
}

peer_actor spawn_peer(caf::actor_system& sys, local_handler handler,
                      move_handlers moves, batch_limits limits) {
  return caf::actor_cast<peer_actor>(
    sys.spawn(peer_impl, std::move(handler), std::move(moves), limits));
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
  return caf::actor_cast<forwarder_actor>(
    sys.middleman().spawn_broker(forwarder, cfg));
}

std::function<void(std::string, forwarded_request, forward_done)>
forward_function(forwarder_actor forwarder) {
  auto q = std::make_shared<forward_queue>();
  q->forwarder = std::move(forwarder);
  return [q](std::string peer, forwarded_request req, forward_done done) {
    bool wake = false;
    {
      std::lock_guard guard{q->mtx};
      q->items.push_back(queued_forward{std::move(peer), std::move(req),
                                        std::move(done), clock::now()});
      wake = !std::exchange(q->armed, true);
    }
    if (wake)
      caf::anon_send(q->forwarder, peer_fwd_atom::value, q);
  };
}

} // namespace wi::cluster
