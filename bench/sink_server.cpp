// Delivery target for bench/delivery_bench.sh: a bare RESTinio server that
// answers every POST with 200 and a tiny body and counts them, so the
// delivery engine's throughput can be set against what the target itself
// can take (measured with wrk in the same run).
//
// Usage: bench_sink_server [--listen HOST:PORT] [--threads N]
//   --listen   address to bind, default 127.0.0.1:0 (port 0: any free port)
//   --threads  size of the RESTinio I/O thread pool, default 2
// Prints "sink listening on http://HOST:PORT" once bound. Stops on SIGINT.
//
// Routes:
//   POST <any path>  200 "ok", counted
//   GET  /count      200, the number of POSTs received so far (plain text)
//   anything else    404, not counted

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

#include <restinio/all.hpp>

namespace {

using traits = restinio::default_traits_t;

/// POSTs received so far (any path).
std::atomic<std::uint64_t> posts{0};

restinio::request_handling_status_t handle(restinio::request_handle_t req) {
  auto method = req->header().method();
  if (method == restinio::http_method_post()) {
    posts.fetch_add(1, std::memory_order_relaxed);
    return req->create_response(restinio::status_ok())
      .append_header(restinio::http_field::content_type, "text/plain")
      .set_body("ok")
      .done();
  }
  if (method == restinio::http_method_get() && req->header().path() == "/count")
    return req->create_response(restinio::status_ok())
      .append_header(restinio::http_field::content_type, "text/plain")
      .set_body(std::to_string(posts.load(std::memory_order_relaxed)) + "\n")
      .done();
  return req->create_response(restinio::status_not_found())
    .connection_close()
    .done();
}

[[noreturn]] void usage(const char* argv0) {
  std::fprintf(stderr, "usage: %s [--listen HOST:PORT] [--threads N]\n", argv0);
  std::exit(2);
}

} // namespace

int main(int argc, char** argv) {
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
    restinio::run(
      restinio::on_thread_pool<traits>(threads)
        .address(host)
        .port(port)
        .acceptor_post_bind_hook([host](asio::ip::tcp::acceptor& acceptor) {
          std::printf("sink listening on http://%s:%u\n", host.c_str(),
                      unsigned{acceptor.local_endpoint().port()});
          std::fflush(stdout);
        })
        .request_handler(handle));
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "bench_sink_server: %s\n", ex.what());
    return 1;
  }
  return 0;
}
