#include "support/etcd_process.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include <curl/curl.h>

namespace fs = std::filesystem;

namespace wi_cluster_test {

namespace {

size_t append(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

/// Whether `GET url/health` answers `"health":"true"` within 500 ms.
bool healthy(const std::string& url) {
  static std::once_flag flag;
  std::call_once(flag, [] { curl_global_init(CURL_GLOBAL_ALL); });
  auto* h = curl_easy_init();
  if (h == nullptr)
    return false;
  std::string body;
  auto target = url + "/health";
  curl_easy_setopt(h, CURLOPT_URL, target.c_str());
  curl_easy_setopt(h, CURLOPT_PROXY, "");
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 500L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, append);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
  auto rc = curl_easy_perform(h);
  curl_easy_cleanup(h);
  return rc == CURLE_OK &&
         body.find("\"health\":\"true\"") != std::string::npos;
}

} // namespace

uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    throw std::runtime_error("free_port: socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("free_port: bind failed");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

etcd_process::etcd_process() {
  std::string tmpl = (fs::temp_directory_path() / "wi-etcd-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr)
    throw std::runtime_error("etcd_process: mkdtemp failed");
  dir_ = tmpl;
  client_port_ = free_port();
  peer_port_ = free_port();
  metrics_port_ = free_port();
  start();
}

etcd_process::~etcd_process() {
  if (child_ && !child_->reaped())
    child_->kill_and_reap();
  child_.reset();
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

std::string etcd_process::client_url() const {
  return "http://127.0.0.1:" + std::to_string(client_port_);
}

void etcd_process::start() {
  auto peer = "http://127.0.0.1:" + std::to_string(peer_port_);
  std::vector<std::string> argv{"/usr/bin/etcd",
                                "--name",
                                "s1",
                                "--data-dir",
                                (dir_ / "data").string(),
                                "--listen-client-urls",
                                client_url(),
                                "--advertise-client-urls",
                                client_url(),
                                "--listen-peer-urls",
                                peer,
                                "--initial-advertise-peer-urls",
                                peer,
                                "--initial-cluster",
                                "s1=" + peer,
                                "--listen-metrics-urls",
                                "http://127.0.0.1:" +
                                  std::to_string(metrics_port_),
                                "--log-level",
                                "warn"};
  child_ = std::make_unique<wi_e2e::child_process>(argv);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{15};
  while (std::chrono::steady_clock::now() < deadline) {
    if (healthy(client_url()))
      return;
    if (child_->wait_exit(std::chrono::milliseconds{0}))
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  }
  auto err = child_->stderr_text();
  child_->kill_and_reap();
  throw std::runtime_error(
    "etcd did not become healthy on " + client_url() + ": " +
    err.substr(err.size() > 4000 ? err.size() - 4000 : 0));
}

void etcd_process::stop() {
  if (!child_ || child_->reaped())
    return;
  child_->send_signal(SIGTERM);
  if (!child_->wait_exit(std::chrono::seconds{5}))
    child_->kill_and_reap();
}

void etcd_process::kill9() {
  if (child_ && !child_->reaped())
    child_->kill_and_reap();
}

bool etcd_process::running() const {
  return child_ && !child_->reaped();
}

} // namespace wi_cluster_test
