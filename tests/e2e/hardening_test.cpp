// Hostile clients at the connection and resource level (issue 13): running
// out of descriptors, the connection cap, checks before a body is read, the
// body memory budget, data directory permissions and overload. See
// docs/security.md.

#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>

#include <gtest/gtest.h>

#include "support/assertions.hpp"
#include "support/fixture.hpp"
#include "support/raw_socket.hpp"
#include "support/receiver.hpp"

using namespace wi_e2e;
using namespace std::chrono_literals;

namespace {

/// VmRSS of `pid` in KiB, from /proc/PID/status.
long vm_rss_kib(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.starts_with("VmRSS:"))
      return std::stol(line.substr(6));
  return -1;
}

/// The value of the series `series` (name and labels as printed) in a
/// Prometheus text scrape; 0 when absent.
double metric(const std::string& text, const std::string& series) {
  std::istringstream in{text};
  std::string line;
  while (std::getline(in, line))
    if (line.starts_with(series + " "))
      return std::stod(line.substr(series.size() + 1));
  return 0;
}

const std::string refused_limit =
  "webhook_ingress_http_connections_refused_total{reason=\"limit\"}";
const std::string refused_descriptors =
  "webhook_ingress_http_connections_refused_total{reason=\"descriptors\"}";

/// `GET /healthz` until it answers 200 or `timeout` passes.
bool healthz_within(const std::string& base_url,
                    std::chrono::milliseconds timeout) {
  http_client quick{base_url, 1s};
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    try {
      if (quick.get("/healthz").status == 200)
        return true;
    } catch (const std::exception&) {
      // refused or reset while the server sheds connections
    }
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

std::string publish_head(std::string_view token, uint64_t content_length) {
  std::string head = "POST /v1/webhook/events HTTP/1.1\r\nHost: x\r\n"
                     "Content-Type: application/json\r\n";
  if (!token.empty())
    head += "Authorization: Bearer " + std::string{token} + "\r\n";
  return head + "Content-Length: " + std::to_string(content_length) +
         "\r\n\r\n";
}

const std::string small_event =
  R"({"event_type":"user.created","payload":{"n":1}})";

} // namespace

// -- descriptors and the connection cap ---------------------------------------

TEST(descriptor_exhaustion, accepting_resumes_once_connections_close) {
  // RESTinio 0.6.16 ended its accept loop on EMFILE: the server never
  // accepted again, /healthz included (issue 13, item 1).
#if defined(__SANITIZE_ADDRESS__)
  // UBSan's vptr check probes memory through a pipe (sanitizer_common's
  // IsAccessibleMemoryRange); with no descriptor left the probe fails and
  // it aborts the server on the next virtual call it checks ("invalid
  // vptr", a false report). Its suppressions do not apply (the type of the
  // object cannot be read either), so this test runs in the plain build.
  GTEST_SKIP() << "needs a build without UBSan's vptr check";
#endif
  temp_dir dir;
  server_config cfg;
  cfg.data_dir = dir.path() / "data";
  cfg.admin_token = "e2e-admin-" + random_hex(24);
  cfg.max_descriptors = 128;
  // No cap below the descriptor limit: run out for real.
  cfg.extra_args = {"--max-connections", "100000"};
  server_process srv{cfg};
  srv.start();

  std::vector<std::unique_ptr<raw_connection>> idle;
  for (int i = 0; i < 200; ++i)
    idle.push_back(std::make_unique<raw_connection>(srv.port()));
  // Out of descriptors: a new request gets no answer.
  {
    raw_connection probe{srv.port()};
    probe.send_some("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(probe.read_all(1s).find("200 OK"), std::string::npos);
  }
  idle.clear();
  ASSERT_TRUE(healthz_within(srv.base_url(), 10s)) << srv.stderr_tail();

  http_client client{srv.base_url()};
  auto scrape = client.get("/metrics", bearer(*cfg.admin_token));
  ASSERT_EQ(scrape.status, 200);
  // Pending connections were shed while descriptors were out.
  EXPECT_GT(metric(scrape.body, refused_descriptors), 0) << scrape.body;
  EXPECT_TRUE(srv.running());
}

class connection_cap : public server_test {
 protected:
  std::vector<std::string> extra_args() const override {
    return {"--max-connections", "8"};
  }
};

TEST_F(connection_cap, connections_beyond_the_cap_are_closed_and_counted) {
  std::vector<std::unique_ptr<raw_connection>> idle;
  for (int i = 0; i < 8; ++i)
    idle.push_back(std::make_unique<raw_connection>(server().port()));
  // The server learns of each accepted connection asynchronously: probe
  // until one is closed at once.
  bool refused = false;
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!refused && std::chrono::steady_clock::now() < deadline) {
    raw_connection probe{server().port()};
    probe.read_all(200ms);
    refused = probe.closed();
  }
  EXPECT_TRUE(refused);
  idle.clear();
  ASSERT_TRUE(healthz_within(client().base_url(), 5s));
  auto scrape = client().get("/metrics", bearer(admin_token_));
  ASSERT_EQ(scrape.status, 200);
  EXPECT_GE(metric(scrape.body, refused_limit), 1) << scrape.body;
  EXPECT_EQ(metric(scrape.body, refused_descriptors), 0);
}

