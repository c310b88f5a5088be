// The peer layer of cluster mode without etcd: two (or more) actor systems
// in this process, each with its own middleman on 127.0.0.1, a fake
// `cluster::view`, and (for the HTTP tests) an `http::server` per node.

#include "actors/cluster/peer.hpp"

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <gtest/gtest.h>

#include "actors/cluster/placement.hpp"
#include "actors/common/crypto.hpp"
#include "actors/directory/directory_actor.hpp"
#include "actors/directory/transfer.hpp"
#include "http/server.hpp"
#include "persistence/storage.hpp"
#include "persistence/wal_reader.hpp"
#include "persistence/wal_writer.hpp"
#include "support/eventually.hpp"
#include "support/http_client.hpp"
#include "webhook_ingress/cluster.hpp"
#include "webhook_ingress/error.hpp"

namespace {

using namespace std::chrono_literals;
using wi::cluster::forward_done;
using wi::cluster::forwarded_request;
using wi::cluster::forwarded_response;
using clock_type = std::chrono::steady_clock;

/// A view set by the test.
class fake_view : public wi::cluster::control {
 public:
  explicit fake_view(std::string self) : self_(std::move(self)) {}

  std::string self() const override { return self_; }

  std::optional<wi::cluster::placement>
  placement_of(std::string_view tenant_id) const override {
    std::lock_guard guard{mtx_};
    auto i = placements_.find(std::string{tenant_id});
    if (i == placements_.end())
      return std::nullopt;
    return i->second;
  }

  std::optional<wi::cluster::member>
  member_of(std::string_view node_id) const override {
    std::lock_guard guard{mtx_};
    auto i = members_.find(std::string{node_id});
    if (i == members_.end())
      return std::nullopt;
    return i->second;
  }

  std::vector<wi::cluster::member> members() const override {
    std::lock_guard guard{mtx_};
    std::vector<wi::cluster::member> result;
    for (const auto& [id, m] : members_)
      result.push_back(m);
    return result;
  }

  // The control side: these tests set placements by hand, so the node is
  // always ready and a created tenant claims nothing.
  bool ready() const override { return ready_.load(); }

  std::map<std::string, size_t> tenants_by_node() const override {
    std::lock_guard guard{mtx_};
    std::map<std::string, size_t> result;
    for (const auto& [tenant, place] : placements_)
      ++result[place.owner];
    return result;
  }

  void tenant_created(std::string) override {
    // nop: placements are set by the test
  }

  /// Places the tenant here, as etcd would take the claim (unless the test
  /// makes claims fail).
  void claim_created(
    std::string tenant,
    std::function<void(caf::expected<wi::cluster::placement>)> done) override {
    if (claims_fail_) {
      done(wi::make_error(wi::errc::storage_unavailable, "etcd away"));
      return;
    }
    wi::cluster::placement p{self_, 1};
    place(tenant, self_);
    done(p);
  }

  bool may_acknowledge() const override { return acknowledging_.load(); }

  /// Self-fencing, readiness and claims as the test sets them.
  std::atomic<bool> acknowledging_{true};
  std::atomic<bool> ready_{true};
  std::atomic<bool> claims_fail_{false};

  void place(const std::string& tenant, const std::string& owner,
             uint64_t epoch = 1) {
    std::lock_guard guard{mtx_};
    placements_[tenant] = wi::cluster::placement{owner, epoch};
  }

  void set_member(wi::cluster::member m) {
    std::lock_guard guard{mtx_};
    members_[m.id] = std::move(m);
  }

  void add_member(const std::string& id, const std::string& peer) {
    std::lock_guard guard{mtx_};
    members_[id] = wi::cluster::member{id, "127.0.0.1:1", peer,
                                       wi::cluster::node_state::active};
  }

 private:
  std::string self_;
  mutable std::mutex mtx_;
  std::map<std::string, wi::cluster::placement> placements_;
  std::map<std::string, wi::cluster::member> members_;
};

caf::actor_system_config& configured(caf::actor_system_config& cfg) {
  wi::cluster::configure_peer_layer(cfg);
  cfg.add_error_category(
    wi::error_category, [](uint8_t code, caf::atom_value, const caf::message&) {
      return wi::to_string(static_cast<wi::errc>(code));
    });
  return cfg;
}

/// One node: an actor system with a published peer actor and a forwarder.
struct node {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  wi::cluster::peer_actor peer;
  wi::cluster::forwarder_actor forwarder;
  uint16_t port = 0;

  node(wi::cluster::local_handler handler,
       std::chrono::milliseconds timeout = 10s, uint16_t at_port = 0,
       wi::cluster::move_handlers moves = {},
       wi::cluster::batch_limits limits = {})
    : node(std::move(handler), wi::cluster::forwarder_config{timeout}, at_port,
           std::move(moves), limits) {
    // nop
  }

  node(wi::cluster::local_handler handler, wi::cluster::forwarder_config fc,
       uint16_t at_port = 0, wi::cluster::move_handlers moves = {},
       wi::cluster::batch_limits limits = {}) {
    sys = std::make_unique<caf::actor_system>(configured(cfg));
    peer = wi::cluster::spawn_peer(*sys, std::move(handler), std::move(moves),
                                   limits);
    auto bound = wi::cluster::publish_peer(*sys, peer, "127.0.0.1", at_port);
    if (!bound)
      throw std::runtime_error(wi::text_of(bound.error()));
    port = *bound;
    forwarder = wi::cluster::spawn_forwarder(*sys, fc);
  }

  ~node() { stop(); }

  /// Ends the node: its connections close as in a crash of the process.
  void stop() {
    if (!sys)
      return;
    caf::anon_send_exit(peer, caf::exit_reason::kill);
    caf::anon_send_exit(forwarder, caf::exit_reason::kill);
    peer = nullptr;
    forwarder = nullptr;
    sys.reset();
  }

