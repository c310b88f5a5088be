#include "support/receiver.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace wi_e2e {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view x) {
  while (!x.empty() && (x.front() == ' ' || x.front() == '\t'))
    x.remove_prefix(1);
  while (!x.empty() && (x.back() == ' ' || x.back() == '\t'))
    x.remove_suffix(1);
  return x;
}

const char* reason_of(int status) {
  switch (status) {
  case 200:
    return "OK";
  case 201:
    return "Created";
  case 202:
    return "Accepted";
  case 204:
    return "No Content";
  case 301:
    return "Moved Permanently";
  case 302:
    return "Found";
  case 400:
    return "Bad Request";
  case 404:
    return "Not Found";
  case 410:
    return "Gone";
  case 429:
    return "Too Many Requests";
  case 500:
    return "Internal Server Error";
  case 503:
    return "Service Unavailable";
  default:
    return "Status";
  }
}

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    auto n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

/// A buffered reader over a socket.
class conn_reader {
 public:
  explicit conn_reader(int fd) : fd_(fd) {}

  /// Reads until `buf_` holds `delim`; returns the text before it (and
  /// consumes it with the delimiter), or nullopt on EOF/error.
  std::optional<std::string> read_until(std::string_view delim,
                                        size_t max = 1 << 20) {
    while (true) {
      if (auto pos = buf_.find(delim); pos != std::string::npos) {
        auto result = buf_.substr(0, pos);
        buf_.erase(0, pos + delim.size());
        return result;
      }
      if (buf_.size() > max || !fill())
        return std::nullopt;
    }
  }

  std::optional<std::string> read_exact(size_t n) {
    while (buf_.size() < n)
      if (!fill())
        return std::nullopt;
    auto result = buf_.substr(0, n);
    buf_.erase(0, n);
    return result;
  }

 private:
  bool fill() {
    char tmp[16384];
    while (true) {
      auto n = ::recv(fd_, tmp, sizeof(tmp), 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return false;
      buf_.append(tmp, static_cast<size_t>(n));
      return true;
    }
  }

  int fd_;
  std::string buf_;
};

// -- SHA-256 (FIPS 180-4) ----------------------------------------------------

constexpr std::array<uint32_t, 64> sha_k = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
  0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
  0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
  0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
  0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
  0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

constexpr uint32_t rotr(uint32_t x, int n) {
  return (x >> n) | (x << (32 - n));
}

void sha256_block(std::array<uint32_t, 8>& h, const unsigned char* p) {
  std::array<uint32_t, 64> w{};
  for (size_t i = 0; i < 16; ++i)
    w[i] = (uint32_t{p[4 * i]} << 24) | (uint32_t{p[4 * i + 1]} << 16) |
           (uint32_t{p[4 * i + 2]} << 8) | uint32_t{p[4 * i + 3]};
  for (size_t i = 16; i < 64; ++i) {
    auto s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
    auto s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  auto a = h[0], b = h[1], c = h[2], d = h[3];
  auto e = h[4], f = h[5], g = h[6], hh = h[7];
  for (size_t i = 0; i < 64; ++i) {
    auto s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
    auto ch = (e & f) ^ (~e & g);
    auto t1 = hh + s1 + ch + sha_k[i] + w[i];
    auto s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
    auto maj = (a & b) ^ (a & c) ^ (b & c);
    auto t2 = s0 + maj;
    hh = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  h[0] += a;
  h[1] += b;
  h[2] += c;
  h[3] += d;
  h[4] += e;
  h[5] += f;
  h[6] += g;
  h[7] += hh;
}

constexpr std::string_view b64_alphabet =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

} // namespace

// -- received_request
// ----------------------------------------------------------

std::optional<std::string>
received_request::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (iequals(k, name))
      return v;
  return std::nullopt;
}

size_t received_request::header_count(std::string_view name) const {
  return static_cast<size_t>(
    std::count_if(headers.begin(), headers.end(),
                  [name](const auto& kv) { return iequals(kv.first, name); }));
}

// -- behaviour
// -----------------------------------------------------------------

behaviour behaviour::always(reply r) {
  behaviour b;
  b.then = std::move(r);
  return b;
}

behaviour behaviour::fail_times(size_t n, reply failure, reply success) {
  behaviour b;
  b.script.assign(n, failure);
  b.then = std::move(success);
  return b;
}

// -- receiver
// ------------------------------------------------------------------

receiver::receiver() {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0)
    throw std::runtime_error("receiver: socket() failed");
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) !=
        0 ||
      ::listen(listen_fd_, 128) != 0) {
    ::close(listen_fd_);
    throw std::runtime_error("receiver: bind/listen failed");
  }
  socklen_t len = sizeof(addr);
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread{[this] { accept_loop(); }};
}

receiver::~receiver() {
  stop();
}

