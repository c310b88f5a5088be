// Cluster mode end to end: a real etcd (tests/cluster/support) and real
// webhook-ingress binaries on 127.0.0.1, lease TTL 2 s.

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "actors/cluster/placement.hpp"
#include "support/api.hpp"
#include "support/etcd_process.hpp"
#include "support/eventually.hpp"
#include "support/http_client.hpp"
#include "support/receiver.hpp"
#include "support/server_process.hpp"

using namespace wi_e2e;
using namespace std::chrono_literals;
using wi_cluster_test::eventually;
namespace json = boost::json;

namespace {

class cluster_test : public ::testing::Test {
 protected:
  void SetUp() override {
    etcd_ = std::make_unique<wi_cluster_test::etcd_process>();
  }

  void TearDown() override {
    if (HasFailure())
      for (auto& n : nodes_)
        std::cerr << "--- node stderr (tail) ---\n"
                  << n->stderr_tail() << "\n--- end ---\n";
    nodes_.clear();
  }

  std::vector<std::string> cluster_args(const std::string& etcd_url) const {
    return {"--etcd", etcd_url,        "--lease-ttl",
            "2s",     "--peer-listen", "127.0.0.1:0"};
  }

  /// Starts a node in cluster mode on a fresh data directory, with `env`
  /// added to its environment (test hooks).
  server_process& start_node(std::vector<std::string> more = {},
                             std::map<std::string, std::string> env = {}) {
    dirs_.push_back(std::make_unique<temp_dir>());
    server_config cfg;
    cfg.data_dir = dirs_.back()->path();
    cfg.admin_token = admin_token_;
    cfg.extra_args = cluster_args(etcd_->client_url());
    cfg.extra_args.insert(cfg.extra_args.end(), more.begin(), more.end());
    for (auto& [k, v] : env)
      cfg.env[k] = v;
    nodes_.push_back(std::make_unique<server_process>(std::move(cfg)));
    nodes_.back()->start();
    return *nodes_.back();
  }

  header_list admin() const {
    return {{"Authorization", "Bearer " + admin_token_}};
  }

  /// `GET /admin/v1/cluster` on `node`; its `data`.
  json::object cluster_of(server_process& node) const {
    auto r = http_client{node.base_url()}.get("/admin/v1/cluster", admin());
    EXPECT_EQ(r.status, 200) << r;
    return r.data().as_object();
  }

  /// Member ids in `node`'s view.
  std::set<std::string> member_ids(server_process& node) const {
    std::set<std::string> ids;
    auto c = cluster_of(node); // alive through the loop
    for (const auto& m : c.at("members").as_array())
      ids.insert(std::string{m.at("id").as_string()});
    return ids;
  }

  /// Nodes "a" and "b", once "a" sees both.
  std::pair<server_process&, server_process&> start_pair() {
    auto& a = start_node({"--node-id", "a"});
    auto& b = start_node({"--node-id", "b"});
    EXPECT_TRUE(eventually(
      [&] {
        return member_ids(a) == std::set<std::string>{"a", "b"};
      },
      3s));
    return {a, b};
  }

  long readyz(server_process& node) const {
    return http_client{node.base_url(), 2s}.get("/readyz").status;
  }

  const std::string admin_token_ = "cluster-admin-" + random_hex(16);
  std::unique_ptr<wi_cluster_test::etcd_process> etcd_;
  std::vector<std::unique_ptr<temp_dir>> dirs_;
  std::vector<std::unique_ptr<server_process>> nodes_;
};

} // namespace

TEST_F(cluster_test, three_nodes_register_and_appear_on_every_node) {
  std::vector<server_process*> nodes;
  for (int i = 0; i < 3; ++i)
    nodes.push_back(&start_node({"--node-id", "node-" + std::to_string(i)}));
  std::set<std::string> all{"node-0", "node-1", "node-2"};
  for (auto* n : nodes) {
    ASSERT_TRUE(eventually(
      [&] {
        auto c = cluster_of(*n);
        if (c.at("members").as_array().size() != 3)
          return false;
        for (const auto& m : c.at("members").as_array())
          if (m.at("state").as_string() != "active")
            return false;
        return true;
      },
      5s));
    auto c = cluster_of(*n);
    EXPECT_EQ(member_ids(*n), all);
    EXPECT_EQ(c.at("cluster_mode").as_bool(), true);
    EXPECT_EQ(c.at("moves"),
              (json::object{{"under_way", json::array{}}, {"done", 0}}));
  }
  // Each member advertises its own HTTP address, and it answers there.
  for (size_t i = 0; i < nodes.size(); ++i) {
    auto c = cluster_of(*nodes[i]);
    EXPECT_EQ(c.at("node").as_string(), "node-" + std::to_string(i));
    for (const auto& m : c.at("members").as_array()) {
      auto id = std::string{m.at("id").as_string()};
      auto index = static_cast<size_t>(id.back() - '0');
      EXPECT_EQ(m.at("http").as_string(),
                "127.0.0.1:" + std::to_string(nodes[index]->port()));
    }
  }
  // A tenant created through each node is placed on its rendezvous owner
  // and every node counts it.
  std::vector<tenant> tenants;
  for (auto* n : nodes)
    tenants.push_back(
      create_tenant(http_client{n->base_url()}, admin_token_, "t"));
  json::object expected;
  for (const auto& t : tenants) {
    auto owner =
      *wi::cluster::rendezvous_owner(t.id, {"node-0", "node-1", "node-2"});
    EXPECT_EQ(t.data.at("owner").as_string(), owner);
    expected[owner] =
      expected.contains(owner) ? expected[owner].as_int64() + 1 : int64_t{1};
  }
  for (auto* n : nodes)
    EXPECT_TRUE(eventually(
      [&] { return cluster_of(*n).at("tenants_by_node") == expected; }, 3s))
      << json::serialize(cluster_of(*n));
  auto got = http_client{nodes[1]->base_url()}.get(
    "/admin/v1/tenants/" + tenants[1].id, admin());
  ASSERT_EQ(got.status, 200) << got;
  EXPECT_EQ(got.data().at("owner"), tenants[1].data.at("owner"));
}

