// webhook-ingress: loads the options, then wires the persistence, actors and
// http libraries together through the named steps of `wi::node` (node.hpp),
// each start paired with its stop. Everything here runs on the main thread,
// which may block (opening the store, recovery, waiting for a signal); no
// request is handled here.

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <string>

#include <sys/resource.h>
#include <sys/stat.h>

#include <spdlog/spdlog.h>

#include "config.hpp"
#include "node.hpp"
#include "webhook_ingress/error.hpp"

namespace {

/// Logs a fatal error (the logger is installed by then) and returns the exit
/// code.
int fail(const std::string& what) {
  spdlog::error("{}", what);
  return EXIT_FAILURE;
}

/// Raises the soft limit of open descriptors to the hard one (a server
/// holds one per connection) and returns the soft limit in force.
rlim_t raise_descriptor_limit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0)
    return 0;
  if (lim.rlim_cur < lim.rlim_max) {
    auto raised = lim;
    raised.rlim_cur = lim.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0)
      lim = raised;
  }
  return lim.rlim_cur;
}

/// Descriptors kept for the store, the WAL, outgoing deliveries and the
/// listener besides the connection cap.
constexpr rlim_t reserved_descriptors = 256;

/// Raises the descriptor limit and warns when the connection cap leaves too
/// few descriptors for the rest.
void check_descriptors(const wi::config& cfg) {
  auto descriptors = raise_descriptor_limit();
  spdlog::info("descriptor limit {} (max-connections {})", descriptors,
               cfg.max_connections);
  if (descriptors != RLIM_INFINITY &&
      cfg.max_connections + reserved_descriptors > descriptors)
    spdlog::warn("max-connections {} leaves fewer than {} of the {} "
                 "descriptors for the store and deliveries; accepting pauses "
                 "while descriptors run out",
                 cfg.max_connections, reserved_descriptors, descriptors);
}

/// Blocks the shutdown signals (before any thread starts: every thread
/// inherits the mask, and the main thread alone takes them with sigwait).
sigset_t block_shutdown_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

/// Starts `n` step by step; returns the reason of the first refusal, logged
/// as the process's last words, or an empty string once it serves.
std::string start(wi::node& n) {
  if (auto err = n.open_store())
    return wi::text_of(err);
  if (auto err = n.connect_cluster())
    return "refusing to start: " + wi::text_of(err);
  if (auto err = n.start_http())
    return wi::text_of(err);
  if (auto err = n.start_actor_system())
    return wi::text_of(err);
  if (auto err = n.join_cluster())
    return "refusing to start: " + wi::text_of(err);
  if (auto err = n.recover())
    return wi::text_of(err);
  if (auto err = n.start_moves())
    return "refusing to start: " + wi::text_of(err);
  n.serve();
  return {};
}

} // namespace

int main(int argc, char** argv) {
  auto loaded = wi::load_config(
    {argv + 1, argv + argc}, wi::process_environment(), std::cout, std::cerr);
  if (loaded.exit_code)
    return *loaded.exit_code;
  const auto& cfg = loaded.cfg;
  if (!wi::parse_listen(cfg.listen)) // checked by load_config
    return EXIT_FAILURE;
  auto signals = block_shutdown_signals();
  wi::install_logger(cfg);
  // Files and directories we create are the owner's alone: the store holds
  // endpoint signing secrets (see docs/security.md).
  ::umask(077);
  check_descriptors(cfg);

  wi::node n{cfg, WI_BUILD};
  if (auto refused = start(n); !refused.empty())
    return fail(refused);

  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("signal {} received, shutting down", sig);
  n.drain_tenants(); // cluster mode: tenants move away first (--drain-grace)
  n.stop(std::chrono::steady_clock::now() +
         std::chrono::seconds{cfg.shutdown_grace});
  return EXIT_SUCCESS;
}
