// Durability: acknowledged state survives SIGKILL and SIGTERM restarts on
// the same data directory.

#include <sys/wait.h>

#include <atomic>
#include <mutex>
#include <thread>

#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include "support/assertions.hpp"
#include "support/fixture.hpp"

using namespace wi_e2e;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

/// Everything a client can observe about the tenants.
struct observed_state {
  json::value tenants;
  std::map<std::string, std::vector<json::value>> endpoints;
  std::map<std::string, json::value> lists;
  std::map<std::string, std::vector<json::value>> statistics;
};

/// Expects `after` to equal `before`, printing both on a difference.
void expect_same(const std::vector<tenant>& tenants, observed_state& before,
                 observed_state& after) {
  EXPECT_EQ(json::serialize(after.tenants), json::serialize(before.tenants));
  for (const auto& t : tenants) {
    SCOPED_TRACE(t.name);
    for (size_t i = 0; i < before.endpoints[t.id].size(); ++i) {
      EXPECT_EQ(after.endpoints[t.id][i], before.endpoints[t.id][i])
        << "id " << i + 1
        << "\nbefore: " << json::serialize(before.endpoints[t.id][i])
        << "\nafter:  " << json::serialize(after.endpoints[t.id][i]);
      EXPECT_EQ(after.statistics[t.id][i], before.statistics[t.id][i])
        << "id " << i + 1
        << "\nbefore: " << json::serialize(before.statistics[t.id][i])
        << "\nafter:  " << json::serialize(after.statistics[t.id][i]);
    }
    EXPECT_EQ(after.lists[t.id], before.lists[t.id])
      << "before: " << json::serialize(before.lists[t.id])
      << "\nafter:  " << json::serialize(after.lists[t.id]);
  }
}

class restart : public server_test {
 protected:
  observed_state observe(const std::vector<tenant>& tenants, int64_t max_id) {
    observed_state s;
    auto admin = client().get("/admin/v1/tenants", bearer(admin_token_));
    EXPECT_TRUE(is_success(admin, 200));
    s.tenants = without_meta(admin);
    // Whether an actor runs and its mailbox are runtime facts, not data.
    for (auto& t : s.tenants.at("data").as_array()) {
      t.as_object().erase("loaded");
      t.as_object().erase("mailbox_depth");
    }
    for (const auto& t : tenants) {
      for (int64_t id = 1; id <= max_id; ++id) {
        auto r = client().get(endpoint_path(id), bearer(t.token));
        s.endpoints[t.id].push_back(without_meta(r));
        auto st =
          client().get(endpoint_path(id, "/statistics"), bearer(t.token));
        s.statistics[t.id].push_back(without_meta(st));
      }
      auto l = client().get(std::string{endpoints_path} + "/list?pageSize=100",
                            bearer(t.token));
      EXPECT_TRUE(is_success(l, 200));
      s.lists[t.id] = without_meta(l);
    }
    return s;
  }

  void disable(const tenant& t, int64_t id) {
    ASSERT_TRUE(is_no_content(
      client().put(endpoint_path(id, "/disable"), bearer(t.token))));
  }

  void enable(const tenant& t, int64_t id) {
    ASSERT_TRUE(is_no_content(
      client().put(endpoint_path(id, "/enable"), bearer(t.token))));
  }

  /// Two tenants with a mix of active and inactive endpoints.
  std::vector<tenant> populate() {
    auto a = new_tenant("a");
    auto b = new_tenant("b");
    for (int i = 1; i <= 5; ++i) {
      auto body = endpoint_request("https://a.example.com/" + std::to_string(i),
                                   "secret-a-" + std::to_string(i),
                                   {"user.created", "t" + std::to_string(i)});
      if (i % 2 == 1)
        body["headers"] = json::object{{"X-Num", std::to_string(i)}};
      create_endpoint(client(), a.token, body);
    }
    for (int i = 1; i <= 3; ++i)
      create_endpoint(
        client(), b.token,
        endpoint_request("https://b.example.com/" + std::to_string(i)));
    disable(a, 2);
    disable(a, 4);
    disable(a, 5);
    enable(a, 5);
    disable(b, 1);
    return {a, b};
  }
};

} // namespace

TEST_F(restart, everything_acknowledged_survives_sigkill) {
  auto tenants = populate();
  auto before = observe(tenants, 6);
  restart_after_kill9();
  auto after = observe(tenants, 6);
  expect_same(tenants, before, after);
  // Statuses as set before the crash.
  EXPECT_EQ(get_endpoint(client(), tenants[0].token, 2).at("status"),
            "inactive");
  EXPECT_EQ(get_endpoint(client(), tenants[0].token, 5).at("status"), "active");
  EXPECT_EQ(get_endpoint(client(), tenants[1].token, 1).at("status"),
            "inactive");
  // Identifiers continue after the highest one.
  EXPECT_EQ(
    as_int(create_endpoint(client(), tenants[0].token).at("identifier")), 6);
  EXPECT_EQ(
    as_int(create_endpoint(client(), tenants[1].token).at("identifier")), 4);
  // Tenants created after the restart still get fresh ids and tokens.
  auto c = new_tenant("c");
  EXPECT_NE(c.id, tenants[0].id);
  EXPECT_NE(c.id, tenants[1].id);
  // And a second crash keeps the post-restart writes too.
  enable(tenants[1], 1);
  restart_after_kill9();
  EXPECT_EQ(get_endpoint(client(), tenants[1].token, 1).at("status"), "active");
  EXPECT_EQ(
    as_int(create_endpoint(client(), tenants[0].token).at("identifier")), 7);
  EXPECT_EQ(as_int(create_endpoint(client(), c.token).at("identifier")), 1);
}