TEST_F(cluster_test, etcd_unreachable_at_start_refuses_naming_the_url) {
  temp_dir dir;
  auto url = "http://127.0.0.1:" + std::to_string(wi_cluster_test::free_port());
  auto r = run_to_exit({server_binary().string(), "--listen", "127.0.0.1:0",
                        "--data-dir", dir.path().string(), "--admin-token",
                        admin_token_, "--etcd", url},
                       10s);
  ASSERT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code(), 1);
  EXPECT_NE(r.err.find("refusing to start: etcd unreachable at " + url),
            std::string::npos)
    << r.err;
  EXPECT_EQ(r.out.find("listening on"), std::string::npos) << r.out;
}

TEST_F(cluster_test, a_second_node_with_the_same_id_refuses_to_start) {
  auto& first = start_node({"--node-id", "twin"});
  temp_dir dir;
  auto args = std::vector<std::string>{server_binary().string(),
                                       "--listen",
                                       "127.0.0.1:0",
                                       "--data-dir",
                                       dir.path().string(),
                                       "--admin-token",
                                       admin_token_,
                                       "--node-id",
                                       "twin"};
  for (auto& a : cluster_args(etcd_->client_url()))
    args.push_back(a);
  auto r = run_to_exit(args, 15s);
  ASSERT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code(), 1);
  EXPECT_NE(r.err.find("node id twin is already a live member of the cluster "
                       "(HTTP 127.0.0.1:" +
                       std::to_string(first.port()) + ")"),
            std::string::npos)
    << r.err;
  // The first one is untouched.
  EXPECT_EQ(member_ids(first), (std::set<std::string>{"twin"}));
  EXPECT_EQ(readyz(first), 200);
}

TEST_F(cluster_test, a_killed_node_leaves_the_members_within_ttl_plus_1s) {
  auto [a, b] = start_pair();
  b.kill9();
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually(
    [&] { return member_ids(a) == std::set<std::string>{"a"}; }, 5s));
  auto took = std::chrono::steady_clock::now() - t0;
  std::cout
    << "killed node left the member list after "
    << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
    << " ms (lease TTL 2 s)\n";
  EXPECT_LT(took, 3s);
  // Restarted on its data directory, it is the same node again.
  b.start();
  EXPECT_TRUE(eventually(
    [&] {
      return member_ids(a) == std::set<std::string>{"a", "b"};
    },
    3s));
}

TEST_F(cluster_test, a_graceful_stop_leaves_the_members_at_once) {
  auto [a, b] = start_pair();
  b.stop();
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually(
    [&] { return member_ids(a) == std::set<std::string>{"a"}; }, 2s));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
}

