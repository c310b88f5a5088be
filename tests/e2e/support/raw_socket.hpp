#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace wi_e2e {

/// Connects to 127.0.0.1:`port`, sends `bytes`, optionally half-closes, and
/// reads until the peer closes or `timeout` passes. Returns what was read
/// (possibly empty). For feeding the server malformed HTTP.
std::string
raw_exchange(uint16_t port, std::string_view bytes,
             std::chrono::milliseconds timeout = std::chrono::seconds{3},
             bool shutdown_write = false);

/// Connects, sends `bytes` and closes at once without reading.
void raw_send_and_close(uint16_t port, std::string_view bytes);

/// A raw TCP connection to 127.0.0.1:`port`; closed on destruction. Throws
/// `std::runtime_error` when it cannot connect.
class raw_connection {
 public:
  explicit raw_connection(uint16_t port);
  ~raw_connection();
  raw_connection(const raw_connection&) = delete;
  raw_connection& operator=(const raw_connection&) = delete;

  /// Sends all of `bytes`, blocking; stops early if the peer closed.
  void send_all(std::string_view bytes);

  /// Sends what the socket takes without blocking (the peer may have
  /// stopped reading or closed); returns the bytes sent.
  size_t send_some(std::string_view bytes);

  /// Closes the sending side.
  void shutdown_write();

  /// Reads until the peer closes or `timeout` passes.
  std::string read_all(std::chrono::milliseconds timeout);

  /// Whether `read_all` saw the peer close (EOF or reset).
  bool closed() const noexcept { return closed_; }

 private:
  int fd_ = -1;
  bool closed_ = false;
};

} // namespace wi_e2e