// -- checks before the body ---------------------------------------------------

class early_checks : public server_test {
 protected:
  std::vector<std::string> extra_args() const override {
    return {"--max-body-bytes", "16777216"};
  }
};

TEST_F(early_checks, bodies_without_a_token_get_401_before_they_are_sent) {
  auto before = vm_rss_kib(server().pid());
  std::string chunk(256 * 1024, 'x');
  std::vector<std::unique_ptr<raw_connection>> conns;
  for (int i = 0; i < 150; ++i) {
    conns.push_back(std::make_unique<raw_connection>(server().port()));
    conns.back()->send_some(publish_head("", 8388608));
    conns.back()->send_some(chunk); // what the socket takes
  }
  int answered_401 = 0;
  for (auto& c : conns) {
    auto answer = c->read_all(5s);
    if (answer.starts_with("HTTP/1.1 401"))
      ++answered_401;
    EXPECT_TRUE(c->closed()); // the unread body makes the stream unusable
  }
  auto after = vm_rss_kib(server().pid());
  conns.clear();
  EXPECT_EQ(answered_401, 150);
  // 150 bodies of 8 MiB were announced; none is buffered.
  EXPECT_LT(after - before, 32 * 1024)
    << "RSS " << before << " -> " << after << " KiB";
  std::cout << "[ figures  ] RSS " << before << " KiB before, " << after
            << " KiB after 150 unauthenticated 8 MiB bodies\n";
}

TEST_F(early_checks, oversized_content_length_gets_413_before_the_body) {
  auto t = new_tenant();
  raw_connection c{server().port()};
  c.send_some(publish_head(t.token, uint64_t{32} << 20));
  auto answer = c.read_all(5s);
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 413")) << answer;
  EXPECT_NE(answer.find("PAYLOAD_TOO_LARGE"), std::string::npos) << answer;
  EXPECT_TRUE(c.closed());
}

TEST_F(early_checks, unknown_routes_and_admin_routes_answer_before_the_body) {
  auto t = new_tenant();
  {
    raw_connection c{server().port()};
    c.send_some("POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: "
                "1000000\r\n\r\n");
    auto answer = c.read_all(5s);
    EXPECT_TRUE(answer.starts_with("HTTP/1.1 404")) << answer;
  }
  {
    raw_connection c{server().port()};
    c.send_some("POST /admin/v1/tenants HTTP/1.1\r\nHost: x\r\n"
                "Authorization: Bearer " +
                t.token + "\r\nContent-Length: 1000000\r\n\r\n");
    auto answer = c.read_all(5s);
    EXPECT_TRUE(answer.starts_with("HTTP/1.1 403")) << answer;
  }
  // A valid request with a body still goes through.
  auto r = client().post("/v1/webhook/events", small_event, bearer(t.token));
  EXPECT_TRUE(is_success(r, 202)) << r;
}

