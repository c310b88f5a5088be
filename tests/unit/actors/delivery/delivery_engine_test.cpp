// The delivery engine against a real HTTP/1.1 receiver on 127.0.0.1 (port
// 0) that runs in the test process. Every test is bounded in requests and
// time; blocking waits are fine here: this is a test thread.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "actors/delivery/delivery_engine.hpp"
#include "actors/delivery/retry_policy.hpp"

namespace {

using namespace wi;
using namespace std::chrono_literals;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

// -- a tiny HTTP/1.1 receiver -------------------------------------------------

struct received_request {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers; // lower-case names
  std::string body;
};

/// Serves keep-alive HTTP/1.1 on 127.0.0.1 with one thread per connection.
/// Paths: `/ok` 200, `/fail` 500 with a 3000-byte body, `/redirect` 302 to
/// `/ok`, `/busy` 429 with `Retry-After: 7`, `/big` 200 with 200 KiB,
/// `/sleep...?ms=N` 200 after N ms (cut short by `stop()`), else 404.
/// Counts requests being handled per path (received, not yet answered).
class http_receiver {
 public:
  http_receiver() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_GE(fd_, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len), 0);
    EXPECT_EQ(::listen(fd_, 128), 0);
    EXPECT_EQ(::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread{[this] { accept_loop(); }};
  }

  ~http_receiver() { stop(); }

  http_receiver(const http_receiver&) = delete;
  http_receiver& operator=(const http_receiver&) = delete;

  std::string url(std::string_view target) const {
    return "http://127.0.0.1:" + std::to_string(port_) + std::string{target};
  }

  uint16_t port() const { return port_; }

  void stop() {
    {
      std::lock_guard guard{mtx_};
      if (stopping_)
        return;
      stopping_ = true;
    }
    cv_.notify_all();
    acceptor_.join();
    std::vector<std::thread> conns;
    {
      std::lock_guard guard{mtx_};
      conns.swap(conns_);
    }
    for (auto& t : conns)
      t.join();
    ::close(fd_);
  }

  int max_concurrent(const std::string& path) {
    std::lock_guard guard{mtx_};
    return max_[path];
  }

  int max_concurrent_total() {
    std::lock_guard guard{mtx_};
    return max_total_;
  }

  int current_total() {
    std::lock_guard guard{mtx_};
    return current_total_;
  }

  std::vector<received_request> requests() {
    std::lock_guard guard{mtx_};
    return requests_;
  }

  size_t hits(std::string_view path) {
    std::lock_guard guard{mtx_};
    return static_cast<size_t>(
      std::count_if(requests_.begin(), requests_.end(),
                    [&](const auto& r) { return path_of(r.target) == path; }));
  }

  /// Connections accepted so far.
  size_t connections() {
    std::lock_guard guard{mtx_};
    return conns_.size();
  }

 private:
  static std::string path_of(const std::string& target) {
    return target.substr(0, target.find('?'));
  }

  bool is_stopping() {
    std::lock_guard guard{mtx_};
    return stopping_;
  }