void receiver::stop() {
  if (stopping_.exchange(true))
    return;
  ::shutdown(listen_fd_, SHUT_RDWR);
  if (acceptor_.joinable())
    acceptor_.join();
  ::close(listen_fd_);
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto fd : conn_fds_)
      ::shutdown(fd, SHUT_RDWR);
    threads = std::move(conn_threads_);
  }
  cv_.notify_all();
  for (auto& t : threads)
    t.join();
}

std::string receiver::url(std::string_view path_and_query) const {
  return "http://127.0.0.1:" + std::to_string(port_) +
         std::string{path_and_query};
}

void receiver::set(const std::string& path, behaviour b, bool reset_count) {
  std::lock_guard<std::mutex> guard{mtx_};
  behaviours_[path] = std::move(b);
  if (reset_count)
    counters_[path] = 0;
}

void receiver::set_by_request(
  const std::string& path,
  std::function<reply(const received_request&)> choose) {
  std::lock_guard<std::mutex> guard{mtx_};
  choosers_[path] = std::move(choose);
}

std::vector<received_request> receiver::requests(std::string_view path) const {
  std::lock_guard<std::mutex> guard{mtx_};
  if (path.empty())
    return log_;
  std::vector<received_request> result;
  for (const auto& r : log_)
    if (r.path == path)
      result.push_back(r);
  return result;
}

std::vector<received_request> receiver::requests_from(size_t first) const {
  std::lock_guard<std::mutex> guard{mtx_};
  if (first >= log_.size())
    return {};
  return {log_.begin() + static_cast<std::ptrdiff_t>(first), log_.end()};
}

size_t receiver::count(std::string_view path) const {
  std::lock_guard<std::mutex> guard{mtx_};
  return static_cast<size_t>(
    std::count_if(log_.begin(), log_.end(),
                  [path](const auto& r) { return r.path == path; }));
}

bool receiver::wait_until(
  const std::function<bool(const std::vector<received_request>&)>& pred,
  std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> guard{mtx_};
  return cv_.wait_for(guard, timeout, [&] { return pred(log_); });
}

bool receiver::wait_for_count(std::string_view path, size_t n,
                              std::chrono::milliseconds timeout) const {
  return wait_until(
    [path, n](const std::vector<received_request>& log) {
      return static_cast<size_t>(
               std::count_if(log.begin(), log.end(), [path](const auto& r) {
                 return r.path == path;
               })) >= n;
    },
    timeout);
}

void receiver::accept_loop() {
  while (!stopping_.load()) {
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      return; // shut down
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    std::lock_guard<std::mutex> guard{mtx_};
    if (stopping_.load()) {
      ::close(fd);
      return;
    }
    conn_fds_.push_back(fd);
    conn_threads_.emplace_back([this, fd] { serve(fd); });
  }
}

reply receiver::on_request(received_request req, size_t& record_index) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& n = counters_[req.path];
  reply r;
  if (auto i = behaviours_.find(req.path); i != behaviours_.end())
    r = n < i->second.script.size() ? i->second.script[n] : i->second.then;
  req.index = n++;
  if (auto i = choosers_.find(req.path); i != choosers_.end())
    r = i->second(req);
  req.status = r.status;
  record_index = log_.size();
  log_.push_back(std::move(req));
  cv_.notify_all();
  return r;
}

void receiver::mark_answered(size_t record_index) {
  std::lock_guard<std::mutex> guard{mtx_};
  log_[record_index].answered = true;
  cv_.notify_all();
}