TEST(early_checks_chunked, a_chunked_body_is_cut_at_the_limit) {
  temp_dir dir;
  server_config cfg;
  cfg.data_dir = dir.path() / "data";
  cfg.admin_token = "e2e-admin-" + random_hex(24);
  cfg.extra_args = {"--max-body-bytes", "65536"};
  server_process srv{cfg};
  srv.start();
  http_client client{srv.base_url()};
  auto t = create_tenant(client, *cfg.admin_token, "chunky");
  raw_connection c{srv.port()};
  c.send_some("POST /v1/webhook/events HTTP/1.1\r\nHost: x\r\n"
              "Authorization: Bearer " +
              t.token + "\r\nTransfer-Encoding: chunked\r\n\r\n");
  std::string chunk = "4000\r\n" + std::string(0x4000, 'x') + "\r\n";
  for (int i = 0; i < 6; ++i) // 96 KiB, past the 64 KiB limit
    c.send_some(chunk);
  auto answer = c.read_all(5s);
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 413")) << answer;
  EXPECT_TRUE(c.closed());
}

class body_budget : public server_test {
 protected:
  std::vector<std::string> extra_args() const override {
    return {"--max-body-bytes", "1048576", "--max-body-memory-bytes",
            "1048576"};
  }
};

TEST_F(body_budget, past_the_budget_requests_get_503_with_retry_after) {
  auto t = new_tenant();
  auto holder = std::make_unique<raw_connection>(server().port());
  // Announces 1 MiB (the whole budget) and sends only part of it.
  holder->send_some(publish_head(t.token, 1048576));
  holder->send_some(std::string(1000, ' '));
  // The holder's headers are taken asynchronously: retry until the budget
  // is held, then expect 503 with Retry-After.
  http_response r;
  auto deadline = std::chrono::steady_clock::now() + 5s;
  do {
    r = client().post("/v1/webhook/events", small_event, bearer(t.token));
  } while (r.status == 202 && std::chrono::steady_clock::now() < deadline);
  EXPECT_TRUE(is_error(r, 503, "OVERLOADED")) << r;
  EXPECT_EQ(r.header("Retry-After"), "1");
  // Once the holder goes, its share comes back.
  holder.reset();
  deadline = std::chrono::steady_clock::now() + 5s;
  do {
    r = client().post("/v1/webhook/events", small_event, bearer(t.token));
  } while (r.status == 503 && std::chrono::steady_clock::now() < deadline);
  EXPECT_TRUE(is_success(r, 202)) << r;
}

// -- data directory
// ------------------------------------------------------------