  std::string address() const { return "127.0.0.1:" + std::to_string(port); }
};

struct outcome {
  caf::expected<forwarded_response> result{caf::error{}};
  std::chrono::milliseconds took{};
};

/// Forwards through `from` to `peer` and waits (the test thread may block).
outcome forward(node& from, const std::string& peer, forwarded_request req) {
  auto done =
    std::make_shared<std::promise<caf::expected<forwarded_response>>>();
  auto fut = done->get_future();
  auto started = clock_type::now();
  wi::cluster::forward_function(from.forwarder)(
    peer, std::move(req),
    forward_done{[done](caf::expected<forwarded_response> x) {
      done->set_value(std::move(x));
    }});
  if (fut.wait_for(60s) != std::future_status::ready)
    throw std::runtime_error("no answer from the forwarder within 60 s");
  outcome result;
  result.result = fut.get();
  result.took = std::chrono::duration_cast<std::chrono::milliseconds>(
    clock_type::now() - started);
  return result;
}

forwarded_request sample_request() {
  forwarded_request req;
  req.method = "POST";
  req.target = "/v1/webhook/endpoints?page=2&x=%20y";
  req.headers = {{"Authorization", "Bearer wi_t_secret"},
                 {"Content-Type", "application/json"},
                 {"Idempotency-Key", "k-1"},
                 {"X-Request-Id", "req-42"}};
  req.body = std::string("{\"url\":\"https://example.com\"}\0tail", 34);
  req.tenant = "t";
  req.epoch = 7;
  return req;
}

/// Replies never: keeps the continuations until `release`.
struct silent_handler {
  std::mutex mtx;
  std::vector<std::function<void(forwarded_response)>> held;
  std::promise<void> received;
  bool signalled = false;

  wi::cluster::local_handler fn() {
    return
      [this](forwarded_request, std::function<void(forwarded_response)> r) {
        std::lock_guard guard{mtx};
        held.push_back(std::move(r));
        if (!signalled) {
          signalled = true;
          received.set_value();
        }
      };
  }

  void release() {
    std::lock_guard guard{mtx};
    held.clear();
  }
};

} // namespace

TEST(peer_layer, forwards_the_request_and_returns_the_answer_unchanged) {
  forwarded_request seen;
  node owner{[&seen](forwarded_request req,
                     std::function<void(forwarded_response)> reply) {
    seen = req;
    reply(forwarded_response{201,
                             {{"Content-Type", "application/json"},
                              {"Location", "/v1/webhook/endpoints/9"},
                              {"Retry-After", "3"},
                              {"X-Request-Id", *wi::cluster::find_header(
                                                 req.headers, "x-request-id")}},
                             std::string("{\"answer\":1}\0bytes", 18)});
  }};
  node sender{[](auto, auto) { FAIL() << "the sender got a forward"; }};
  auto out = forward(sender, owner.address(), sample_request());
  ASSERT_TRUE(out.result) << wi::text_of(out.result.error());
  EXPECT_EQ(out.result->status, 201);
  EXPECT_EQ(out.result->body, std::string("{\"answer\":1}\0bytes", 18));
  wi::cluster::header_list want{{"Content-Type", "application/json"},
                                {"Location", "/v1/webhook/endpoints/9"},
                                {"Retry-After", "3"},
                                {"X-Request-Id", "req-42"}};
  EXPECT_EQ(out.result->headers, want);
  // The owner saw the request as sent.
  auto sent = sample_request();
  EXPECT_EQ(seen.method, sent.method);
  EXPECT_EQ(seen.target, sent.target);
  EXPECT_EQ(seen.headers, sent.headers);
  EXPECT_EQ(seen.body, sent.body);
  EXPECT_EQ(seen.tenant, "t");
  EXPECT_EQ(seen.epoch, 7u);
  EXPECT_FALSE(seen.local_only);
  // A second forward reuses the connection and works as well.
  auto again = forward(sender, owner.address(), sample_request());
  ASSERT_TRUE(again.result);
  EXPECT_EQ(again.result->status, 201);
}

TEST(peer_layer,
     an_owner_that_does_not_answer_gives_tenant_unavailable_at_the_timeout) {
  silent_handler silent;
  node owner{silent.fn()};
  node sender{[](auto, auto) {}, 300ms};
  auto out = forward(sender, owner.address(), sample_request());
  ASSERT_FALSE(out.result);
  EXPECT_EQ(wi::code_of(out.result.error()), wi::errc::tenant_unavailable);
  // The sweep (every 100 ms) ends it between its timeout and timeout + one
  // period.
  EXPECT_GE(out.took, 300ms);
  EXPECT_LT(out.took, 5s);
  // The owner answers late: the answer finds nothing to end (the
  // continuation was called once, by the timeout), and the next forward
  // gets its own answer.
  {
    std::lock_guard guard{silent.mtx};
    for (auto& reply : silent.held)
      reply(forwarded_response{200, {}, "late"});
    silent.held.clear();
  }
  std::this_thread::sleep_for(100ms); // the late answer crosses (if at all)
  node other{[](forwarded_request, std::function<void(forwarded_response)> r) {
    r(forwarded_response{200, {}, "on time"});
  }};
  auto again = forward(sender, other.address(), sample_request());
  ASSERT_TRUE(again.result) << wi::text_of(again.result.error());
  EXPECT_EQ(again.result->body, "on time");
}

TEST(peer_layer, concurrent_forwards_in_small_batches_each_get_their_answer) {
  // The owner answers in the reverse order of arrival, once all are there;
  // batches of at most 3 requests and 2 answers (or 40 body bytes).
  constexpr int n = 40;
  std::mutex mtx;
  std::vector<std::pair<std::string, std::function<void(forwarded_response)>>>
    held;
  std::promise<void> all_there;
  node owner{
    [&](forwarded_request req, std::function<void(forwarded_response)> reply) {
      std::lock_guard guard{mtx};
      held.emplace_back(req.target + "|" + req.body, std::move(reply));
      if (held.size() == n)
        all_there.set_value();
    },
    10s,
    0,
    {},
    wi::cluster::batch_limits{2, 40}};
  wi::cluster::forwarder_config fc{10s};
  fc.batches = wi::cluster::batch_limits{3, 40};
  node sender{[](auto, auto) {}, fc};
  std::vector<std::future<outcome>> pending;
  for (int i = 0; i < n; ++i)
    pending.push_back(std::async(std::launch::async, [&, i] {
      auto req = sample_request();
      req.target = "/v1/webhook/endpoints/" + std::to_string(i);
      req.body = std::string(static_cast<size_t>(i), 'b');
      return forward(sender, owner.address(), std::move(req));
    }));
  ASSERT_EQ(all_there.get_future().wait_for(30s), std::future_status::ready);
  {
    std::lock_guard guard{mtx};
    for (auto i = held.rbegin(); i != held.rend(); ++i)
      i->second(forwarded_response{200, {}, i->first});
    held.clear();
  }
  for (int i = 0; i < n; ++i) {
    auto out = pending[static_cast<size_t>(i)].get();
    ASSERT_TRUE(out.result) << wi::text_of(out.result.error());
    EXPECT_EQ(out.result->body, "/v1/webhook/endpoints/" + std::to_string(i) +
                                  "|" +
                                  std::string(static_cast<size_t>(i), 'b'));
  }
}