TEST_F(cluster_test, etcd_lost_makes_readyz_not_ready_and_recovers) {
  auto& node = start_node();
  http_client client{node.base_url()};
  auto t = create_tenant(client, admin_token_, "kept");
  etcd_->stop();
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] { return readyz(node) == 503; }, 5s));
  std::cout << "readyz not ready "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::steady_clock::now() - t0)
                 .count()
            << " ms after etcd stopped\n";
  auto r = client.get("/readyz");
  EXPECT_EQ(r.status, 503) << r;
  EXPECT_EQ(r.error().at("code").as_string(), "NOT_READY");
  // It keeps serving the tenants it holds with the placement it knows.
  auto got = client.get("/admin/v1/tenants/" + t.id, admin());
  EXPECT_EQ(got.status, 200) << got;
  auto metrics = client.get("/metrics", admin());
  ASSERT_EQ(metrics.status, 200);
  EXPECT_TRUE(eventually(
    [&] {
      return client.get("/metrics", admin())
               .body.find("webhook_ingress_cluster_etcd_up 0\n") !=
             std::string::npos;
    },
    3s));
  EXPECT_NE(client.get("/metrics", admin())
              .body.find("webhook_ingress_cluster_placement_map_age_seconds "),
            std::string::npos);
  // Self-fencing: once the last renewal is TTL - TTL/4 old (1.5 s), writes
  // answer 503 TENANT_UNAVAILABLE; so do a move and a pin change (issue 15:
  // the move route was missing from the list).
  ASSERT_TRUE(eventually(
    [&] {
      return client
               .post("/v1/webhook/endpoints",
                     json::serialize(endpoint_request()),
                     {{"Authorization", "Bearer " + t.token},
                      {"Content-Type", "application/json"}})
               .status == 503;
    },
    5s));
  header_list admin_json{{"Authorization", "Bearer " + admin_token_},
                         {"Content-Type", "application/json"}};
  auto move = client.post("/admin/v1/tenants/" + t.id + "/move",
                          R"({"to":"elsewhere"})", admin_json);
  EXPECT_EQ(move.status, 503) << move;
  if (move.is_json) {
    EXPECT_EQ(move.error().at("code").as_string(), "TENANT_UNAVAILABLE");
  }
  EXPECT_EQ(move.header("retry-after"), "1");
  auto unpin =
    client.request("DELETE", "/admin/v1/tenants/" + t.id + "/pin", admin());
  EXPECT_EQ(unpin.status, 503) << unpin;
  if (unpin.is_json) {
    EXPECT_EQ(unpin.error().at("code").as_string(), "TENANT_UNAVAILABLE");
  }
  etcd_->start();
  t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] { return readyz(node) == 200; }, 10s));
  std::cout << "ready again "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::steady_clock::now() - t0)
                 .count()
            << " ms after etcd came back\n";
  auto text = client.get("/metrics", admin()).body;
  EXPECT_NE(text.find("webhook_ingress_cluster_etcd_up 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("webhook_ingress_cluster_placement_map_age_seconds 0\n"),
            std::string::npos);
  EXPECT_EQ(member_ids(node).size(), 1u);
}

TEST(single_node_cluster_view, shows_the_node_alone) {
  temp_dir dir;
  server_config cfg;
  cfg.data_dir = dir.path();
  cfg.admin_token = "single-admin";
  server_process node{cfg};
  node.start();
  auto r = http_client{node.base_url()}.get(
    "/admin/v1/cluster", {{"Authorization", "Bearer single-admin"}});
  ASSERT_EQ(r.status, 200) << r;
  const auto& d = r.data().as_object();
  EXPECT_EQ(d.at("cluster_mode").as_bool(), false);
  ASSERT_EQ(d.at("members").as_array().size(), 1u);
  const auto& m = d.at("members").as_array()[0].as_object();
  EXPECT_EQ(m.at("id"), d.at("node"));
  EXPECT_EQ(m.at("http").as_string(),
            "127.0.0.1:" + std::to_string(node.port()));
  EXPECT_EQ(m.at("state").as_string(), "active");
  EXPECT_TRUE(d.at("tenants_by_node").as_object().empty());
  auto t = create_tenant(http_client{node.base_url()}, "single-admin", "x");
  EXPECT_EQ(t.data.at("owner"), d.at("node"));
  auto unauth = http_client{node.base_url()}.get("/admin/v1/cluster");
  EXPECT_EQ(unauth.status, 401);
}