  void accept_loop() {
    while (!is_stopping()) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0)
        continue;
      int conn = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (conn < 0)
        continue;
      std::lock_guard guard{mtx_};
      conns_.emplace_back([this, conn] {
        serve(conn);
        ::close(conn);
      });
    }
  }

  /// Reads more bytes into `buf`; false on EOF, error or stop.
  bool fill(int conn, std::string& buf) {
    for (;;) {
      if (is_stopping())
        return false;
      pollfd p{conn, POLLIN, 0};
      auto rc = ::poll(&p, 1, 20);
      if (rc < 0)
        return false;
      if (rc == 0)
        continue;
      char tmp[4096];
      auto n = ::recv(conn, tmp, sizeof(tmp), 0);
      if (n <= 0)
        return false;
      buf.append(tmp, static_cast<size_t>(n));
      return true;
    }
  }

  void serve(int conn) {
    std::string buf;
    for (;;) {
      size_t end;
      while ((end = buf.find("\r\n\r\n")) == std::string::npos)
        if (!fill(conn, buf))
          return;
      received_request req;
      auto head = buf.substr(0, end);
      buf.erase(0, end + 4);
      auto line_end = head.find("\r\n");
      auto request_line = head.substr(0, line_end);
      auto sp1 = request_line.find(' ');
      auto sp2 = request_line.find(' ', sp1 + 1);
      req.method = request_line.substr(0, sp1);
      req.target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
      size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
      while (pos < head.size()) {
        auto next = head.find("\r\n", pos);
        if (next == std::string::npos)
          next = head.size();
        auto line = head.substr(pos, next - pos);
        auto colon = line.find(':');
        if (colon != std::string::npos) {
          auto name = line.substr(0, colon);
          std::transform(name.begin(), name.end(), name.begin(),
                         [](unsigned char c) { return std::tolower(c); });
          auto value = line.substr(colon + 1);
          value.erase(0, value.find_first_not_of(' '));
          req.headers[name] = value;
        }
        pos = next + 2;
      }
      size_t length = 0;
      if (auto i = req.headers.find("content-length"); i != req.headers.end())
        length = std::stoul(i->second);
      while (buf.size() < length)
        if (!fill(conn, buf))
          return;
      req.body = buf.substr(0, length);
      buf.erase(0, length);
      if (!send_all(conn, respond(req)))
        return;
    }
  }

  std::string respond(const received_request& req) {
    auto path = path_of(req.target);
    std::unique_lock guard{mtx_};
    requests_.push_back(req);
    auto cur = ++current_[path];
    max_[path] = std::max(max_[path], cur);
    ++current_total_;
    max_total_ = std::max(max_total_, current_total_);
    int status = 200;
    std::string extra;
    std::string body = "ok";
    if (path == "/ok") {
      // defaults
    } else if (path == "/fail") {
      status = 500;
      body.clear();
      for (int i = 0; body.size() < 3000; ++i)
        body += std::to_string(i % 10);
    } else if (path == "/redirect") {
      status = 302;
      extra = "Location: /ok\r\n";
      body.clear();
    } else if (path == "/busy") {
      status = 429;
      extra = "Retry-After: 7\r\n";
    } else if (path == "/big") {
      body.assign(200 * 1024, 'b');
    } else if (path.rfind("/sleep", 0) == 0) {
      auto q = req.target.find("ms=");
      auto ms =
        q == std::string::npos ? 0 : std::stoi(req.target.substr(q + 3));
      cv_.wait_for(guard, milliseconds{ms}, [this] { return stopping_; });
    } else {
      status = 404;
    }
    // Count as answered before sending: the client may start its next
    // request as soon as it has read this answer.
    --current_[path];
    --current_total_;
    return "HTTP/1.1 " + std::to_string(status) + " X\r\n" + extra +
           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  }

  static bool send_all(int conn, const std::string& data) {
    size_t sent = 0;
    while (sent < data.size()) {
      auto n =
        ::send(conn, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0)
        return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }

  int fd_ = -1;
  uint16_t port_ = 0;
  std::thread acceptor_;
  std::mutex mtx_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::vector<std::thread> conns_;
  std::vector<received_request> requests_;
  std::map<std::string, int> current_;
  std::map<std::string, int> max_;
  int current_total_ = 0;
  int max_total_ = 0;
};

// -- collecting outcomes ------------------------------------------------------

/// Gathers outcomes; must outlive the engine whose jobs report to it.
class collector {
 public:
  delivery_engine::completion fn() {
    return [this](delivery_outcome x) {
      std::lock_guard guard{mtx_};
      threads_.insert(std::this_thread::get_id());
      outcomes_.push_back(std::move(x));
      cv_.notify_all();
    };
  }

  /// Waits until `n` outcomes arrived or 5 s passed.
  bool wait_for(size_t n) {
    std::unique_lock guard{mtx_};
    return cv_.wait_for(guard, 5s, [&] { return outcomes_.size() >= n; });
  }

  std::vector<delivery_outcome> outcomes() {
    std::lock_guard guard{mtx_};
    return outcomes_;
  }

  std::set<std::thread::id> threads() {
    std::lock_guard guard{mtx_};
    return threads_;
  }

  /// Waits for one outcome and returns it.
  delivery_outcome single() {
    EXPECT_TRUE(wait_for(1));
    auto xs = outcomes();
    EXPECT_EQ(xs.size(), 1u);
    return xs.empty() ? delivery_outcome{} : xs.front();
  }

 private:
  std::mutex mtx_;
  std::condition_variable cv_;
  std::vector<delivery_outcome> outcomes_;
  std::set<std::thread::id> threads_;
};

delivery_job make_job(uint64_t id, std::string url, std::string key = "t/1") {
  delivery_job job;
  job.job_id = id;
  job.url = std::move(url);
  job.headers = {{"Content-Type", "application/json"},
                 {"User-Agent", "webhook-ingress-test"},
                 {"webhook-id", "msg_" + std::to_string(id)}};
  job.body = R"({"n":)" + std::to_string(id) + "}";
  job.endpoint_key = std::move(key);
  return job;
}