TEST(peer_layer,
     a_peer_that_goes_down_fails_its_forwards_at_once_and_is_reconnected) {
  silent_handler silent;
  auto owner = std::make_unique<node>(silent.fn());
  auto port = owner->port;
  auto address = owner->address();
  node sender{[](auto, auto) {}, 30s};
  auto pending = std::async(std::launch::async, [&] {
    return forward(sender, address, sample_request());
  });
  ASSERT_EQ(silent.received.get_future().wait_for(20s),
            std::future_status::ready);
  auto killed = clock_type::now();
  silent.release();
  owner.reset(); // its connection closes: a down_msg on the sender
  auto out = pending.get();
  ASSERT_FALSE(out.result);
  EXPECT_EQ(wi::code_of(out.result.error()), wi::errc::tenant_unavailable);
  // Far below the 30 s timeout: failed on the down_msg.
  EXPECT_LT(clock_type::now() - killed, 3s);
  // The owner comes back on the same address: the next forward connects
  // again and gets its answer.
  node back{[](forwarded_request, std::function<void(forwarded_response)> r) {
              r(forwarded_response{200, {{"X-Request-Id", "x"}}, "back"});
            },
            10s, port};
  auto again = forward(sender, address, sample_request());
  ASSERT_TRUE(again.result) << wi::text_of(again.result.error());
  EXPECT_EQ(again.result->body, "back");
}

TEST(peer_layer, an_unreachable_address_fails_at_once) {
  uint16_t dead_port = 0;
  {
    node gone{[](auto, auto) {}};
    dead_port = gone.port;
  }
  node sender{[](auto, auto) {}, 30s};
  auto out =
    forward(sender, "127.0.0.1:" + std::to_string(dead_port), sample_request());
  ASSERT_FALSE(out.result);
  EXPECT_EQ(wi::code_of(out.result.error()), wi::errc::tenant_unavailable);
  EXPECT_LT(out.took, 3s);
  auto bad = forward(sender, "no-port-here", sample_request());
  ASSERT_FALSE(bad.result);
  EXPECT_EQ(wi::code_of(bad.result.error()), wi::errc::tenant_unavailable);
}

TEST(peer_layer, parse_peer_address) {
  using wi::cluster::parse_peer_address;
  EXPECT_EQ(parse_peer_address("127.0.0.1:4000"),
            (std::pair<std::string, uint16_t>{"127.0.0.1", 4000}));
  EXPECT_EQ(parse_peer_address("[::1]:9"),
            (std::pair<std::string, uint16_t>{"::1", 9}));
  EXPECT_FALSE(parse_peer_address("host"));
  EXPECT_FALSE(parse_peer_address("host:"));
  EXPECT_FALSE(parse_peer_address(":80"));
  EXPECT_FALSE(parse_peer_address("host:0"));
  EXPECT_FALSE(parse_peer_address("host:65536"));
  EXPECT_FALSE(parse_peer_address("host:8x"));
}

// -- through the HTTP layer
// ----------------------------------------------------

namespace {

const std::string admin_token = "wia_test_admin_token";

/// What a fake directory was asked to do besides lists.
struct directory_log {
  std::mutex mtx;
  std::vector<std::string> created;
  std::vector<std::string> purged;
};

/// Answers `list_atom` like the directory would for its own tenants; records
/// creates under a given id (answering a tenant with a token) and purges.
wi::directory_actor fake_directory(caf::actor_system& sys,
                                   std::vector<std::string> ids,
                                   std::shared_ptr<directory_log> log) {
  // With an argument: CAF 0.17's init_fun_factory dereferences a null
  // argument tuple for a function without one (UBSan reports it).
  auto impl = sys.spawn(
    [log](std::vector<std::string> known) -> caf::behavior {
      return {
        [log](wi::create_atom, std::string& name, std::string& id,
              wi::reply_fn<wi::tenant_info>& reply) {
          {
            std::lock_guard guard{log->mtx};
            log->created.push_back(id);
          }
          wi::tenant_info info;
          info.token = wi::crypto::make_tenant_token(id);
          info.id = std::move(id);
          info.name = std::move(name);
          reply(std::move(info));
        },
        [log](wi::deactivate_atom, std::string& id, bool purge,
              wi::reply_fn<wi::tenant_summary>& reply) {
          if (purge) {
            std::lock_guard guard{log->mtx};
            log->purged.push_back(id);
          }
          reply(wi::make_error(wi::errc::not_found, "fake"));
        },
        [ids = std::move(known)](wi::list_atom, const wi::list_query& q,
                                 wi::reply_fn<wi::tenant_page>& reply) {
          wi::tenant_page page;
          page.page = q.page;
          page.page_size = q.page_size;
          page.total_items = ids.size();
          auto first = (q.page - 1) * q.page_size;
          for (size_t i = first;
               i < ids.size() && page.items.size() < q.page_size; ++i) {
            wi::tenant_summary t;
            t.info.id = ids[i];
            t.info.name = "n-" + ids[i];
            page.items.push_back(t);
          }
          reply(std::move(page));
        },
      };
    },
    std::move(ids));
  return caf::actor_cast<wi::directory_actor>(impl);
}

/// A node with an HTTP server whose forwarded requests come in through its
/// peer actor.
struct http_node {
  std::shared_ptr<fake_view> view;
  std::unique_ptr<wi::http::server> http;
  std::unique_ptr<node> peer;
  wi::directory_actor directory;
  std::shared_ptr<directory_log> log = std::make_shared<directory_log>();
  std::shared_ptr<wi::tenant_table> tenants =
    std::make_shared<wi::tenant_table>();
  uint16_t http_port = 0;