// Any node answers any request: a tenant's endpoints are created, read and
// listed through every node with the owner's answers (a forwarded POST with
// a body included: its first run crashed the owner), the spec's error
// statuses are unchanged through forwarding, and a killed owner's tenant
// answers 503 TENANT_UNAVAILABLE with Retry-After through the others within
// lease TTL + 1 s, then serves again with nothing lost once it is back.
TEST_F(cluster_test,
       every_node_answers_for_every_tenant_and_a_dead_owner_503s) {
  std::vector<server_process*> nodes;
  for (int i = 0; i < 3; ++i)
    nodes.push_back(&start_node({"--node-id", "n" + std::to_string(i)}));
  ASSERT_TRUE(
    eventually([&] { return member_ids(*nodes[0]).size() == 3; }, 5s));
  // Tenants go to their rendezvous owner: create some (through every node
  // in turn) until each node owns one; tenants[i] is owned by n<i>.
  std::vector<tenant> tenants(3);
  size_t created = 0;
  for (size_t k = 0; k < 60; ++k) {
    auto t =
      create_tenant(http_client{nodes[k % 3]->base_url()}, admin_token_, "t");
    ++created;
    auto owner = std::string{t.data.at("owner").as_string()};
    auto& slot = tenants[static_cast<size_t>(owner.back() - '0')];
    if (slot.id.empty())
      slot = std::move(t);
    if (!tenants[0].id.empty() && !tenants[1].id.empty() &&
        !tenants[2].id.empty())
      break;
  }
  for (const auto& t : tenants)
    ASSERT_FALSE(t.id.empty()) << "no tenant landed on some node";
  for (auto* n : nodes) // every node's placement map knows every tenant
    ASSERT_TRUE(eventually(
      [&] {
        size_t sum = 0;
        auto c = cluster_of(*n); // alive through the loop
        for (const auto& [node, count] : c.at("tenants_by_node").as_object())
          sum += count.to_number<size_t>();
        return sum == created;
      },
      3s));

  for (size_t t = 0; t < tenants.size(); ++t) {
    const header_list auth{{"Authorization", "Bearer " + tenants[t].token},
                           {"Content-Type", "application/json"}};
    // One endpoint created through each node: identifiers 1, 2, 3.
    for (size_t i = 0; i < nodes.size(); ++i) {
      auto body =
        endpoint_request("https://example.com/hook/" + std::to_string(i));
      auto r = http_client{nodes[i]->base_url()}.post(
        std::string{endpoints_path}, json::serialize(body), auth);
      ASSERT_EQ(r.status, 201) << r;
      EXPECT_EQ(r.data().at("identifier").as_int64(),
                static_cast<int64_t>(i + 1));
    }
    // Reads through every node are the owner's, byte for byte but `meta`.
    std::vector<json::value> seen;
    for (auto* n : nodes) {
      http_client c{n->base_url()};
      auto one = c.get(endpoint_path(2), auth);
      ASSERT_EQ(one.status, 200) << one;
      auto list = c.get("/v1/webhook/endpoints/list?page=1&pageSize=10", auth);
      ASSERT_EQ(list.status, 200) << list;
      EXPECT_EQ(list.data().as_array().size(), 3u) << list;
      seen.push_back(json::array{one.data(), list.data()});
      // The spec's errors, unchanged through forwarding.
      auto missing = c.get(endpoint_path(99), auth);
      EXPECT_EQ(missing.status, 404) << missing;
      EXPECT_EQ(missing.error().at("code").as_string(), "NOT_FOUND");
      auto invalid =
        c.post(std::string{endpoints_path}, R"({"url":"ftp://x"})", auth);
      EXPECT_EQ(invalid.status, 422) << invalid;
      auto wrong = c.get(endpoint_path(1),
                         {{"Authorization", "Bearer wi_" + tenants[t].id + "_" +
                                              random_hex(32)}});
      EXPECT_EQ(wrong.status, 401) << wrong;
    }
    EXPECT_EQ(seen[0], seen[1]);
    EXPECT_EQ(seen[0], seen[2]);
  }

  // Kill n0: its tenant answers 503 through n1 and n2, soon.
  const header_list auth0{{"Authorization", "Bearer " + tenants[0].token}};
  nodes[0]->kill9();
  auto t0 = std::chrono::steady_clock::now();
  for (auto* n : {nodes[1], nodes[2]}) {
    ASSERT_TRUE(eventually(
      [&] {
        auto r = http_client{n->base_url(), 2s}.get(endpoint_path(1), auth0);
        return r.status == 503 && r.is_json &&
               r.error().at("code").as_string() == "TENANT_UNAVAILABLE" &&
               !r.header("retry-after").empty() &&
               std::stoi(r.header("retry-after")) >= 1;
      },
      3s));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  // The other tenants are not affected.
  auto other = http_client{nodes[1]->base_url()}.get(
    endpoint_path(3), {{"Authorization", "Bearer " + tenants[2].token}});
  EXPECT_EQ(other.status, 200) << other;

  // Back on its data directory: the tenant serves again, nothing lost.
  nodes[0]->start();
  ASSERT_TRUE(eventually(
    [&] {
      auto r = http_client{nodes[1]->base_url(), 2s}.get(
        "/v1/webhook/endpoints/list?page=1&pageSize=10", auth0);
      return r.status == 200 && r.data().as_array().size() == 3;
    },
    5s));
}

// -- placement of new tenants, drains (issue 15, items 3 and 5) -------------

namespace {

/// The active members of `node`'s view.
std::vector<std::string> active_ids(const json::object& cluster) {
  std::vector<std::string> ids;
  for (const auto& m : cluster.at("members").as_array())
    if (m.at("state").as_string() == "active")
      ids.emplace_back(m.at("id").as_string());
  return ids;
}

/// The state of member `id` in `cluster`, or "" if it is not listed.
std::string state_of(const json::object& cluster, std::string_view id) {
  for (const auto& m : cluster.at("members").as_array())
    if (m.at("id").as_string() == id)
      return std::string{m.at("state").as_string()};
  return {};
}

} // namespace

// New tenants land on their rendezvous owner among the active members,
// whichever node the create went to, and the 201 comes after the placement
// key is in etcd: the token works at once through any other node.
TEST_F(cluster_test,
       new_tenants_go_to_their_rendezvous_owner_and_work_at_once) {
  std::vector<server_process*> nodes;
  for (int i = 0; i < 3; ++i)
    nodes.push_back(&start_node({"--node-id", "r" + std::to_string(i)}));
  ASSERT_TRUE(eventually(
    [&] {
      for (auto* n : nodes)
        if (active_ids(cluster_of(*n)).size() != 3)
          return false;
      return true;
    },
    5s));
  const std::vector<std::string> ids{"r0", "r1", "r2"};
  std::map<std::string, int> owners;
  for (size_t i = 0; i < 12; ++i) {
    auto t = create_tenant(http_client{nodes[i % 3]->base_url()}, admin_token_,
                           "spread-" + std::to_string(i));
    auto owner = std::string{t.data.at("owner").as_string()};
    EXPECT_EQ(owner, *wi::cluster::rendezvous_owner(t.id, ids)) << t.id;
    ++owners[owner];
    // At once, through the two other nodes: a read and a write.
    const header_list auth{{"Authorization", "Bearer " + t.token},
                           {"Content-Type", "application/json"}};
    auto list = http_client{nodes[(i + 1) % 3]->base_url()}.get(
      "/v1/webhook/endpoints/list", auth);
    EXPECT_EQ(list.status, 204) << list;
    auto made = http_client{nodes[(i + 2) % 3]->base_url()}.post(
      std::string{endpoints_path}, json::serialize(endpoint_request()), auth);
    EXPECT_EQ(made.status, 201) << made;
  }
  // Spread: 12 tenants on one or two nodes only is a 1-in-1000 event.
  EXPECT_EQ(owners.size(), 3u);
  std::cout << "12 tenants: r0 " << owners["r0"] << ", r1 " << owners["r1"]
            << ", r2 " << owners["r2"] << "\n";
  // Counted once per request, on the node the client talked to: the 24
  // tenant requests above went to 2 nodes each, none is counted twice.
  uint64_t counted = 0;
  for (auto* n : nodes) {
    auto text = http_client{n->base_url()}.get("/metrics", admin()).body;
    std::istringstream lines{text};
    for (std::string line; std::getline(lines, line);)
      if (line.starts_with("webhook_ingress_http_requests_total{") &&
          (line.find("/v1/webhook/endpoints/list") != std::string::npos ||
           (line.find("route=\"/v1/webhook/endpoints\"") != std::string::npos &&
            line.find("method=\"POST\"") != std::string::npos)))
        counted += std::stoull(line.substr(line.rfind(' ') + 1));
  }
  EXPECT_EQ(counted, 24u);
}

// The drain route: 202 at once on any node, the drained node owns nothing,
// still answers, and gets no new tenants; unknown ids and the last active
// member are refused.
TEST_F(cluster_test, drain_route_drains_a_node_and_placement_skips_it) {
  std::vector<server_process*> nodes;
  for (int i = 0; i < 3; ++i)
    nodes.push_back(&start_node({"--node-id", "d" + std::to_string(i)}));
  ASSERT_TRUE(eventually(
    [&] { return active_ids(cluster_of(*nodes[2])).size() == 3; }, 5s));
  http_client c0{nodes[0]->base_url()};
  auto unknown = c0.post("/admin/v1/cluster/nodes/nope/drain", "", admin());
  EXPECT_EQ(unknown.status, 404) << unknown;
  EXPECT_EQ(unknown.error().at("code").as_string(), "NOT_FOUND");
  auto tenant_token = create_tenant(c0, admin_token_, "x").token;
  auto forbidden =
    c0.post("/admin/v1/cluster/nodes/d2/drain", "", bearer(tenant_token));
  EXPECT_EQ(forbidden.status, 403) << forbidden;

  // d2 is drained through d0 (forwarded to d2 by the peer layer).
  auto t0 = std::chrono::steady_clock::now();
  auto r = c0.post("/admin/v1/cluster/nodes/d2/drain", "", admin());
  ASSERT_EQ(r.status, 202) << r;
  EXPECT_EQ(r.data().at("node").as_string(), "d2");
  EXPECT_EQ(r.data().at("state").as_string(), "draining");
  ASSERT_TRUE(eventually(
    [&] {
      auto c = cluster_of(*nodes[0]);
      return state_of(c, "d2") == "drained" &&
             !c.at("tenants_by_node").as_object().contains("d2");
    },
    5s))
    << json::serialize(cluster_of(*nodes[0]));
  std::cout << "d2 drained "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::steady_clock::now() - t0)
                 .count()
            << " ms after the drain request (it owned "
            << "no tenant here, or they moved)\n";
  // Again: harmless, it says where it is.
  auto again = http_client{nodes[1]->base_url()}.post(
    "/admin/v1/cluster/nodes/d2/drain", "", admin());
  ASSERT_EQ(again.status, 202) << again;
  EXPECT_EQ(again.data().at("state").as_string(), "drained");

  // New tenants, even created through d2, go to d0 and d1 only, and d2
  // still answers for them.
  http_client c2{nodes[2]->base_url()};
  for (int i = 0; i < 6; ++i) {
    auto t = create_tenant(c2, admin_token_, "after-drain");
    auto owner = std::string{t.data.at("owner").as_string()};
    EXPECT_EQ(owner, *wi::cluster::rendezvous_owner(t.id, {"d0", "d1"}));
    auto list = c2.get("/v1/webhook/endpoints/list", bearer(t.token));
    EXPECT_EQ(list.status, 204) << list;
  }
  EXPECT_TRUE(eventually(
    [&] {
      return !cluster_of(*nodes[1])
                .at("tenants_by_node")
                .as_object()
                .contains("d2");
    },
    2s));

  // d1 drains too; then d0 is the last active member: 422.
  r = c2.post("/admin/v1/cluster/nodes/d1/drain", "", admin());
  ASSERT_EQ(r.status, 202) << r;
  ASSERT_TRUE(eventually(
    [&] { return state_of(cluster_of(*nodes[0]), "d1") != "active"; }, 3s));
  r = c2.post("/admin/v1/cluster/nodes/d0/drain", "", admin());
  EXPECT_EQ(r.status, 422) << r;
  EXPECT_EQ(r.error().at("code").as_string(), "VALIDATION_FAILED");
  EXPECT_EQ(state_of(cluster_of(*nodes[0]), "d0"), "active");
}

// SIGTERM in cluster mode drains first: a node that owns nothing goes
// `drained` and leaves at once; with `--drain-grace 0s` it skips the drain.
TEST_F(cluster_test, sigterm_drains_first_within_the_grace) {
  auto& a = start_node({"--node-id", "sa"});
  auto& b = start_node({"--node-id", "sb"});
  ASSERT_TRUE(
    eventually([&] { return active_ids(cluster_of(a)).size() == 2; }, 5s));
  auto t0 = std::chrono::steady_clock::now();
  b.stop();
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, 3s);
  EXPECT_NE(b.stderr_tail(20000).find("drained before stop"), std::string::npos)
    << b.stderr_tail();
  EXPECT_TRUE(eventually(
    [&] { return member_ids(a) == std::set<std::string>{"sa"}; }, 2s));
  // The last active member has nowhere to send its tenants: it stops.
  create_tenant(http_client{a.base_url()}, admin_token_, "kept");
  t0 = std::chrono::steady_clock::now();
  a.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  EXPECT_NE(a.stderr_tail(20000).find("stopping without a drain"),
            std::string::npos)
    << a.stderr_tail();
}

