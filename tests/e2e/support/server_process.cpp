#include "support/server_process.hpp"

#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <stdexcept>
#include <thread>

#include "support/http_client.hpp"

namespace fs = std::filesystem;

namespace wi_e2e {

namespace {

constexpr std::string_view listening_prefix =
  "webhook-ingress listening on http://127.0.0.1:";

constexpr std::string_view admin_token_prefix = "admin token: ";

/// Finds a complete line starting with `prefix` and returns the rest of it.
std::optional<std::string> find_line(const std::string& text,
                                     std::string_view prefix) {
  size_t pos = 0;
  while (pos < text.size()) {
    auto eol = text.find('\n', pos);
    if (eol == std::string::npos)
      return std::nullopt; // incomplete line
    std::string_view line{text.data() + pos, eol - pos};
    if (!line.empty() && line.back() == '\r')
      line.remove_suffix(1);
    if (line.starts_with(prefix))
      return std::string{line.substr(prefix.size())};
    pos = eol + 1;
  }
  return std::nullopt;
}

} // namespace

fs::path server_binary() {
  fs::path result;
  if (const char* env = std::getenv("WI_SERVER_BINARY"); env && *env) {
    result = env;
  } else {
    std::error_code ec;
    auto self = fs::read_symlink("/proc/self/exe", ec);
    if (!ec)
      result = self.parent_path().parent_path() / "webhook-ingress";
  }
  if (result.empty() || !fs::exists(result))
    throw std::runtime_error(
      "server binary not found (set WI_SERVER_BINARY): " + result.string());
  return result;
}

fs::path source_dir() {
  const char* env = std::getenv("WI_SOURCE_DIR");
  if (env == nullptr || *env == '\0')
    throw std::runtime_error("WI_SOURCE_DIR is not set (ctest sets it)");
  return env;
}

temp_dir::temp_dir() {
  std::string tmpl = "/tmp/wi-e2e-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr)
    throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

temp_dir::~temp_dir() {
  if (std::getenv("WI_E2E_KEEP_DIRS") != nullptr)
    return;
  std::error_code ec;
  fs::remove_all(path_, ec);
}

server_process::server_process(server_config cfg) : cfg_(std::move(cfg)) {
  // nop
}

server_process::~server_process() {
  if (running())
    stop(std::chrono::seconds{5});
}

pid_t server_process::pid() const noexcept {
  return child_ ? child_->pid() : -1;
}

void server_process::start() {
  if (running())
    throw std::runtime_error("server_process::start: already running");
  std::vector<std::string> args{server_binary().string(), "--listen",
                                "127.0.0.1:0", "--data-dir",
                                cfg_.data_dir.string()};
  if (cfg_.admin_token) {
    args.emplace_back("--admin-token");
    args.push_back(*cfg_.admin_token);
  }
  args.insert(args.end(), cfg_.extra_args.begin(), cfg_.extra_args.end());
  if (cfg_.max_descriptors) {
    // prlimit sets the limits, then execs the server (same process id).
    auto n = std::to_string(*cfg_.max_descriptors);
    args.insert(args.begin(),
                {"/usr/bin/prlimit", "--nofile=" + n + ":" + n, "--"});
  }
  child_.reset();
  child_ = std::make_unique<child_process>(args, cfg_.env);
  std::optional<std::string> port_text;
  child_->wait_for_stdout(
    [&](const std::string& out) {
      port_text = find_line(out, listening_prefix);
      return port_text.has_value();
    },
    std::chrono::seconds{20});
  auto fail = [&](const std::string& why) {
    auto status = child_->kill_and_reap();
    child_->drain(std::chrono::seconds{1});
    throw std::runtime_error("server did not start: " + why + " (" +
                             describe_wait_status(status) +
                             ")\n--- stdout ---\n" + child_->stdout_text() +
                             "\n--- stderr ---\n" + stderr_tail());
  };
  if (!port_text)
    fail("no listening line within 20 s");
  int port = 0;
  try {
    size_t used = 0;
    port = std::stoi(*port_text, &used);
    if (used != port_text->size())
      port = 0;
  } catch (const std::exception&) {
    port = 0;
  }
  if (port <= 0 || port > 65535)
    fail("bad port in listening line: '" + *port_text + "'");
  port_ = static_cast<uint16_t>(port);
  if (auto token = find_line(child_->stdout_text(), admin_token_prefix))
    generated_admin_token_ = *token;
  // Wait for recovery to finish.
  http_client client{base_url()};
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{20};
  std::string last;
  for (;;) {
    try {
      auto r = client.get("/readyz");
      if (r.status == 200)
        break;
      last = "GET /readyz answered " + std::to_string(r.status);
    } catch (const std::exception& e) {
      last = e.what();
    }
    if (!running())
      fail("exited while waiting for /readyz");
    if (std::chrono::steady_clock::now() >= deadline)
      fail("not ready within 20 s; last: " + last);
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
  if (auto token = find_line(child_->stdout_text(), admin_token_prefix))
    generated_admin_token_ = *token;
}

int server_process::stop(std::chrono::milliseconds timeout) {
  if (!child_)
    return 0;
  if (child_->reaped())
    return *child_->wait_exit(std::chrono::milliseconds{0});
  child_->send_signal(SIGTERM);
  if (auto status = child_->wait_exit(timeout))
    return *status;
  return child_->kill_and_reap();
}

void server_process::kill9() {
  if (child_)
    child_->kill_and_reap();
}

bool server_process::running() {
  return child_ && !child_->wait_exit(std::chrono::milliseconds{0});
}

std::string server_process::base_url() const {
  return "http://127.0.0.1:" + std::to_string(port_);
}

std::string server_process::admin_token() const {
  if (cfg_.admin_token)
    return *cfg_.admin_token;
  if (generated_admin_token_)
    return *generated_admin_token_;
  throw std::runtime_error("no admin token known");
}

std::optional<std::string>
server_process::printed_admin_token(std::chrono::milliseconds wait) {
  if (!child_)
    return std::nullopt;
  std::optional<std::string> token;
  child_->wait_for_stdout(
    [&](const std::string& out) {
      token = find_line(out, admin_token_prefix);
      return token.has_value();
    },
    wait);
  if (token)
    generated_admin_token_ = token;
  return token;
}

std::string server_process::stdout_text() const {
  return child_ ? child_->stdout_text() : std::string{};
}

std::string server_process::stderr_text() const {
  return child_ ? child_->stderr_text() : std::string{};
}

std::string server_process::stderr_tail(size_t max_chars) const {
  auto err = stderr_text();
  if (err.size() > max_chars)
    return "..." + err.substr(err.size() - max_chars);
  return err;
}

} // namespace wi_e2e