  http_node(const std::string& id, bool ready,
            std::vector<std::string> known = {}) {
    view = std::make_shared<fake_view>(id);
    wi::http::server_config cfg;
    cfg.port = 0;
    cfg.threads = 1;
    cfg.admin_token_hash = wi::crypto::sha256(admin_token);
    http = std::make_unique<wi::http::server>(cfg);
    auto port = http->start();
    if (!port)
      throw std::runtime_error(wi::text_of(port.error()));
    http_port = *port;
    auto* srv = http.get();
    peer = std::make_unique<node>(
      [srv](forwarded_request req,
            std::function<void(forwarded_response)> reply) {
        srv->serve_forwarded(std::move(req), std::move(reply));
      },
      2s);
    if (ready) {
      wi::http::backend be;
      directory = fake_directory(*peer->sys, std::move(known), log);
      be.directory = directory;
      be.tenants = tenants;
      be.cluster = view;
      be.forward = wi::cluster::forward_function(peer->forwarder);
      http->set_ready(std::move(be));
    }
  }

  ~http_node() {
    http->stop();
    caf::anon_send_exit(directory, caf::exit_reason::kill);
    directory = nullptr;
    peer.reset();
  }

  wi_e2e::http_client client() const {
    return wi_e2e::http_client{"http://127.0.0.1:" + std::to_string(http_port)};
  }
};

wi_e2e::header_list with_id(wi_e2e::header_list headers, std::string id) {
  headers.emplace_back("X-Request-Id", std::move(id));
  return headers;
}

} // namespace

TEST(peer_http, a_forwarded_answer_is_the_owners_answer_unchanged) {
  http_node a{"a", true};
  http_node b{"b", true};
  auto tenant = wi::crypto::make_tenant_id();
  auto token = wi::crypto::make_tenant_token(tenant);
  for (auto* n : {&a, &b}) {
    n->view->add_member("a", a.peer->address());
    n->view->add_member("b", b.peer->address());
    n->view->place(tenant, "b");
  }
  // B does not know the token (its tenant table is empty): 401.
  auto direct = b.client().get("/v1/webhook/endpoints/list?page=1",
                               with_id(wi_e2e::bearer(token), "direct-1"));
  auto relayed = a.client().get("/v1/webhook/endpoints/list?page=1",
                                with_id(wi_e2e::bearer(token), "relayed-1"));
  ASSERT_EQ(direct.status, 401) << direct;
  EXPECT_EQ(relayed.status, 401) << relayed;
  EXPECT_EQ(relayed.header("X-Request-Id"), "relayed-1");
  EXPECT_EQ(relayed.header("Content-Type"), direct.header("Content-Type"));
  // Same body but for the meta (request id and time).
  auto strip = [](boost::json::value v) {
    v.as_object().erase("meta");
    return v;
  };
  EXPECT_EQ(strip(relayed.json), strip(direct.json));
  EXPECT_EQ(relayed.json.at("meta").at("request_id"), "relayed-1");
}

TEST(peer_http, an_owner_not_ready_is_relayed_as_is) {
  http_node a{"a", true};
  http_node b{"b", false};
  auto tenant = wi::crypto::make_tenant_id();
  a.view->add_member("b", b.peer->address());
  a.view->place(tenant, "b");
  auto r = a.client().get("/admin/v1/tenants/" + tenant,
                          with_id(wi_e2e::bearer(admin_token), "adm-1"));
  EXPECT_EQ(r.status, 503) << r;
  EXPECT_EQ(r.error().at("code"), "NOT_READY") << r;
  EXPECT_EQ(r.header("X-Request-Id"), "adm-1");
  // A request with a body: A's checks before the body (which know no
  // token of B's tenants) let it through to the forward step.
  auto token = wi::crypto::make_tenant_token(tenant);
  auto post = a.client().post("/v1/webhook/endpoints",
                              R"({"url":"https://example.com/hook"})",
                              with_id(wi_e2e::bearer(token), "post-1"));
  EXPECT_EQ(post.status, 503) << post;
  EXPECT_EQ(post.error().at("code"), "NOT_READY") << post;
  EXPECT_EQ(post.header("X-Request-Id"), "post-1");
}

TEST(peer_http, placements_that_disagree_make_no_loop) {
  http_node a{"a", true};
  http_node b{"b", true};
  auto tenant = wi::crypto::make_tenant_id();
  auto token = wi::crypto::make_tenant_token(tenant);
  a.view->add_member("b", b.peer->address());
  b.view->add_member("a", a.peer->address());
  a.view->place(tenant, "b", 3); // A believes B owns it...
  b.view->place(tenant, "a", 4); // ...and B that A does.
  auto started = clock_type::now();
  auto r = a.client().get("/v1/webhook/endpoints/list",
                          with_id(wi_e2e::bearer(token), "loop-1"));
  EXPECT_LT(clock_type::now() - started, 2s);
  EXPECT_EQ(r.status, 503) << r;
  EXPECT_EQ(r.error().at("code"), "TENANT_UNAVAILABLE") << r;
  EXPECT_EQ(r.header("Retry-After"), "1");
  EXPECT_EQ(r.header("X-Request-Id"), "loop-1");
}

