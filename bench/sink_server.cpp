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

#include "bench_server_main.hpp"

namespace {

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

} // namespace

int main(int argc, char** argv) {
  return bench::serve(argc, argv, "sink", handle);
}
