#include "crash/load.hpp"

#include <atomic>
#include <random>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <vector>

#include "support/api.hpp"
#include "support/http_client.hpp"

namespace wi_crash {

namespace {

/// A short description of an answer for problem reports.
std::string brief(const wi_e2e::http_response& r) {
  auto body = r.body.size() > 300 ? r.body.substr(0, 300) + "..." : r.body;
  return r.method + " " + r.path + " -> " + std::to_string(r.status) + " " +
         body;
}

/// `data` of a success envelope as an object, or null.
const boost::json::object* data_object(const wi_e2e::http_response& r) {
  if (!r.is_json || !r.json.is_object())
    return nullptr;
  const auto* data = r.json.get_object().if_contains("data");
  return data != nullptr ? data->if_object() : nullptr;
}

/// `obj[key]` as a string, or empty.
std::string text_at(const boost::json::object& obj, std::string_view key) {
  const auto* v = obj.if_contains(key);
  return v != nullptr && v->is_string() ? std::string{v->get_string()}
                                        : std::string{};
}

/// Sends `op`.
wi_e2e::http_response send(const wi_e2e::http_client& client,
                           const load_config& cfg, const planned_op& op) {
  switch (op.kind) {
  case planned_op::create_tenant:
    return client.post("/admin/v1/tenants", op.body,
                       wi_e2e::bearer(cfg.admin_token));
  case planned_op::create_endpoint:
    return client.post(wi_e2e::endpoints_path, op.body,
                       wi_e2e::bearer(op.token));
  case planned_op::set_status:
    return client.put(wi_e2e::endpoint_path(
                        op.id, op.status == "active" ? "/enable" : "/disable"),
                      wi_e2e::bearer(op.token));
  case planned_op::publish:
    return client.post("/v1/webhook/events", op.body, wi_e2e::bearer(op.token));
  case planned_op::rotate_token:
    return client.post("/admin/v1/tenants/" + op.token + "/tokens", op.body,
                       wi_e2e::bearer(cfg.admin_token));
  }
  throw std::logic_error("unknown operation");
}

/// Records the answer to `op` in `h`. Returns false if it is not a valid
/// acknowledgement (then `op` counts as unanswered and the answer is
/// reported).
bool record(history& h, const planned_op& op, const wi_e2e::http_response& r) {
  const auto* data = data_object(r);
  switch (op.kind) {
  case planned_op::create_tenant: {
    if (r.status != 201 || data == nullptr)
      break;
    auto id = text_at(*data, "id");
    auto token = text_at(*data, "token");
    auto created_at = text_at(*data, "created_at");
    if (id.empty() || token.empty() || !unix_seconds(created_at))
      break;
    h.ack_tenant(op, std::move(id), std::move(token), std::move(created_at));
    return true;
  }
  case planned_op::create_endpoint: {
    if (r.status != 201 || data == nullptr)
      break;
    const auto* id = data->if_contains("identifier");
    auto created = text_at(*data, "create_timestamp");
    if (id == nullptr || !id->is_int64() || id->get_int64() < 1 ||
        !unix_seconds(created))
      break;
    h.ack_endpoint(op, id->get_int64(), std::move(created), *data);
    return true;
  }
  case planned_op::set_status:
    if (r.status != 204)
      break;
    h.ack_status(op);
    return true;
  case planned_op::publish:
    if (r.status != 202 || data == nullptr)
      break;
    h.ack_event(op, *data);
    return true;
  case planned_op::rotate_token: {
    if (r.status != 201 || data == nullptr)
      break;
    auto token = text_at(*data, "token");
    if (token.empty())
      break;
    h.ack_rotation(op, std::move(token));
    return true;
  }
  }
  return false;
}

/// One client thread: plan, send, record, until `stop` or the first failure.
/// `killing` is set just before the SIGKILL.
void client_loop(history& h, const load_config& cfg, int index,
                 const std::atomic<bool>& killing,
                 const std::atomic<bool>& stop) {
  std::seed_seq seq{cfg.seed, static_cast<uint64_t>(index)};
  std::mt19937_64 rng{seq};
  wi_e2e::http_client client{cfg.base_url, cfg.request_timeout};
  while (!stop.load()) {
    auto op = h.plan(rng, unix_now());
    wi_e2e::http_response r;
    try {
      r = send(client, cfg, op);
    } catch (const std::exception& e) {
      // The usual end: the kill cut the exchange off, or it came before the
      // request and the connection was refused (libcurl's wording for
      // CURLE_COULDNT_CONNECT: nothing was sent).
      bool before_kill = !killing.load();
      std::string_view what = e.what();
      if (!before_kill &&
          what.find("Couldn't connect to server") != std::string_view::npos)
        h.never_sent(op);
      else
        h.unanswered(op);
      if (before_kill)
        h.report(std::string{"transport error before the kill: "} + e.what());
      return;
    }
    if (!record(h, op, r)) {
      h.unanswered(op);
      h.report("unexpected answer during the load: " + brief(r));
      return;
    }
  }
}

} // namespace

void load_then_kill(history& h, wi_e2e::server_process& server,
                    const load_config& cfg) {
  std::atomic<bool> killing{false};
  std::atomic<bool> stop{false};
  std::atomic<int> running{cfg.threads};
  auto acked_before = h.stats().acked;
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(cfg.threads));
  try {
    for (int i = 0; i < cfg.threads; ++i)
      threads.emplace_back([&, i] {
        client_loop(h, cfg, i, killing, stop);
        --running;
      });
  } catch (...) {
    killing = true;
    server.kill9();
    stop = true;
    for (auto& t : threads)
      t.join();
    throw;
  }
  std::this_thread::sleep_for(cfg.kill_after);
  // Not before the round's first acknowledgement (a round that acknowledged
  // nothing would test nothing): on a slow machine the first synced write
  // can take longer than the kill delay. Bounded by `first_ack_timeout`.
  auto give_up = std::chrono::steady_clock::now() + cfg.first_ack_timeout;
  while (h.stats().acked == acked_before && running.load() > 0 &&
         std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
  if (!server.running())
    h.report("the server exited on its own before the kill; stderr:\n" +
             server.stderr_tail(2000));
  // Kill while the threads keep sending, so that the kill lands in the middle
  // of requests; `stop` only guards against the port being taken over.
  killing = true;
  server.kill9();
  stop = true;
  for (auto& t : threads)
    t.join();
}

} // namespace wi_crash