delivery_engine_config local_config() {
  delivery_engine_config cfg;
  cfg.allow_private_targets = true;
  return cfg;
}

/// Polls `pred` every 5 ms for up to 3 s.
template <class Pred>
bool eventually(Pred pred) {
  auto deadline = steady_clock::now() + 3s;
  while (!pred()) {
    if (steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

// -- tests --------------------------------------------------------------------

TEST(delivery_engine, success_sends_post_with_headers_and_body) {
  http_receiver rx;
  collector c;
  delivery_engine engine{local_config()};
  engine.submit(make_job(1, rx.url("/ok")), c.fn());
  auto out = c.single();
  EXPECT_EQ(out.job_id, 1u);
  EXPECT_EQ(out.status, 200);
  EXPECT_EQ(out.error, "");
  EXPECT_TRUE(out.success());
  EXPECT_EQ(out.response_excerpt, "ok");
  EXPECT_FALSE(out.retry_after);
  EXPECT_LT(out.latency, 3s);
  auto threads = c.threads();
  EXPECT_EQ(threads.size(), 1u);
  EXPECT_EQ(threads.count(std::this_thread::get_id()), 0u);
  auto reqs = rx.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].target, "/ok");
  EXPECT_EQ(reqs[0].body, R"({"n":1})");
  EXPECT_EQ(reqs[0].headers["content-type"], "application/json");
  EXPECT_EQ(reqs[0].headers["user-agent"], "webhook-ingress-test");
  EXPECT_EQ(reqs[0].headers["webhook-id"], "msg_1");
  EXPECT_EQ(reqs[0].headers.count("expect"), 0u);
}

TEST(delivery_engine, no_content_type_unless_given) {
  http_receiver rx;
  collector c;
  delivery_engine engine{local_config()};
  auto job = make_job(1, rx.url("/ok"));
  job.headers = {{"X-Empty", ""}};
  engine.submit(std::move(job), c.fn());
  EXPECT_TRUE(c.single().success());
  auto reqs = rx.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].headers.count("content-type"), 0u);
  ASSERT_EQ(reqs[0].headers.count("x-empty"), 1u);
  EXPECT_EQ(reqs[0].headers["x-empty"], "");
}

TEST(delivery_engine, server_error_keeps_status_and_1kib_excerpt) {
  http_receiver rx;
  collector c;
  delivery_engine engine{local_config()};
  engine.submit(make_job(2, rx.url("/fail")), c.fn());
  auto out = c.single();
  EXPECT_EQ(out.status, 500);
  EXPECT_EQ(out.error, "");
  EXPECT_FALSE(out.success());
  ASSERT_EQ(out.response_excerpt.size(), 1024u);
  EXPECT_EQ(out.response_excerpt.substr(0, 12), "012345678901");
}

TEST(delivery_engine, large_body_is_cut_without_error) {
  http_receiver rx;
  collector c;
  delivery_engine engine{local_config()};
  engine.submit(make_job(3, rx.url("/big")), c.fn());
  auto out = c.single();
  EXPECT_EQ(out.status, 200);
  EXPECT_EQ(out.error, "");
  EXPECT_TRUE(out.success());
  EXPECT_EQ(out.response_excerpt, std::string(1024, 'b'));
}

TEST(delivery_engine, redirect_is_not_followed) {
  http_receiver rx;
  collector c;
  delivery_engine engine{local_config()};
  engine.submit(make_job(4, rx.url("/redirect")), c.fn());
  auto out = c.single();
  EXPECT_EQ(out.status, 302);
  EXPECT_EQ(out.error, "");
  EXPECT_FALSE(out.success());
  EXPECT_EQ(rx.hits("/redirect"), 1u);
  EXPECT_EQ(rx.hits("/ok"), 0u);
}

TEST(delivery_engine, too_many_requests_keeps_retry_after) {
  http_receiver rx;
  collector c;
  delivery_engine engine{local_config()};
  engine.submit(make_job(5, rx.url("/busy")), c.fn());
  auto out = c.single();
  EXPECT_EQ(out.status, 429);
  EXPECT_FALSE(out.success());
  ASSERT_TRUE(out.retry_after);
  EXPECT_EQ(*out.retry_after, "7");
  EXPECT_EQ(retry_after_of(out), 7s);
}

