#include "support/raw_socket.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

namespace wi_e2e {

namespace {

int connect_local(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    throw std::runtime_error("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    throw std::runtime_error("connect to 127.0.0.1:" + std::to_string(port) +
                             " failed");
  }
  return fd;
}

void send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    auto n = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0)
      return; // the peer may close early; that is fine here
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

} // namespace

std::string raw_exchange(uint16_t port, std::string_view bytes,
                         std::chrono::milliseconds timeout,
                         bool shutdown_write) {
  int fd = connect_local(port);
  send_all(fd, bytes);
  if (shutdown_write)
    shutdown(fd, SHUT_WR);
  std::string result;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      break;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0)
      break;
    auto n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0)
      break;
    result.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return result;
}

void raw_send_and_close(uint16_t port, std::string_view bytes) {
  int fd = connect_local(port);
  send_all(fd, bytes);
  close(fd);
}

} // namespace wi_e2e