// -- with planned moves -----------------------------------------------------

// Join under a writer: a 4th node starts while a client creates endpoints;
// after the moves every acknowledged create is readable through every node
// exactly once, and the new node owns tenants.
TEST_F(cluster_test, join_under_a_writer_loses_nothing) {
  std::vector<server_process*> nodes;
  for (int i = 0; i < 3; ++i)
    nodes.push_back(&start_node({"--node-id", "j" + std::to_string(i)}));
  ASSERT_TRUE(eventually(
    [&] { return active_ids(cluster_of(*nodes[0])).size() == 3; }, 5s));
  std::vector<tenant> tenants;
  for (int i = 0; i < 8; ++i)
    tenants.push_back(
      create_tenant(http_client{nodes[0]->base_url()}, admin_token_, "join"));
  // The writer: endpoints created round-robin through the 3 first nodes;
  // what was acknowledged (201) is remembered by tenant.
  std::atomic<bool> stop{false};
  std::map<std::string, std::set<std::string>> acked; // tenant -> urls
  std::mutex acked_mtx;
  std::thread writer{[&] {
    for (size_t k = 0; !stop; ++k) {
      const auto& t = tenants[k % tenants.size()];
      auto url = "https://example.com/join/" + std::to_string(k);
      auto r = http_client{nodes[k % 3]->base_url(), 15s}.post(
        std::string{endpoints_path}, json::serialize(endpoint_request(url)),
        {{"Authorization", "Bearer " + t.token},
         {"Content-Type", "application/json"}});
      if (r.status == 201) {
        std::lock_guard guard{acked_mtx};
        acked[t.id].insert(url);
      }
    }
  }};
  std::this_thread::sleep_for(300ms);
  auto& d = start_node({"--node-id", "j3"});
  size_t expected = 0;
  for (const auto& t : tenants)
    expected +=
      *wi::cluster::rendezvous_owner(t.id, {"j0", "j1", "j2", "j3"}) == "j3";
  bool moved = eventually(
    [&] {
      auto by_node = cluster_of(d).at("tenants_by_node").as_object();
      return expected == 0 ||
             (by_node.contains("j3") &&
              by_node.at("j3").to_number<size_t>() == expected);
    },
    20s);
  std::this_thread::sleep_for(300ms);
  stop = true;
  writer.join();
  ASSERT_TRUE(moved) << json::serialize(cluster_of(d));
  nodes.push_back(&d);
  for (const auto& t : tenants) {
    for (auto* n : nodes) {
      std::multiset<std::string> seen;
      for (int page = 1;; ++page) {
        auto r = http_client{n->base_url()}.get(
          "/v1/webhook/endpoints/list?page=" + std::to_string(page) +
            "&pageSize=100",
          {{"Authorization", "Bearer " + t.token}});
        if (r.status == 204)
          break;
        ASSERT_EQ(r.status, 200) << r;
        for (const auto& e : r.data().as_array())
          seen.insert(std::string{e.at("url").as_string()});
      }
      std::lock_guard guard{acked_mtx};
      for (const auto& url : acked[t.id])
        EXPECT_EQ(seen.count(url), 1u) << t.id << " " << url;
    }
  }
}