TEST(delivery_engine, total_timeout) {
  http_receiver rx;
  collector c;
  delivery_engine engine{local_config()};
  auto job = make_job(6, rx.url("/sleep?ms=3000"));
  job.total_timeout = 300ms;
  auto t0 = steady_clock::now();
  engine.submit(std::move(job), c.fn());
  auto out = c.single();
  EXPECT_LT(steady_clock::now() - t0, 2s);
  EXPECT_EQ(out.error, "timeout");
  EXPECT_EQ(out.status, 0);
  EXPECT_FALSE(out.success());
  EXPECT_GE(out.latency, 250ms);
  EXPECT_LT(out.latency, 2s);
}

TEST(delivery_engine, connection_refused) {
  // A bound socket that does not listen: connects are refused, and the port
  // cannot be taken by anyone else during the test.
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), len), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  auto url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/";
  collector c;
  {
    delivery_engine engine{local_config()};
    engine.submit(make_job(7, url), c.fn());
    auto out = c.single();
    EXPECT_EQ(out.error, "connect_failed");
    EXPECT_EQ(out.status, 0);
    EXPECT_FALSE(out.success());
  }
  ::close(fd);
}

TEST(delivery_engine, guard_blocks_loopback_unless_allowed) {
  http_receiver rx;
  {
    collector c;
    delivery_engine engine; // default: private targets refused
    engine.submit(make_job(8, rx.url("/ok")), c.fn());
    auto port = std::to_string(rx.port());
    engine.submit(make_job(9, "http://localhost:" + port + "/ok"), c.fn());
    engine.submit(make_job(10, "http://[::1]:" + port + "/ok"), c.fn());
    ASSERT_TRUE(c.wait_for(3));
    for (const auto& out : c.outcomes()) {
      EXPECT_EQ(out.error, "blocked_address") << out.job_id;
      EXPECT_EQ(out.status, 0);
    }
    EXPECT_EQ(rx.hits("/ok"), 0u);
  }
  collector c;
  delivery_engine engine{local_config()};
  engine.submit(make_job(11, rx.url("/ok")), c.fn());
  EXPECT_TRUE(c.single().success());
  EXPECT_EQ(rx.hits("/ok"), 1u);
}

TEST(delivery_engine, invalid_requests_fail_without_traffic) {
  http_receiver rx;
  collector c;
  delivery_engine engine{local_config()};
  auto bad_header = make_job(12, rx.url("/ok"));
  bad_header.headers.emplace_back("X-Evil", "a\r\nX-Injected: 1");
  engine.submit(std::move(bad_header), c.fn());
  engine.submit(make_job(13, "ftp://127.0.0.1/"), c.fn());
  engine.submit(make_job(14, "not a url"), c.fn());
  ASSERT_TRUE(c.wait_for(3));
  for (const auto& out : c.outcomes())
    EXPECT_EQ(out.error, "invalid_request") << out.job_id;
  EXPECT_EQ(rx.requests().size(), 0u);
}

TEST(delivery_engine, per_key_cap_and_fifo) {
  http_receiver rx;
  collector c;
  auto cfg = local_config();
  cfg.max_per_key = 3;
  delivery_engine engine{cfg};
  for (uint64_t i = 0; i < 9; ++i)
    engine.submit(make_job(i, rx.url("/sleep/a?ms=100"), "a"), c.fn());
  for (uint64_t i = 9; i < 15; ++i)
    engine.submit(make_job(i, rx.url("/sleep/b?ms=100"), "b"), c.fn());
  ASSERT_TRUE(c.wait_for(15));
  for (const auto& out : c.outcomes())
    EXPECT_TRUE(out.success()) << out.job_id << ": " << out.error;
  EXPECT_EQ(rx.max_concurrent("/sleep/a"), 3);
  EXPECT_EQ(rx.max_concurrent("/sleep/b"), 3);
  EXPECT_EQ(rx.max_concurrent_total(), 6);
}

TEST(delivery_engine, one_per_key_runs_in_submission_order) {
  http_receiver rx;
  collector c;
  auto cfg = local_config();
  cfg.max_per_key = 1;
  delivery_engine engine{cfg};
  for (uint64_t i = 0; i < 5; ++i)
    engine.submit(make_job(i, rx.url("/ok"), "k"), c.fn());
  ASSERT_TRUE(c.wait_for(5));
  std::vector<std::string> ids;
  for (auto& r : rx.requests())
    ids.push_back(r.headers["webhook-id"]);
  EXPECT_EQ(ids, (std::vector<std::string>{"msg_0", "msg_1", "msg_2", "msg_3",
                                           "msg_4"}));
  EXPECT_EQ(rx.max_concurrent("/ok"), 1);
  // Sequential jobs to one host reuse the connection.
  EXPECT_EQ(rx.connections(), 1u);
}

