#include "support/raw_socket.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

namespace wi_e2e {

raw_connection::raw_connection(uint16_t port) {
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0)
    throw std::runtime_error("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd_);
    throw std::runtime_error("connect to 127.0.0.1:" + std::to_string(port) +
                             " failed");
  }
}

raw_connection::~raw_connection() {
  if (fd_ >= 0)
    close(fd_);
}

void raw_connection::send_all(std::string_view bytes) {
  while (!bytes.empty()) {
    auto n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0)
      return; // the peer may close early; that is fine here
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

size_t raw_connection::send_some(std::string_view bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    auto n = send(fd_, bytes.data() + sent, bytes.size() - sent,
                  MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n <= 0)
      break;
    sent += static_cast<size_t>(n);
  }
  return sent;
}

void raw_connection::shutdown_write() {
  shutdown(fd_, SHUT_WR);
}

std::string raw_connection::read_all(std::chrono::milliseconds timeout) {
  std::string result;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return result;
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0)
      return result;
    auto n = recv(fd_, buf, sizeof(buf), 0);
    if (n <= 0) {
      closed_ = true;
      return result;
    }
    result.append(buf, static_cast<size_t>(n));
  }
}

std::string raw_exchange(uint16_t port, std::string_view bytes,
                         std::chrono::milliseconds timeout,
                         bool shutdown_write) {
  raw_connection conn{port};
  conn.send_all(bytes);
  if (shutdown_write)
    conn.shutdown_write();
  return conn.read_all(timeout);
}

void raw_send_and_close(uint16_t port, std::string_view bytes) {
  raw_connection conn{port};
  conn.send_all(bytes);
}

} // namespace wi_e2e