// Drain with deliveries: every event published before and during the drain
// reaches a loopback receiver at least once (a repeat keeps its
// webhook-id), the drained node owns nothing, the data is readable
// elsewhere.
TEST_F(cluster_test, drain_with_deliveries_loses_no_event) {
  receiver rx;
  rx.set("/hook", behaviour::always(reply{200, 0ms, {}, "ok"}));
  std::vector<server_process*> nodes;
  for (int i = 0; i < 3; ++i)
    nodes.push_back(
      &start_node({"--node-id", "v" + std::to_string(i),
                   "--allow-private-targets", "--retry-schedule", "100ms"}));
  ASSERT_TRUE(eventually(
    [&] { return active_ids(cluster_of(*nodes[0])).size() == 3; }, 5s));
  // Tenants until v2 owns two of them.
  std::vector<tenant> on_v2;
  for (int i = 0; i < 40 && on_v2.size() < 2; ++i) {
    auto t =
      create_tenant(http_client{nodes[0]->base_url()}, admin_token_, "deliver");
    if (t.data.at("owner").as_string() == "v2")
      on_v2.push_back(std::move(t));
  }
  ASSERT_EQ(on_v2.size(), 2u);
  for (const auto& t : on_v2)
    create_endpoint(http_client{nodes[0]->base_url()}, t.token,
                    endpoint_request(rx.url("/hook"), "s3cr3t-value", {"*"}));
  std::set<std::string> published; // event ids
  auto publish = [&](size_t k) {
    const auto& t = on_v2[k % 2];
    auto r = http_client{nodes[k % 3]->base_url(), 15s}.post(
      "/v1/webhook/events",
      R"({"event_type":"a.b","payload":{"k":)" + std::to_string(k) + "}}",
      {{"Authorization", "Bearer " + t.token},
       {"Content-Type", "application/json"}});
    ASSERT_EQ(r.status, 202) << r;
    published.insert(std::string{r.data().at("id").as_string()});
  };
  for (size_t k = 0; k < 20; ++k)
    publish(k);
  auto r = http_client{nodes[1]->base_url()}.post(
    "/admin/v1/cluster/nodes/v2/drain", "", admin());
  ASSERT_EQ(r.status, 202) << r;
  for (size_t k = 20; k < 40; ++k)
    publish(k);
  ASSERT_TRUE(eventually(
    [&] { return state_of(cluster_of(*nodes[0]), "v2") == "drained"; }, 20s));
  EXPECT_FALSE(
    cluster_of(*nodes[0]).at("tenants_by_node").as_object().contains("v2"));
  // Every event arrived at least once; repeats keep their webhook-id.
  ASSERT_TRUE(rx.wait_until(
    [&](const std::vector<received_request>& got) {
      std::set<std::string> ids;
      for (const auto& q : got)
        if (auto id = q.header("webhook-id"))
          ids.insert(*id);
      return ids.size() >= published.size();
    },
    20s));
  std::map<std::string, std::string> body_of_id;
  for (const auto& q : rx.requests("/hook")) {
    auto id = q.header("webhook-id");
    ASSERT_TRUE(id);
    auto [it, fresh] = body_of_id.emplace(*id, q.body);
    if (!fresh) {
      EXPECT_EQ(it->second, q.body) << "a repeat of " << *id << " differs";
    }
  }
  EXPECT_EQ(body_of_id.size(), published.size());
  // Readable elsewhere, through the drained node too.
  for (const auto& t : on_v2)
    for (auto* n : nodes) {
      auto got = http_client{n->base_url()}.get(
        "/v1/webhook/endpoints/list", {{"Authorization", "Bearer " + t.token}});
      EXPECT_EQ(got.status, 200) << got;
    }
}