TEST(peer_http,
     an_owner_that_is_not_a_member_or_unreachable_gives_503_with_retry_after) {
  http_node a{"a", true};
  auto tenant = wi::crypto::make_tenant_id();
  auto token = wi::crypto::make_tenant_token(tenant);
  a.view->place(tenant, "gone");
  auto r = a.client().get("/v1/webhook/endpoints/list", wi_e2e::bearer(token));
  EXPECT_EQ(r.status, 503) << r;
  EXPECT_EQ(r.error().at("code"), "TENANT_UNAVAILABLE") << r;
  EXPECT_EQ(r.header("Retry-After"), "1");
  // A member whose peer address does not answer.
  uint16_t dead_port = 0;
  {
    node gone{[](auto, auto) {}};
    dead_port = gone.port;
  }
  a.view->add_member("gone", "127.0.0.1:" + std::to_string(dead_port));
  auto started = clock_type::now();
  r = a.client().get("/v1/webhook/endpoints/list", wi_e2e::bearer(token));
  EXPECT_LT(clock_type::now() - started, 2s);
  EXPECT_EQ(r.status, 503) << r;
  EXPECT_EQ(r.error().at("code"), "TENANT_UNAVAILABLE") << r;
  EXPECT_EQ(r.header("Retry-After"), "1");
}

TEST(peer_http, the_admin_tenant_list_merges_every_member) {
  http_node a{"a", true, {"t1", "t4"}};
  http_node b{"b", true, {"t2", "t3", "t5"}};
  for (auto* n : {&a, &b}) {
    n->view->add_member("a", a.peer->address());
    n->view->add_member("b", b.peer->address());
    for (auto t : {"t1", "t4"})
      n->view->place(t, "a");
    for (auto t : {"t2", "t3", "t5"})
      n->view->place(t, "b");
  }
  auto admin = wi_e2e::bearer(admin_token);
  auto page = [&](http_node& n, std::string query) {
    return n.client().get("/admin/v1/tenants" + query, admin);
  };
  auto ids_of = [](const wi_e2e::http_response& r) {
    std::vector<std::string> ids;
    for (const auto& t : r.json.at("data").as_array())
      ids.emplace_back(t.at("id").as_string());
    return ids;
  };
  auto r = page(b, "?pageSize=2&page=2");
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(ids_of(r), (std::vector<std::string>{"t3", "t4"}));
  EXPECT_EQ(r.json.at("pagination").at("total_items"), 5);
  EXPECT_FALSE(r.json.as_object().contains("partial"));
  EXPECT_EQ(r.json.at("data").at(0).at("owner"), "b");
  EXPECT_EQ(r.json.at("data").at(1).at("owner"), "a");
  r = page(a, "");
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(ids_of(r),
            (std::vector<std::string>{"t1", "t2", "t3", "t4", "t5"}));
  EXPECT_EQ(page(a, "?page=4&pageSize=2").status, 204);
  // A member that does not answer: its tenants are missing, and it says so.
  uint16_t dead_port = 0;
  {
    node gone{[](auto, auto) {}};
    dead_port = gone.port;
  }
  a.view->add_member("c", "127.0.0.1:" + std::to_string(dead_port));
  r = page(a, "");
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(ids_of(r),
            (std::vector<std::string>{"t1", "t2", "t3", "t4", "t5"}));
  EXPECT_EQ(r.json.at("partial"), true);
  EXPECT_EQ(r.json.at("missing_nodes"), boost::json::array{"c"});
  // Query errors are the local ones.
  r = page(a, "?page=0");
  EXPECT_EQ(r.status, 422) << r;
  EXPECT_EQ(r.error().at("field"), "page") << r;
}

// -- placement of new tenants, self-fencing, the drain route -----------------

namespace {

/// Two ready nodes that list each other as active members.
struct pair_of_nodes {
  http_node a{"a", true};
  http_node b{"b", true};

  pair_of_nodes() {
    for (auto* n : {&a, &b}) {
      n->view->add_member("a", a.peer->address());
      n->view->add_member("b", b.peer->address());
    }
  }
};

wi_e2e::header_list admin_json() {
  auto h = wi_e2e::bearer(admin_token);
  h.emplace_back("Content-Type", "application/json");
  return h;
}

} // namespace

TEST(peer_http, a_new_tenant_is_created_on_its_rendezvous_owner) {
  pair_of_nodes n;
  std::map<std::string, int> owners;
  for (int i = 0; i < 16; ++i) {
    auto r = n.a.client().post("/admin/v1/tenants", R"({"name":"acme"})",
                               admin_json());
    ASSERT_EQ(r.status, 201) << r;
    auto id = std::string{r.data().at("id").as_string()};
    auto owner = *wi::cluster::rendezvous_owner(id, {"a", "b"});
    EXPECT_EQ(r.data().at("owner").as_string(), owner);
    ++owners[owner];
    // The owner's directory created it and its view holds the claim.
    auto& on = owner == "a" ? n.a : n.b;
    std::lock_guard guard{on.log->mtx};
    EXPECT_EQ(std::count(on.log->created.begin(), on.log->created.end(), id),
              1);
    EXPECT_EQ(on.view->placement_of(id)->owner, owner);
  }
  EXPECT_EQ(n.a.log->created.size() + n.b.log->created.size(), 16u);
  EXPECT_EQ(owners.size(), 2u); // 16 on one node: 1 in 32768
}

TEST(peer_http, no_create_without_etcd_and_a_refused_claim_purges_again) {
  http_node a{"a", true};
  a.view->add_member("a", a.peer->address());
  a.view->ready_ = false; // etcd away
  auto r =
    a.client().post("/admin/v1/tenants", R"({"name":"acme"})", admin_json());
  EXPECT_EQ(r.status, 503) << r;
  EXPECT_EQ(r.error().at("code"), "TENANT_UNAVAILABLE");
  EXPECT_EQ(r.header("Retry-After"), "1");
  {
    std::lock_guard guard{a.log->mtx};
    EXPECT_TRUE(a.log->created.empty());
  }
  a.view->ready_ = true;
  a.view->claims_fail_ = true; // etcd went away during the create
  r = a.client().post("/admin/v1/tenants", R"({"name":"acme"})", admin_json());
  EXPECT_EQ(r.status, 503) << r;
  EXPECT_EQ(r.error().at("code"), "TENANT_UNAVAILABLE");
  // The purge was sent before the answer: the directory takes it soon.
  EXPECT_TRUE(wi_cluster_test::eventually(
    [&] {
      std::lock_guard guard{a.log->mtx};
      return !a.log->purged.empty();
    },
    2s));
  std::lock_guard guard{a.log->mtx};
  ASSERT_EQ(a.log->created.size(), 1u);
  EXPECT_EQ(a.log->purged, a.log->created);
}