TEST(delivery_engine, global_cap) {
  http_receiver rx;
  collector c;
  auto cfg = local_config();
  cfg.max_in_flight = 4;
  delivery_engine engine{cfg};
  uint64_t id = 0;
  for (auto key : {"x", "y", "z"})
    for (int i = 0; i < 4; ++i)
      engine.submit(make_job(id++, rx.url("/sleep?ms=100"), key), c.fn());
  ASSERT_TRUE(c.wait_for(12));
  for (const auto& out : c.outcomes())
    EXPECT_TRUE(out.success()) << out.job_id << ": " << out.error;
  EXPECT_EQ(rx.max_concurrent_total(), 4);
}

TEST(delivery_engine, overloaded_beyond_max_queued) {
  http_receiver rx;
  collector c;
  auto cfg = local_config();
  cfg.max_in_flight = 1;
  cfg.max_queued = 2;
  delivery_engine engine{cfg};
  engine.submit(make_job(0, rx.url("/sleep?ms=300")), c.fn());
  ASSERT_TRUE(eventually([&] { return engine.in_flight() == 1; }));
  engine.submit(make_job(1, rx.url("/ok")), c.fn());
  engine.submit(make_job(2, rx.url("/ok")), c.fn());
  EXPECT_EQ(engine.queued(), 2u);
  engine.submit(make_job(3, rx.url("/ok")), c.fn());
  // Rejected synchronously, on this thread.
  auto now = c.outcomes();
  ASSERT_EQ(now.size(), 1u);
  EXPECT_EQ(now[0].job_id, 3u);
  EXPECT_EQ(now[0].error, "overloaded");
  ASSERT_TRUE(c.wait_for(4));
  for (const auto& out : c.outcomes()) {
    if (out.job_id != 3) {
      EXPECT_TRUE(out.success()) << out.job_id << ": " << out.error;
    }
  }
}

TEST(delivery_engine, stop_completes_pending_jobs_with_shutdown) {
  http_receiver rx;
  collector c;
  auto cfg = local_config();
  cfg.max_in_flight = 1;
  auto engine = std::make_unique<delivery_engine>(cfg);
  for (uint64_t i = 0; i < 4; ++i)
    engine->submit(make_job(i, rx.url("/sleep?ms=3000")), c.fn());
  ASSERT_TRUE(eventually([&] { return rx.current_total() == 1; }));
  auto t0 = steady_clock::now();
  engine->stop();
  EXPECT_LT(steady_clock::now() - t0, 1s);
  auto outs = c.outcomes(); // all completed before stop() returned
  ASSERT_EQ(outs.size(), 4u);
  std::set<uint64_t> ids;
  for (const auto& out : outs) {
    EXPECT_EQ(out.error, "shutdown") << out.job_id;
    ids.insert(out.job_id);
  }
  EXPECT_EQ(ids.size(), 4u);
  // After stop: rejected at once; stop is idempotent.
  engine->submit(make_job(9, rx.url("/ok")), c.fn());
  ASSERT_EQ(c.outcomes().size(), 5u);
  EXPECT_EQ(c.outcomes().back().error, "shutdown");
  engine->stop();
  engine.reset();
  EXPECT_EQ(c.outcomes().size(), 5u);
}

TEST(delivery_engine, destructor_stops_and_completes_exactly_once) {
  http_receiver rx;
  collector c;
  {
    delivery_engine engine{local_config()};
    for (uint64_t i = 0; i < 20; ++i)
      engine.submit(make_job(i, rx.url(i % 2 ? "/ok" : "/sleep?ms=2000"),
                             "k" + std::to_string(i % 3)),
                    c.fn());
  }
  auto outs = c.outcomes();
  ASSERT_EQ(outs.size(), 20u);
  std::set<uint64_t> ids;
  for (const auto& out : outs) {
    ids.insert(out.job_id);
    EXPECT_TRUE(out.success() || out.error == "shutdown") << out.job_id;
  }
  EXPECT_EQ(ids.size(), 20u);
}

TEST(delivery_engine, completion_may_resubmit) {
  http_receiver rx;
  collector c;
  delivery_engine engine{local_config()};
  std::atomic<int> rounds{0};
  delivery_engine::completion again;
  again = [&](delivery_outcome x) {
    if (++rounds < 3)
      engine.submit(make_job(x.job_id + 1, rx.url("/ok")), again);
    else
      c.fn()(std::move(x));
  };
  engine.submit(make_job(100, rx.url("/ok")), again);
  auto out = c.single();
  EXPECT_EQ(out.job_id, 102u);
  EXPECT_TRUE(out.success());
  EXPECT_EQ(rx.hits("/ok"), 3u);
}

} // namespace