void receiver::serve(int fd) {
  conn_reader in{fd};
  while (!stopping_.load()) {
    auto head = in.read_until("\r\n\r\n");
    if (!head)
      break;
    received_request req;
    std::string_view h{*head};
    auto eol = h.find("\r\n");
    auto request_line = h.substr(0, eol);
    h = eol == std::string_view::npos ? std::string_view{} : h.substr(eol + 2);
    auto sp1 = request_line.find(' ');
    auto sp2 = request_line.rfind(' ');
    if (sp1 == std::string_view::npos || sp2 <= sp1)
      break;
    req.method = std::string{request_line.substr(0, sp1)};
    req.target = std::string{request_line.substr(sp1 + 1, sp2 - sp1 - 1)};
    req.path = req.target.substr(0, req.target.find('?'));
    bool http10 = request_line.substr(sp2 + 1) == "HTTP/1.0";
    while (!h.empty()) {
      eol = h.find("\r\n");
      auto line = h.substr(0, eol);
      h =
        eol == std::string_view::npos ? std::string_view{} : h.substr(eol + 2);
      auto colon = line.find(':');
      if (colon == std::string_view::npos)
        continue;
      req.headers.emplace_back(std::string{line.substr(0, colon)},
                               std::string{trim(line.substr(colon + 1))});
    }
    if (auto expect = req.header("Expect");
        expect && iequals(*expect, "100-continue"))
      send_all(fd, "HTTP/1.1 100 Continue\r\n\r\n");
    bool ok = true;
    if (auto te = req.header("Transfer-Encoding");
        te && iequals(*te, "chunked")) {
      while (ok) {
        auto size_line = in.read_until("\r\n");
        if (!size_line) {
          ok = false;
          break;
        }
        auto size = std::stoul(*size_line, nullptr, 16);
        if (size == 0) {
          ok = in.read_until("\r\n").has_value(); // no trailers expected
          break;
        }
        auto chunk = in.read_exact(size);
        ok = chunk && in.read_exact(2);
        if (ok)
          req.body += *chunk;
      }
    } else if (auto cl = req.header("Content-Length")) {
      auto body = in.read_exact(std::stoul(*cl));
      ok = body.has_value();
      if (ok)
        req.body = std::move(*body);
    }
    if (!ok)
      break;
    req.at = std::chrono::steady_clock::now();
    req.wall_at = std::chrono::system_clock::now();
    auto close_after =
      http10 || iequals(req.header("Connection").value_or(""), "close");
    size_t record_index = 0;
    auto r = on_request(std::move(req), record_index);
    if (r.delay.count() > 0) {
      std::unique_lock<std::mutex> guard{mtx_};
      cv_.wait_for(guard, r.delay, [this] { return stopping_.load(); });
    }
    if (stopping_.load())
      break;
    std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " +
                      reason_of(r.status) + "\r\n";
    out += "Content-Type: text/plain\r\n";
    out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
    for (const auto& [k, v] : r.headers)
      out += k + ": " + v + "\r\n";
    if (close_after)
      out += "Connection: close\r\n";
    out += "\r\n";
    out += r.body;
    if (!send_all(fd, out))
      break;
    mark_answered(record_index);
    if (close_after)
      break;
  }
  std::lock_guard<std::mutex> guard{mtx_};
  ::close(fd);
  conn_fds_.erase(std::remove(conn_fds_.begin(), conn_fds_.end(), fd),
                  conn_fds_.end());
}

// -- signing
// -------------------------------------------------------------------

std::string sha256(std::string_view data) {
  std::array<uint32_t, 8> h = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                               0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  std::string msg{data};
  auto bit_len = static_cast<uint64_t>(data.size()) * 8;
  msg.push_back(static_cast<char>(0x80));
  while (msg.size() % 64 != 56)
    msg.push_back('\0');
  for (int i = 7; i >= 0; --i)
    msg.push_back(static_cast<char>((bit_len >> (8 * i)) & 0xff));
  for (size_t off = 0; off < msg.size(); off += 64)
    sha256_block(h, reinterpret_cast<const unsigned char*>(msg.data()) + off);
  std::string out;
  for (auto word : h)
    for (int i = 3; i >= 0; --i)
      out.push_back(static_cast<char>((word >> (8 * i)) & 0xff));
  return out;
}

std::string hmac_sha256(std::string_view key, std::string_view msg) {
  std::string k = key.size() > 64 ? sha256(key) : std::string{key};
  k.resize(64, '\0');
  std::string inner(64, '\0');
  std::string outer(64, '\0');
  for (size_t i = 0; i < 64; ++i) {
    inner[i] = static_cast<char>(k[i] ^ 0x36);
    outer[i] = static_cast<char>(k[i] ^ 0x5c);
  }
  inner.append(msg);
  outer += sha256(inner);
  return sha256(outer);
}

std::string base64_encode(std::string_view data) {
  std::string out;
  size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    auto n = (uint32_t{static_cast<unsigned char>(data[i])} << 16) |
             (uint32_t{static_cast<unsigned char>(data[i + 1])} << 8) |
             uint32_t{static_cast<unsigned char>(data[i + 2])};
    out += b64_alphabet[(n >> 18) & 63];
    out += b64_alphabet[(n >> 12) & 63];
    out += b64_alphabet[(n >> 6) & 63];
    out += b64_alphabet[n & 63];
  }
  auto rest = data.size() - i;
  if (rest > 0) {
    uint32_t n = uint32_t{static_cast<unsigned char>(data[i])} << 16;
    if (rest == 2)
      n |= uint32_t{static_cast<unsigned char>(data[i + 1])} << 8;
    out += b64_alphabet[(n >> 18) & 63];
    out += b64_alphabet[(n >> 12) & 63];
    out += rest == 2 ? b64_alphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  while (!text.empty() && text.back() == '=')
    text.remove_suffix(1);
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    auto pos = b64_alphabet.find(c);
    if (pos == std::string_view::npos)
      return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(pos);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

std::string webhook_signature(std::string_view secret, std::string_view id,
                              std::string_view timestamp,
                              std::string_view body) {
  std::string key{secret};
  constexpr std::string_view prefix = "whsec_";
  if (secret.starts_with(prefix)) {
    auto decoded = base64_decode(secret.substr(prefix.size()));
    if (!decoded)
      throw std::runtime_error("secret is whsec_ but not base64");
    key = std::move(*decoded);
  }
  std::string msg{id};
  msg += '.';
  msg += timestamp;
  msg += '.';
  msg += body;
  return "v1," + base64_encode(hmac_sha256(key, msg));
}

} // namespace wi_e2e