TEST(data_dir_permissions, a_new_data_dir_is_the_owners_alone) {
  temp_dir dir;
  server_config cfg;
  cfg.data_dir = dir.path() / "fresh" / "data";
  cfg.admin_token = "e2e-admin-" + random_hex(24);
  server_process srv{cfg};
  srv.start();
  struct stat st {};
  ASSERT_EQ(::stat(cfg.data_dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  int files = 0;
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator{cfg.data_dir}) {
    if (!entry.is_regular_file())
      continue;
    ASSERT_EQ(::stat(entry.path().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 077, 0u) << entry.path();
    ++files;
  }
  EXPECT_GT(files, 0);
}

TEST(data_dir_permissions, a_group_or_world_writable_data_dir_is_refused) {
  for (auto mode : {0770, 0707}) {
    temp_dir dir;
    auto data = dir.path() / "data";
    std::filesystem::create_directory(data);
    ASSERT_EQ(::chmod(data.c_str(), static_cast<mode_t>(mode)), 0);
    auto r = run_to_exit({server_binary().string(), "--listen", "127.0.0.1:0",
                          "--data-dir", data.string()},
                         20s);
    ASSERT_FALSE(r.timed_out);
    EXPECT_NE(r.exit_code(), 0);
    EXPECT_NE(r.err.find("is writable by its group or others"),
              std::string::npos)
      << r.err;
  }
}

// -- overload
// ----------------------------------------------------------------------

class overload : public server_test {
 protected:
  std::vector<std::string> extra_args() const override {
    return {"--allow-private-targets",
            "--max-pending-deliveries",
            "40",
            "--delivery-concurrency",
            "4",
            "--endpoint-concurrency",
            "4",
            "--max-connections",
            "32",
            "--retry-schedule",
            "100ms"};
  }
};

TEST_F(overload, sheds_load_with_retry_after_and_recovers_alone) {
  receiver hooks;
  // The receiver drains slowly while the load lasts.
  reply slow;
  slow.delay = 200ms;
  hooks.set("/slow", behaviour::always(slow));
  auto t = new_tenant();
  create_endpoint(
    client(), t.token,
    endpoint_request(hooks.url("/slow"), "s3cr3t-value", {"user.created"}));
  auto rss_before = vm_rss_kib(server().pid());

  // 3 s of load: 8 publishers as fast as they can, each on one kept-alive
  // connection, then 64 idle connections against a cap of 32.
  std::atomic<int> accepted{0}, too_many{0}, overloaded{0}, other{0};
  std::atomic<int> without_retry_after{0}, transport_errors{0};
  std::atomic<int> connected{0};
  std::atomic<long> peak_rss{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> publishers;
  for (int i = 0; i < 8; ++i)
    publishers.emplace_back([&] {
      http_session session{client().base_url(), 5s};
      bool first = true;
      while (!stop.load()) {
        try {
          auto r = session.request("POST", "/v1/webhook/events",
                                   bearer(t.token), small_event);
          if (r.status == 202)
            ++accepted;
          else if (r.status == 429 || r.status == 503) {
            ++(r.status == 429 ? too_many : overloaded);
            if (r.header("Retry-After").empty())
              ++without_retry_after;
          } else
            ++other;
        } catch (const std::exception&) {
          ++transport_errors; // a new connection refused at the cap
          std::this_thread::sleep_for(10ms);
        }
        if (std::exchange(first, false))
          ++connected;
      }
    });
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (connected.load() < 8 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  std::vector<std::unique_ptr<raw_connection>> idle;
  for (int i = 0; i < 64; ++i)
    idle.push_back(std::make_unique<raw_connection>(server().port()));
  auto until = std::chrono::steady_clock::now() + 3s;
  while (std::chrono::steady_clock::now() < until) {
    peak_rss = std::max(peak_rss.load(), vm_rss_kib(server().pid()));
    std::this_thread::sleep_for(100ms);
  }
  stop = true;
  for (auto& p : publishers)
    p.join();
  idle.clear();
  hooks.set("/slow", behaviour::always(reply{}));

  std::cout << "[ figures  ] 3 s overload: " << accepted << " accepted, "
            << too_many << " 429, " << overloaded << " 503, "
            << transport_errors << " transport errors; RSS " << rss_before
            << " KiB before, peak " << peak_rss << " KiB\n";
  EXPECT_GT(accepted.load(), 0);
  EXPECT_GT(too_many.load(), 0); // the pending-delivery cap was reached
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(without_retry_after.load(), 0);
  // The documented bound (docs/security.md): the load adds well under
  // 128 MiB to the process.
  EXPECT_LT(peak_rss.load() - rss_before, 128 * 1024);

  // Recovery without intervention: once deliveries drain, publishes are
  // accepted again and the refused connections are gone.
  ASSERT_TRUE(healthz_within(client().base_url(), 5s));
  http_response r;
  deadline = std::chrono::steady_clock::now() + 20s;
  do {
    r = client().post("/v1/webhook/events", small_event, bearer(t.token));
    if (r.status != 202)
      std::this_thread::sleep_for(100ms);
  } while (r.status != 202 && std::chrono::steady_clock::now() < deadline);
  EXPECT_TRUE(is_success(r, 202)) << r;
  auto scrape = client().get("/metrics", bearer(admin_token_));
  // At least the 64 + 8 - 32 idle connections past the cap were refused.
  EXPECT_GE(metric(scrape.body, refused_limit), 40);
  std::cout << "[ figures  ] " << metric(scrape.body, refused_limit)
            << " connections refused at the cap\n";
}