// Issue 15, the CI flake of drain_with_deliveries_loses_no_event: a node
// whose placement cache lags (here for good: the test hook
// WEBHOOK_INGRESS_TEST_IGNORE_PLACEMENTS keeps other nodes' placements out
// of it) and whose rendezvous owner for a tenant is itself answered 401/404
// for a tenant that lives on another node. It now reads the placement key
// from etcd and forwards; a node that guessed by rendezvous hands the
// request to one that asks etcd. Tenants that exist nowhere still get 401.
TEST_F(cluster_test, a_node_whose_placement_cache_lags_asks_etcd_not_401) {
  std::map<std::string, std::string> no_rebalance{
    {"WEBHOOK_INGRESS_TEST_NO_REBALANCE", "1"}};
  auto lagging = no_rebalance;
  lagging["WEBHOOK_INGRESS_TEST_IGNORE_PLACEMENTS"] = "1";
  auto& a = start_node({"--node-id", "a"}, no_rebalance);
  auto& b = start_node({"--node-id", "b"}, lagging);
  auto active_on = [&](server_process& n) {
    std::set<std::string> ids;
    auto c = cluster_of(n);
    for (const auto& m : c.at("members").as_array())
      if (m.at("state").as_string() == "active")
        ids.insert(std::string{m.at("id").as_string()});
    return ids;
  };
  ASSERT_TRUE(eventually(
    [&] {
      return active_on(a) == std::set<std::string>{"a", "b"} &&
             active_on(b) == std::set<std::string>{"a", "b"};
    },
    5s));
  // A tenant owned by "a" whose rendezvous owner, once "c" joins, is "c".
  std::vector<std::string> abc{"a", "b", "c"};
  std::optional<tenant> t;
  for (int i = 0; i < 80 && !t; ++i) {
    auto x = create_tenant(http_client{a.base_url()}, admin_token_, "t");
    if (x.data.at("owner").as_string() == "a" &&
        wi::cluster::rendezvous_owner(x.id, abc) == "c")
      t = std::move(x);
  }
  ASSERT_TRUE(t);
  create_endpoint(http_client{a.base_url()}, t->token);
  auto& c = start_node({"--node-id", "c"}, lagging);
  ASSERT_TRUE(eventually(
    [&] {
      return active_on(b) == std::set<std::string>(abc.begin(), abc.end()) &&
             active_on(c) == std::set<std::string>(abc.begin(), abc.end());
    },
    5s));
  header_list bearer{{"Authorization", "Bearer " + t->token}};
  // Through "c" (its rendezvous owner): a read, a publish (answered from
  // its headers before), the admin view.
  for (int round = 0; round < 2; ++round) {
    auto got = http_client{c.base_url()}.get(
      std::string{endpoints_path} + "/list", bearer);
    ASSERT_EQ(got.status, 200) << got;
    EXPECT_EQ(got.data().as_array().size(), 1u);
  }
  auto pub = http_client{c.base_url()}.post(
    "/v1/webhook/events", R"({"event_type":"a.b","payload":{}})",
    {{"Authorization", "Bearer " + t->token},
     {"Content-Type", "application/json"}});
  EXPECT_EQ(pub.status, 202) << pub;
  auto view =
    http_client{c.base_url()}.get("/admin/v1/tenants/" + t->id, admin());
  ASSERT_EQ(view.status, 200) << view;
  EXPECT_EQ(view.data().at("owner").as_string(), "a");
  // Through "b": it forwards by rendezvous to "c", which asks etcd and
  // forwards on to "a".
  auto via_b = http_client{b.base_url()}.get(
    std::string{endpoints_path} + "/list", bearer);
  EXPECT_EQ(via_b.status, 200) << via_b;
  // A tenant that exists nowhere (its rendezvous owner "c" too): 401, also
  // from the short negative cache, and 404 for its admin view.
  std::string ghost_id;
  for (int i = 0; ghost_id.empty() && i < 1000; ++i) {
    auto id = t->id;
    id[0] = static_cast<char>('A' + i % 26);
    id[1] = static_cast<char>('a' + (i / 26) % 26);
    if (id != t->id && wi::cluster::rendezvous_owner(id, abc) == "c")
      ghost_id = id;
  }
  ASSERT_FALSE(ghost_id.empty());
  auto ghost_token = t->token;
  ghost_token.replace(ghost_token.find(t->id), t->id.size(), ghost_id);
  for (int round = 0; round < 2; ++round) {
    auto r = http_client{c.base_url()}.get(
      std::string{endpoints_path} + "/list",
      {{"Authorization", "Bearer " + ghost_token}});
    EXPECT_EQ(r.status, 401) << r;
  }
  EXPECT_EQ(http_client{c.base_url()}
              .get("/admin/v1/tenants/" + ghost_id, admin())
              .status,
            404);
  auto metrics = http_client{c.base_url()}.get("/metrics", admin());
  EXPECT_NE(
    metrics.body.find(
      "webhook_ingress_cluster_placement_lookups_total{result=\"missing\"}"),
    std::string::npos);
}