TEST(peer_http, an_unplaced_tenant_goes_to_its_rendezvous_owner_not_401) {
  pair_of_nodes n;
  // A tenant whose rendezvous owner is b, which a's cache does not place
  // yet (the watch lags): a forwards to b, which judges the token.
  std::string tenant;
  do
    tenant = wi::crypto::make_tenant_id();
  while (wi::cluster::rendezvous_owner(tenant, {"a", "b"}) != "b");
  auto token = wi::crypto::make_tenant_token(tenant);
  wi::tenant_entry entry;
  entry.id = tenant;
  entry.name = "lagging";
  entry.token_hash = wi::crypto::sha256(token);
  n.b.tenants->update(entry);
  n.b.view->place(tenant, "b");
  // b's fenced: a mutation answers 503 from b (so the request got there,
  // and was not judged 401 by a).
  n.b.view->acknowledging_ = false;
  auto r = n.a.client().post("/v1/webhook/events",
                             R"({"event_type":"a.b","payload":{}})",
                             with_id(wi_e2e::bearer(token), "lag-1"));
  EXPECT_EQ(r.status, 503) << r;
  EXPECT_EQ(r.error().at("code"), "TENANT_UNAVAILABLE") << r;
  EXPECT_NE(r.error().at("message").as_string().find("lease"),
            std::string::npos)
    << r;
  // A token of nobody's tenant: b answers 401, once (no loop).
  auto stranger = wi::crypto::make_tenant_token(tenant);
  r = n.a.client().post("/v1/webhook/events",
                        R"({"event_type":"a.b","payload":{}})",
                        wi_e2e::bearer(stranger));
  EXPECT_EQ(r.status, 401) << r;
}

