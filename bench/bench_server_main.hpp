#pragma once

// The command line and run loop shared by the bench servers
// (`bench_bare_server`, `bench_sink_server`):
//   [--listen HOST:PORT] [--threads N]
// defaults 127.0.0.1:0 (any free port) and 2 I/O threads. Prints
// "<name> listening on http://HOST:PORT" once bound, then serves until
// SIGINT. Returns the process exit code (2 for bad usage).

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

#include <restinio/all.hpp>

namespace bench {

[[noreturn]] inline void usage(const char* argv0) {
  std::fprintf(stderr, "usage: %s [--listen HOST:PORT] [--threads N]\n", argv0);
  std::exit(2);
}

/// Parses the command line and runs `handler` on a RESTinio thread pool.
template <class Handler>
int serve(int argc, char** argv, const char* name, Handler handler) {
  // The real service's traits: strand-protected connections, safe on a
  // thread pool, with a plain handler that routes by itself.
  using traits = restinio::default_traits_t;
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::size_t threads = 2;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (i + 1 >= argc)
      usage(argv[0]);
    std::string value = argv[++i];
    if (arg == "--listen") {
      auto colon = value.rfind(':');
      if (colon == std::string::npos)
        usage(argv[0]);
      host = value.substr(0, colon);
      auto p = std::strtoul(value.c_str() + colon + 1, nullptr, 10);
      if (p > 65535)
        usage(argv[0]);
      port = static_cast<std::uint16_t>(p);
    } else if (arg == "--threads") {
      threads = std::strtoul(value.c_str(), nullptr, 10);
      if (threads == 0)
        usage(argv[0]);
    } else {
      usage(argv[0]);
    }
  }
  try {
    restinio::run(restinio::on_thread_pool<traits>(threads)
                    .address(host)
                    .port(port)
                    .acceptor_post_bind_hook(
                      [host, name](asio::ip::tcp::acceptor& acceptor) {
                        std::printf("%s listening on http://%s:%u\n", name,
                                    host.c_str(),
                                    unsigned{acceptor.local_endpoint().port()});
                        std::fflush(stdout);
                      })
                    .request_handler(std::move(handler)));
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "bench_%s_server: %s\n", name, ex.what());
    return 1;
  }
  return 0;
}

} // namespace bench
