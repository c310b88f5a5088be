#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace wi_e2e {

/// One HTTP request as the receiver got it.
struct received_request {
  std::string method;
  /// The request target as sent, with the query string.
  std::string target;
  /// The target without the query string.
  std::string path;
  /// Headers in arrival order, names as sent.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  /// When the whole request (head and body) had arrived.
  std::chrono::steady_clock::time_point at;
  std::chrono::system_clock::time_point wall_at;
  /// The status the receiver chose to answer with.
  int status = 0;
  /// Whether the whole answer was written to the socket.
  bool answered = false;
  /// 0-based index among the requests to `path`.
  size_t index = 0;

  /// The first value of header `name` (any case), or nullopt.
  std::optional<std::string> header(std::string_view name) const;
  /// How many times header `name` (any case) occurs.
  size_t header_count(std::string_view name) const;
};

/// One programmed answer.
struct reply {
  int status = 200;
  /// Wait this long before answering (interrupted by `stop`).
  std::chrono::milliseconds delay{0};
  /// Extra response headers, e.g. `Retry-After` or `Location`.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body = "ok";
};

/// What a path answers: `script[n]` for its n-th request (0-based), then
/// `then` for every later one.
struct behaviour {
  std::vector<reply> script;
  reply then;

  /// Every request gets `r`.
  static behaviour always(reply r);
  /// The first `n` requests get `failure`, the rest `success`.
  static behaviour fail_times(size_t n, reply failure, reply success = {});
};

/// A real HTTP/1.1 server on 127.0.0.1 (port chosen by the kernel) for
/// webhook deliveries: one thread per connection (keep-alive supported),
/// records every request and answers per path as programmed. Paths without
/// a behaviour answer 200 "ok". Thread-safe.
class receiver {
 public:
  receiver();
  /// Stops: closes the listener and every connection, wakes delayed
  /// answers and joins all threads.
  ~receiver();

  receiver(const receiver&) = delete;
  receiver& operator=(const receiver&) = delete;

  uint16_t port() const noexcept { return port_; }

  /// `http://127.0.0.1:<port><path_and_query>`.
  std::string url(std::string_view path_and_query) const;

  /// Programs `path` (without query). With `reset_count`, the request
  /// counter of the path that indexes `script` starts again at 0.
  void set(const std::string& path, behaviour b, bool reset_count = true);

  /// Programs `path` with a function of each request (its body, headers,
  /// 0-based index on the path), called under the receiver's lock; it wins
  /// over a behaviour set for the path.
  void set_by_request(const std::string& path,
                      std::function<reply(const received_request&)> choose);

  /// Copies of all requests so far (to `path` only, if not empty), in
  /// arrival order.
  std::vector<received_request> requests(std::string_view path = {}) const;

  /// Copies of the requests from the `first`-th on (0-based, arrival
  /// order): a reader that keeps its position copies each request once.
  std::vector<received_request> requests_from(size_t first) const;

  /// Number of requests to `path` so far.
  size_t count(std::string_view path) const;

  /// Waits until `pred(all requests)` holds or `timeout` passes; returns
  /// whether it held.
  bool wait_until(
    const std::function<bool(const std::vector<received_request>&)>& pred,
    std::chrono::milliseconds timeout) const;

  /// Waits until `path` saw at least `n` requests.
  bool wait_for_count(std::string_view path, size_t n,
                      std::chrono::milliseconds timeout) const;

  /// Stops serving (idempotent); see the destructor.
  void stop();

 private:
  void accept_loop();
  void serve(int fd);
  /// Picks the answer for a new request on `path` and records it.
  reply on_request(received_request req, size_t& record_index);
  void mark_answered(size_t record_index);

  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;

  mutable std::mutex mtx_;
  mutable std::condition_variable cv_;
  std::map<std::string, behaviour> behaviours_;
  std::map<std::string, std::function<reply(const received_request&)>>
    choosers_;
  std::map<std::string, size_t> counters_;
  std::vector<received_request> log_;
  std::vector<int> conn_fds_;
  std::vector<std::thread> conn_threads_;
};

// -- Standard Webhooks signing, implemented independently of the server ------

/// SHA-256 of `data` (32 raw bytes).
std::string sha256(std::string_view data);

/// HMAC-SHA256 of `msg` with `key` (32 raw bytes).
std::string hmac_sha256(std::string_view key, std::string_view msg);

/// Standard base64 with padding.
std::string base64_encode(std::string_view data);

/// Standard base64 (padding optional); nullopt if not base64.
std::optional<std::string> base64_decode(std::string_view text);

/// `v1,<base64(HMAC-SHA256(key, "<id>.<timestamp>.<body>"))>` where the key
/// is the base64-decoded rest of a `whsec_` secret, else the secret's bytes.
std::string webhook_signature(std::string_view secret, std::string_view id,
                              std::string_view timestamp,
                              std::string_view body);

} // namespace wi_e2e