TEST(peer_http, a_fenced_node_refuses_mutations_of_its_tenants_but_reads) {
  http_node a{"a", true, {"t1"}};
  a.view->add_member("a", a.peer->address());
  auto tenant = wi::crypto::make_tenant_id();
  auto token = wi::crypto::make_tenant_token(tenant);
  wi::tenant_entry entry;
  entry.id = tenant;
  entry.name = "fenced";
  entry.token_hash = wi::crypto::sha256(token);
  a.tenants->update(entry);
  a.view->place(tenant, "a");
  a.view->acknowledging_ = false;
  auto headers = wi_e2e::bearer(token);
  headers.emplace_back("Content-Type", "application/json");
  for (auto [method, path, body] :
       {std::tuple{"POST", std::string{"/v1/webhook/events"},
                   std::string{R"({"event_type":"a.b","payload":{}})"}},
        std::tuple{"POST", std::string{"/v1/webhook/endpoints"},
                   std::string{R"({"url":"https://example.com/h"})"}},
        std::tuple{"PUT", std::string{"/v1/webhook/endpoints/1/disable"},
                   std::string{}},
        // The endpoint lifecycle (issue 17).
        std::tuple{"PATCH", std::string{"/v1/webhook/endpoints/1"},
                   std::string{R"({"description":"x"})"}},
        std::tuple{"DELETE", std::string{"/v1/webhook/endpoints/1"},
                   std::string{}},
        std::tuple{"POST", std::string{"/v1/webhook/endpoints/1/secret/rotate"},
                   std::string{}}}) {
    auto r = a.client().request(method, path, headers, body);
    EXPECT_EQ(r.status, 503) << method << ' ' << path << r;
    EXPECT_EQ(r.error().at("code"), "TENANT_UNAVAILABLE");
    EXPECT_EQ(r.header("Retry-After"), "1");
  }
  // Admin mutations too; reads go on.
  auto admin = wi_e2e::bearer(admin_token);
  auto del = a.client().request("DELETE", "/admin/v1/tenants/" + tenant, admin);
  EXPECT_EQ(del.status, 503) << del;
  auto create =
    a.client().post("/admin/v1/tenants", R"({"name":"x"})", admin_json());
  EXPECT_EQ(create.status, 503) << create;
  auto list = a.client().get("/admin/v1/tenants", admin);
  EXPECT_EQ(list.status, 200) << list;
  // Renewed again: the same mutation is served (the fake directory's
  // answer, not the fence's).
  a.view->acknowledging_ = true;
  del = a.client().request("DELETE", "/admin/v1/tenants/" + tenant, admin);
  EXPECT_EQ(del.status, 404) << del;
}

TEST(peer_http, the_drain_route_answers_at_once_where_the_node_is) {
  pair_of_nodes n;
  auto admin = wi_e2e::bearer(admin_token);
  auto r = n.a.client().post("/admin/v1/cluster/nodes/b/drain", "", admin);
  ASSERT_EQ(r.status, 202) << r;
  EXPECT_EQ(r.data().at("node"), "b"); // answered by b, through the peers
  EXPECT_EQ(r.data().at("state"), "draining");
  r = n.a.client().post("/admin/v1/cluster/nodes/zz/drain", "", admin);
  EXPECT_EQ(r.status, 404) << r;
  EXPECT_EQ(r.error().at("code"), "NOT_FOUND");
  // b drained in a's view: a is the last active member.
  n.a.view->add_member("b", n.b.peer->address());
  {
    auto m = *n.a.view->member_of("b");
    m.state = wi::cluster::node_state::drained;
    n.a.view->set_member(m);
  }
  r = n.a.client().post("/admin/v1/cluster/nodes/a/drain", "", admin);
  EXPECT_EQ(r.status, 422) << r;
  EXPECT_EQ(r.error().at("code"), "VALIDATION_FAILED");
  r = n.a.client().post("/admin/v1/cluster/nodes/b/drain", "", admin);
  EXPECT_EQ(r.status, 202) << r; // b says where it is
  auto tenant_token = wi::crypto::make_tenant_token("t");
  r = n.a.client().post("/admin/v1/cluster/nodes/b/drain", "",
                        wi_e2e::bearer(tenant_token));
  EXPECT_EQ(r.status, 401) << r;
}

// -- move offers
// ---------------------------------------------------------------

namespace {

/// Offers through `from` to `peer` and waits.
caf::expected<wi::cluster::move_reply>
offer(node& from, const std::string& peer, wi::cluster::move_offer x,
      std::chrono::milliseconds timeout = 10s) {
  auto done =
    std::make_shared<std::promise<caf::expected<wi::cluster::move_reply>>>();
  auto fut = done->get_future();
  caf::anon_send(
    from.forwarder, wi::cluster::peer_move_atom::value, peer, std::move(x),
    wi::cluster::move_done{[done](caf::expected<wi::cluster::move_reply> r) {
                             done->set_value(std::move(r));
                           },
                           timeout});
  if (fut.wait_for(60s) != std::future_status::ready)
    throw std::runtime_error("no answer to the offer within 60 s");
  return fut.get();
}

wi::cluster::local_handler no_forwards() {
  return [](forwarded_request, std::function<void(forwarded_response)> r) {
    r(forwarded_response{500, {}, "unexpected"});
  };
}

} // namespace

TEST(peer_move,
     an_offer_of_100k_endpoints_worth_of_state_crosses_and_is_answered) {
  std::mutex mtx;
  std::optional<wi::cluster::move_offer> got;
  std::vector<std::pair<std::string, uint64_t>> discards;
  wi::cluster::move_handlers moves;
  moves.offer = [&](wi::cluster::move_offer x,
                    std::function<void(wi::cluster::move_reply)> reply) {
    {
      std::lock_guard guard{mtx};
      got = std::move(x);
    }
    reply({true, {}});
  };
  moves.discard = [&](std::string t, uint64_t epoch) {
    std::lock_guard guard{mtx};
    discards.emplace_back(std::move(t), epoch);
  };
  node b{no_forwards(), 10s, 0, std::move(moves)};
  node a{no_forwards()};
  wi::cluster::move_offer x;
  x.from = "a";
  x.epoch = 7;
  x.mod_revision = 1234;
  x.state.tenant_id = "t1";
  x.state.registry = "registry";
  // ~40 MB: well above a 100k-endpoint tenant's snapshot (docs/benchmarks.md).
  x.state.snapshot = std::string(40u << 20, 'x');
  x.state.payloads = {{"p1", std::string(1000, '\0')}, {"p2", "two"}};
  auto expected_size = x.state.size_bytes();
  auto started = clock_type::now();
  auto reply = offer(a, b.address(), x);
  ASSERT_TRUE(reply) << wi::text_of(reply.error());
  EXPECT_TRUE(reply->committed);
  EXPECT_LT(clock_type::now() - started, 5s);
  {
    std::lock_guard guard{mtx};
    ASSERT_TRUE(got);
    EXPECT_EQ(got->from, "a");
    EXPECT_EQ(got->epoch, 7u);
    EXPECT_EQ(got->mod_revision, 1234);
    EXPECT_EQ(got->state.tenant_id, "t1");
    EXPECT_EQ(got->state.size_bytes(), expected_size);
    EXPECT_EQ(got->state.payloads, x.state.payloads);
  }
  caf::anon_send(a.forwarder, wi::cluster::peer_discard_atom::value,
                 b.address(), std::string{"t1"}, uint64_t{8});
  auto deadline = clock_type::now() + 5s;
  for (;;) {
    {
      std::lock_guard guard{mtx};
      if (!discards.empty())
        break;
    }
    ASSERT_LT(clock_type::now(), deadline) << "the discard never arrived";
    std::this_thread::sleep_for(5ms);
  }
  std::lock_guard guard{mtx};
  EXPECT_EQ(discards,
            (std::vector<std::pair<std::string, uint64_t>>{{"t1", 8}}));
}

TEST(peer_move, an_unanswered_offer_fails_after_its_own_timeout) {
  std::vector<std::function<void(wi::cluster::move_reply)>> held;
  std::mutex mtx;
  wi::cluster::move_handlers moves;
  moves.offer = [&](wi::cluster::move_offer,
                    std::function<void(wi::cluster::move_reply)> reply) {
    std::lock_guard guard{mtx};
    held.push_back(std::move(reply)); // never answered
  };
  node b{no_forwards(), 10s, 0, std::move(moves)};
  node a{no_forwards()};
  wi::cluster::move_offer x;
  x.state.tenant_id = "t1";
  auto started = clock_type::now();
  auto reply = offer(a, b.address(), x, 300ms);
  ASSERT_FALSE(reply);
  EXPECT_EQ(wi::code_of(reply.error()), wi::errc::tenant_unavailable);
  auto took = clock_type::now() - started;
  EXPECT_GE(took, 250ms); // CAF's timers round to milliseconds
  EXPECT_LT(took, 3s);
}

TEST(peer_move, an_offer_longer_than_the_forward_timeout_waits_its_own) {
  // The sweep ends each entry at its own deadline: an offer of 5 s through
  // a forwarder whose forwards time out after 200 ms gets its answer at
  // 700 ms.
  wi::cluster::move_handlers moves;
  std::vector<std::thread> late;
  moves.offer = [&](wi::cluster::move_offer,
                    std::function<void(wi::cluster::move_reply)> reply) {
    late.emplace_back([reply = std::move(reply)] {
      std::this_thread::sleep_for(700ms);
      reply({true, {}});
    });
  };
  node b{no_forwards(), 10s, 0, std::move(moves)};
  node a{no_forwards(), 200ms};
  wi::cluster::move_offer x;
  x.state.tenant_id = "t1";
  auto reply = offer(a, b.address(), x, 5s);
  for (auto& t : late)
    t.join();
  ASSERT_TRUE(reply) << wi::text_of(reply.error());
  EXPECT_TRUE(reply->committed);
}

TEST(peer_move, a_node_without_move_handlers_refuses_offers) {
  node b{no_forwards()};
  node a{no_forwards()};
  wi::cluster::move_offer x;
  x.state.tenant_id = "t1";
  auto reply = offer(a, b.address(), x);
  ASSERT_TRUE(reply) << wi::text_of(reply.error());
  EXPECT_FALSE(reply->committed);
  EXPECT_EQ(reply->reason, "this node takes no moves");
}

// -- planned moves: requests wait for a frozen tenant
// --------------------------

namespace {

/// A real directory over an in-memory store, behind an HTTP server whose
/// forwards go to a fake that answers for node "b".
struct moving_node {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  std::shared_ptr<wi::persistence::memory_storage> store =
    std::make_shared<wi::persistence::memory_storage>();
  wi::wal_writer_actor wal = wi::persistence::spawn_wal_writer(sys, store);
  wi::wal_reader_actor reader = wi::persistence::spawn_wal_reader(sys, store);
  std::shared_ptr<wi::tenant_table> table =
    std::make_shared<wi::tenant_table>();
  wi::directory_actor dir = wi::spawn_directory(sys, wi::node_state{}, wal,
                                                table, 10'000, nullptr, reader);
  std::shared_ptr<fake_view> view = std::make_shared<fake_view>("a");
  std::unique_ptr<wi::http::server> http;
  uint16_t port = 0;
  std::mutex mtx;
  std::vector<std::string> forwarded_to; // peer address of each forward

  moving_node() {
    view->add_member("b", "peer-b:7");
    wi::http::server_config hcfg;
    hcfg.port = 0;
    hcfg.threads = 1;
    hcfg.admin_token_hash = wi::crypto::sha256(admin_token);
    http = std::make_unique<wi::http::server>(hcfg);
    auto started = http->start();
    if (!started)
      throw std::runtime_error(wi::text_of(started.error()));
    port = *started;
    wi::http::backend be;
    be.directory = dir;
    be.tenants = table;
    be.cluster = view;
    be.forward = [this](std::string peer, forwarded_request, forward_done d) {
      {
        std::lock_guard guard{mtx};
        forwarded_to.push_back(peer);
      }
      d.fn(forwarded_response{
        200, {{"Content-Type", "application/json"}}, R"({"data":"from b"})"});
    };
    http->set_ready(std::move(be));
  }

  ~moving_node() {
    http->stop();
    for (auto a :
         {caf::actor_cast<caf::actor>(dir), caf::actor_cast<caf::actor>(wal),
          caf::actor_cast<caf::actor>(reader)})
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    dir = nullptr;
    wal = nullptr;
    reader = nullptr;
  }

  wi_e2e::http_client client() const {
    return wi_e2e::http_client{"http://127.0.0.1:" + std::to_string(port)};
  }

  /// Runs a step of `local_tenants` and waits for its answer.
  template <class F>
  caf::error step(F f) {
    auto p = std::make_shared<std::promise<caf::error>>();
    auto fut = p->get_future();
    f([p](caf::error err) { p->set_value(std::move(err)); });
    if (fut.wait_for(10s) != std::future_status::ready)
      return wi::make_error(wi::errc::internal, "no answer within 10 s");
    return fut.get();
  }

  bool freeze(const std::string& tenant) {
    auto p = std::make_shared<std::promise<bool>>();
    auto f = p->get_future();
    wi::local_tenants_of(dir).freeze(tenant,
                                     [p](caf::expected<wi::tenant_export> x) {
                                       p->set_value(static_cast<bool>(x));
                                     });
    return f.wait_for(10s) == std::future_status::ready && f.get();
  }
};

} // namespace

TEST(peer_http_moves, requests_wait_for_a_move_then_run_here_or_go_to_b) {
  moving_node a;
  auto created =
    std::make_shared<std::promise<caf::expected<wi::tenant_info>>>();
  caf::anon_send(
    a.dir, wi::create_atom::value, std::string{"acme"},
    wi::reply_fn<wi::tenant_info>{[created](caf::expected<wi::tenant_info> x) {
      created->set_value(std::move(x));
    }});
  auto info = created->get_future().get();
  ASSERT_TRUE(info) << wi::text_of(info.error());
  auto headers = wi_e2e::bearer(info->token);
  auto ep = a.client().post(
    "/v1/webhook/endpoints",
    R"({"url":"https://example.com/hook","secret":"secret-secret","event_types":["a.b"]})",
    headers);
  ASSERT_EQ(ep.status, 201) << ep;

  // Frozen: a request waits, then runs here after the thaw.
  ASSERT_TRUE(a.freeze(info->id));
  auto waiting = std::async(std::launch::async, [&] {
    return a.client().get("/v1/webhook/endpoints/list", headers);
  });
  EXPECT_EQ(waiting.wait_for(300ms), std::future_status::timeout)
    << "answered while the tenant was frozen";
  ASSERT_FALSE(a.step(
    [&](auto done) { wi::local_tenants_of(a.dir).thaw(info->id, done); }));
  ASSERT_EQ(waiting.wait_for(10s), std::future_status::ready);
  auto here = waiting.get();
  EXPECT_EQ(here.status, 200) << here;
  EXPECT_EQ(here.data().as_array().size(), 1u) << here;

  // Frozen again: a waiting create goes to the new owner on release, and so
  // does a later request (this node's placement cache is not told).
  ASSERT_TRUE(a.freeze(info->id));
  auto moving = std::async(std::launch::async, [&] {
    return a.client().post(
      "/v1/webhook/endpoints",
      R"({"url":"https://example.com/2","secret":"secret-secret","event_types":["a.b"]})",
      headers);
  });
  EXPECT_EQ(moving.wait_for(300ms), std::future_status::timeout);
  ASSERT_FALSE(a.step([&](auto done) {
    wi::local_tenants_of(a.dir).release_to(info->id, "b", done);
  }));
  ASSERT_EQ(moving.wait_for(10s), std::future_status::ready);
  auto relayed = moving.get();
  EXPECT_EQ(relayed.status, 200) << relayed;
  EXPECT_EQ(relayed.data(), "from b") << relayed;
  auto later = a.client().get("/v1/webhook/endpoints/list", headers);
  EXPECT_EQ(later.status, 200) << later;
  EXPECT_EQ(later.data(), "from b") << later;
  std::lock_guard guard{a.mtx};
  EXPECT_EQ(a.forwarded_to, (std::vector<std::string>{"peer-b:7", "peer-b:7"}));
}