TEST_F(restart, graceful_sigterm_exits_zero_and_keeps_everything) {
  auto tenants = populate();
  auto before = observe(tenants, 6);
  restart_graceful();
  auto after = observe(tenants, 6);
  expect_same(tenants, before, after);
  EXPECT_EQ(
    as_int(create_endpoint(client(), tenants[0].token).at("identifier")), 6);
}

TEST_F(restart, tenant_tokens_survive_sigkill) {
  auto a = new_tenant("a");
  restart_after_kill9();
  // A tenant without endpoints: list is 204 (authenticated), not 401.
  EXPECT_TRUE(is_no_content(
    client().get(std::string{endpoints_path} + "/list", bearer(a.token))));
  EXPECT_TRUE(is_error(
    client().get(std::string{endpoints_path} + "/list", bearer(a.token + "x")),
    401, "UNAUTHORIZED"));
  EXPECT_EQ(as_int(create_endpoint(client(), a.token).at("identifier")), 1);
}

TEST_F(restart, acknowledged_writes_under_load_survive_sigkill) {
  auto a = new_tenant("a");
  auto b = new_tenant("b");
  struct acked {
    std::string token;
    int64_t id;
    std::string url;
    bool disabled = false;
  };
  std::mutex mtx;
  std::vector<acked> acks;
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  auto base_url = server().base_url();
  for (int i = 0; i < 8; ++i) {
    workers.emplace_back([&, i] {
      const auto& token = i % 2 == 0 ? a.token : b.token;
      http_client client{base_url, 5s};
      for (int j = 0; !stop; ++j) {
        auto url =
          "https://example.com/w" + std::to_string(i) + "/" + std::to_string(j);
        try {
          auto r =
            client.post(endpoints_path, json::serialize(endpoint_request(url)),
                        bearer(token));
          if (r.status != 201)
            return;
          auto id = as_int(r.data().at("identifier"));
          size_t index;
          {
            std::lock_guard guard{mtx};
            index = acks.size();
            acks.push_back({token, id, url});
          }
          if (j % 2 == 1) {
            auto d = client.put(endpoint_path(id, "/disable"), bearer(token));
            if (d.status != 204)
              return;
            std::lock_guard guard{mtx};
            acks[index].disabled = true;
          }
        } catch (const std::exception&) {
          return; // the server is gone
        }
      }
    });
  }
  // Let the load run, then crash in the middle of it.
  auto deadline = std::chrono::steady_clock::now() + 5s;
  for (;;) {
    std::this_thread::sleep_for(50ms);
    std::lock_guard guard{mtx};
    if (acks.size() >= 60 || std::chrono::steady_clock::now() > deadline)
      break;
  }
  server().kill9();
  stop = true;
  for (auto& w : workers)
    w.join();
  ASSERT_GE(acks.size(), 10u) << "too little load before the crash";
  server().start();
  client_ = std::make_unique<http_client>(server().base_url());
  std::map<std::string, int64_t> max_id;
  for (const auto& ack : acks) {
    SCOPED_TRACE("id " + std::to_string(ack.id) + " " + ack.url);
    auto r = client().get(endpoint_path(ack.id), bearer(ack.token));
    ASSERT_TRUE(is_success(r, 200));
    EXPECT_EQ(str_at(r.data(), "url"), ack.url) << r;
    if (ack.disabled) {
      EXPECT_EQ(str_at(r.data(), "status"), "inactive") << r;
    }
    max_id[ack.token] = std::max(max_id[ack.token], ack.id);
  }
  for (const auto* t : {&a, &b}) {
    auto next = as_int(create_endpoint(client(), t->token).at("identifier"));
    EXPECT_GT(next, max_id[t->token]);
  }
}

TEST_F(restart, sigterm_under_load_exits_zero_and_keeps_acknowledged_writes) {
  auto a = new_tenant("a");
  std::mutex mtx;
  std::vector<std::pair<int64_t, std::string>> acks;
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  auto base_url = server().base_url();
  for (int i = 0; i < 6; ++i) {
    workers.emplace_back([&, i] {
      http_client client{base_url, 5s};
      for (int j = 0; !stop; ++j) {
        auto url =
          "https://example.com/g" + std::to_string(i) + "/" + std::to_string(j);
        try {
          auto r =
            client.post(endpoints_path, json::serialize(endpoint_request(url)),
                        bearer(a.token));
          if (r.status != 201)
            return; // e.g. 503 while shutting down
          std::lock_guard guard{mtx};
          acks.emplace_back(as_int(r.data().at("identifier")), url);
        } catch (const std::exception&) {
          return;
        }
      }
    });
  }
  auto deadline = std::chrono::steady_clock::now() + 5s;
  for (;;) {
    std::this_thread::sleep_for(20ms);
    std::lock_guard guard{mtx};
    if (acks.size() >= 40 || std::chrono::steady_clock::now() > deadline)
      break;
  }
  auto status = server().stop(10s);
  stop = true;
  for (auto& w : workers)
    w.join();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
    << describe_wait_status(status) << "\n"
    << server().stderr_tail();
  ASSERT_GE(acks.size(), 10u);
  server().start();
  client_ = std::make_unique<http_client>(server().base_url());
  int64_t max_id = 0;
  for (const auto& [id, url] : acks) {
    SCOPED_TRACE(url);
    auto r = client().get(endpoint_path(id), bearer(a.token));
    ASSERT_TRUE(is_success(r, 200));
    EXPECT_EQ(str_at(r.data(), "url"), url) << r;
    max_id = std::max(max_id, id);
  }
  EXPECT_GT(as_int(create_endpoint(client(), a.token).at("identifier")),
            max_id);
}
