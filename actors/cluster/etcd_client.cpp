#include "actors/cluster/etcd_client.hpp"

#include <algorithm>
#include <mutex>
#include <optional>
#include <stdexcept>

#include <boost/json.hpp>
#include <curl/curl.h>

#include "actors/delivery/signing.hpp"
#include "webhook_ingress/error.hpp"

namespace wi::cluster {

namespace json = boost::json;

namespace {

caf::error unavailable(std::string text) {
  return make_error(errc::storage_unavailable, "etcd", std::move(text));
}

/// A 64-bit number that the gateway writes as a string (or, rarely, as a
/// number); 0 when missing, as proto3 leaves zero values out.
int64_t number_of(const json::object& obj, std::string_view name) {
  auto it = obj.find(name);
  if (it == obj.end())
    return 0;
  if (it->value().is_string()) {
    const auto& s = it->value().get_string();
    try {
      return std::stoll(std::string{s.data(), s.size()});
    } catch (const std::exception&) {
      return 0;
    }
  }
  if (it->value().is_int64())
    return it->value().get_int64();
  if (it->value().is_uint64())
    return static_cast<int64_t>(it->value().get_uint64());
  return 0;
}

std::string bytes_of(const json::object& obj, std::string_view name) {
  auto it = obj.find(name);
  if (it == obj.end() || !it->value().is_string())
    return {};
  const auto& s = it->value().get_string();
  return base64_decode({s.data(), s.size()}).value_or(std::string{});
}

const json::object* object_at(const json::object& obj, std::string_view name) {
  auto it = obj.find(name);
  return it != obj.end() && it->value().is_object() ? &it->value().get_object()
                                                    : nullptr;
}

const json::array* array_at(const json::object& obj, std::string_view name) {
  auto it = obj.find(name);
  return it != obj.end() && it->value().is_array() ? &it->value().get_array()
                                                   : nullptr;
}

key_value kv_of(const json::object& obj) {
  key_value kv;
  kv.key = bytes_of(obj, "key");
  kv.value = bytes_of(obj, "value");
  kv.create_revision = number_of(obj, "create_revision");
  kv.mod_revision = number_of(obj, "mod_revision");
  kv.version = number_of(obj, "version");
  kv.lease = number_of(obj, "lease");
  return kv;
}

std::vector<key_value> kvs_of(const json::object& obj) {
  std::vector<key_value> result;
  if (auto* kvs = array_at(obj, "kvs"))
    for (const auto& x : *kvs)
      if (x.is_object())
        result.push_back(kv_of(x.get_object()));
  return result;
}

int64_t revision_of(const json::object& obj) {
  auto* header = object_at(obj, "header");
  return header ? number_of(*header, "revision") : 0;
}

std::string b64(std::string_view x) {
  return base64_encode(x);
}

std::string_view target_name(txn_compare::target x) {
  switch (x) {
  case txn_compare::target::create:
    return "CREATE";
  case txn_compare::target::mod:
    return "MOD";
  case txn_compare::target::version:
    return "VERSION";
  case txn_compare::target::value:
    return "VALUE";
  case txn_compare::target::lease:
    return "LEASE";
  }
  return "MOD";
}

std::string_view number_field(txn_compare::target x) {
  switch (x) {
  case txn_compare::target::create:
    return "create_revision";
  case txn_compare::target::mod:
    return "mod_revision";
  case txn_compare::target::version:
    return "version";
  case txn_compare::target::lease:
    return "lease";
  case txn_compare::target::value:
    break;
  }
  return "value";
}

json::object request_op(const txn_op& op) {
  switch (op.what) {
  case txn_op::kind::put: {
    json::object put{{"key", b64(op.key)}, {"value", b64(op.value)}};
    if (op.lease != 0)
      put["lease"] = std::to_string(op.lease);
    return {{"request_put", std::move(put)}};
  }
  case txn_op::kind::del:
    return {{"request_delete_range", json::object{{"key", b64(op.key)}}}};
  case txn_op::kind::range:
    break;
  }
  return {{"request_range", json::object{{"key", b64(op.key)}}}};
}

size_t append_body(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

/// What a streaming call keeps between curl callbacks.
struct stream_state {
  const std::atomic<bool>* stop = nullptr;
  std::string pending;
  /// Gets every complete line; returns false to end the stream.
  std::function<bool(std::string_view)> on_line;
  bool ended_by_callback = false;
};

size_t append_stream(char* data, size_t size, size_t n, void* user) {
  auto* st = static_cast<stream_state*>(user);
  st->pending.append(data, size * n);
  size_t start = 0;
  for (;;) {
    auto nl = st->pending.find('\n', start);
    if (nl == std::string::npos)
      break;
    std::string_view line{st->pending.data() + start, nl - start};
    if (!line.empty() && !st->on_line(line)) {
      st->ended_by_callback = true;
      return 0; // aborts the transfer
    }
    start = nl + 1;
  }
  st->pending.erase(0, start);
  return size * n;
}

int stream_progress(void* user, curl_off_t, curl_off_t, curl_off_t,
                    curl_off_t) {
  auto* st = static_cast<stream_state*>(user);
  return st->stop->load(std::memory_order_relaxed) ? 1 : 0;
}

} // namespace

struct etcd_client::impl {
  explicit impl(etcd_client_config c) : cfg(std::move(c)) {
    static std::once_flag flag;
    std::call_once(flag, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    if (cfg.endpoints.empty())
      throw std::invalid_argument("etcd_client: no endpoint");
  }

  ~impl() {
    for (auto* h : idle)
      curl_easy_cleanup(h);
  }

  etcd_client_config cfg;
  /// Index of the endpoint tried first.
  std::atomic<size_t> preferred{0};
  std::mutex mtx;
  /// Handles not in use (reused for their connections).
  std::vector<CURL*> idle;

  CURL* take() {
    {
      std::lock_guard guard{mtx};
      if (!idle.empty()) {
        auto* h = idle.back();
        idle.pop_back();
        curl_easy_reset(h);
        return h;
      }
    }
    return curl_easy_init();
  }

  void give_back(CURL* h) {
    std::lock_guard guard{mtx};
    if (idle.size() < 8)
      idle.push_back(h);
    else
      curl_easy_cleanup(h);
  }

  void common_options(CURL* h, const std::string& url, const std::string& body,
                      curl_slist* headers) {
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(cfg.connect_timeout.count()));
  }

  /// One POST of `body` to `path`, trying every endpoint from the
  /// preferred one until one answers over HTTP. Returns the parsed body.
  caf::expected<json::object> call(std::string_view path,
                                   const json::object& request) {
    auto body = json::serialize(request);
    std::string reasons;
    auto n = cfg.endpoints.size();
    auto first = preferred.load(std::memory_order_relaxed) % n;
    for (size_t i = 0; i < n; ++i) {
      auto index = (first + i) % n;
      const auto& endpoint = cfg.endpoints[index];
      auto url = endpoint + std::string{path};
      std::string answer;
      auto* h = take();
      if (h == nullptr)
        return unavailable("curl_easy_init failed");
      curl_slist* headers =
        curl_slist_append(nullptr, "Content-Type: application/json");
      common_options(h, url, body, headers);
      curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
                       static_cast<long>(cfg.timeout.count()));
      curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, append_body);
      curl_easy_setopt(h, CURLOPT_WRITEDATA, &answer);
      auto rc = curl_easy_perform(h);
      long status = 0;
      curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
      curl_slist_free_all(headers);
      give_back(h);
      if (rc != CURLE_OK) {
        if (!reasons.empty())
          reasons += "; ";
        reasons += endpoint + ": " + curl_easy_strerror(rc);
        continue;
      }
      preferred.store(index, std::memory_order_relaxed);
      boost::system::error_code ec;
      auto parsed = json::parse(answer, ec);
      if (ec || !parsed.is_object())
        return unavailable(endpoint + ": answer of " + std::string{path} +
                           " is not a JSON object (HTTP " +
                           std::to_string(status) + ")");
      auto& obj = parsed.get_object();
      if (status != 200 || obj.contains("error")) {
        auto message = obj.contains("message") && obj["message"].is_string()
                         ? std::string{obj["message"].get_string()}
                         : answer.substr(0, 200);
        return unavailable(endpoint + ": " + std::string{path} +
                           " failed (HTTP " + std::to_string(status) +
                           "): " + message);
      }
      return std::move(obj);
    }
    return unavailable("no endpoint answered: " + reasons);
  }
};

etcd_client::etcd_client(etcd_client_config cfg)
  : impl_(std::make_unique<impl>(std::move(cfg))) {
  // nop
}

etcd_client::~etcd_client() = default;

std::string etcd_client::endpoints_text() const {
  std::string result;
  for (const auto& e : impl_->cfg.endpoints) {
    if (!result.empty())
      result += ',';
    result += e;
  }
  return result;
}

std::string etcd_client::prefix_end(std::string_view prefix) {
  std::string end{prefix};
  while (!end.empty()) {
    auto& last = end.back();
    if (static_cast<unsigned char>(last) < 0xff) {
      last = static_cast<char>(static_cast<unsigned char>(last) + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0'); // every key
}

caf::expected<int64_t> etcd_client::put(std::string_view key,
                                        std::string_view value, int64_t lease) {
  json::object req{{"key", b64(key)}, {"value", b64(value)}};
  if (lease != 0)
    req["lease"] = std::to_string(lease);
  auto res = impl_->call("/v3/kv/put", req);
  if (!res)
    return res.error();
  return revision_of(*res);
}

caf::expected<range_result> etcd_client::range(std::string_view key,
                                               std::string_view range_end,
                                               bool serializable) {
  json::object req{{"key", b64(key)}};
  if (!range_end.empty())
    req["range_end"] = b64(range_end);
  if (serializable)
    req["serializable"] = true;
  auto res = impl_->call("/v3/kv/range", req);
  if (!res)
    return res.error();
  return range_result{kvs_of(*res), revision_of(*res)};
}

caf::expected<int64_t> etcd_client::delete_range(std::string_view key,
                                                 std::string_view range_end) {
  json::object req{{"key", b64(key)}};
  if (!range_end.empty())
    req["range_end"] = b64(range_end);
  auto res = impl_->call("/v3/kv/deleterange", req);
  if (!res)
    return res.error();
  return number_of(*res, "deleted");
}

caf::expected<txn_result>
etcd_client::txn(const std::vector<txn_compare>& compares,
                 const std::vector<txn_op>& success,
                 const std::vector<txn_op>& failure) {
  json::array cmp;
  for (const auto& c : compares) {
    json::object x{{"key", b64(c.key)},
                   {"target", target_name(c.what)},
                   {"result", "EQUAL"}};
    if (c.what == txn_compare::target::value)
      x["value"] = b64(c.value);
    else
      x[number_field(c.what)] = std::to_string(c.number);
    cmp.push_back(std::move(x));
  }
  json::array ok;
  for (const auto& op : success)
    ok.push_back(request_op(op));
  json::array not_ok;
  for (const auto& op : failure)
    not_ok.push_back(request_op(op));
  json::object req{{"compare", std::move(cmp)},
                   {"success", std::move(ok)},
                   {"failure", std::move(not_ok)}};
  auto res = impl_->call("/v3/kv/txn", req);
  if (!res)
    return res.error();
  txn_result result;
  auto it = res->find("succeeded");
  result.succeeded =
    it != res->end() && it->value().is_bool() && it->value().get_bool();
  result.revision = revision_of(*res);
  if (auto* responses = array_at(*res, "responses"))
    for (const auto& r : *responses)
      if (r.is_object())
        if (auto* rr = object_at(r.get_object(), "response_range")) {
          auto kvs = kvs_of(*rr);
          result.read.insert(result.read.end(), kvs.begin(), kvs.end());
        }
  return result;
}

caf::expected<lease_grant> etcd_client::grant(int64_t ttl_seconds) {
  auto res = impl_->call("/v3/lease/grant", json::object{{"TTL", ttl_seconds}});
  if (!res)
    return res.error();
  lease_grant result{number_of(*res, "ID"), number_of(*res, "TTL")};
  if (result.id == 0)
    return unavailable("lease grant answered no lease id");
  return result;
}

caf::expected<int64_t> etcd_client::keep_alive(int64_t lease) {
  // A streaming RPC in gRPC: through the gateway one POST is one renewal,
  // answered as `{"result": {...}}`.
  auto res = impl_->call("/v3/lease/keepalive",
                         json::object{{"ID", std::to_string(lease)}});
  if (!res)
    return res.error();
  auto* result = object_at(*res, "result");
  return result ? number_of(*result, "TTL") : int64_t{0};
}

caf::error etcd_client::revoke(int64_t lease) {
  auto res = impl_->call("/v3/lease/revoke",
                         json::object{{"ID", std::to_string(lease)}});
  if (!res)
    return res.error();
  return {};
}

caf::error etcd_client::watch(std::string_view key, std::string_view range_end,
                              int64_t start_revision,
                              const std::atomic<bool>& stop,
                              const std::function<void()>& on_created,
                              const watch_callback& on_events) {
  json::object create{{"key", b64(key)}};
  if (!range_end.empty())
    create["range_end"] = b64(range_end);
  if (start_revision > 0)
    create["start_revision"] = std::to_string(start_revision);
  auto body = json::serialize(json::object{{"create_request", create}});
  auto& cfg = impl_->cfg;
  auto n = cfg.endpoints.size();
  auto index = impl_->preferred.load(std::memory_order_relaxed) % n;
  const auto& endpoint = cfg.endpoints[index];
  auto url = endpoint + "/v3/watch";
  caf::error ended;
  stream_state st;
  st.stop = &stop;
  st.on_line = [&](std::string_view line) {
    boost::system::error_code ec;
    auto parsed = json::parse(line, ec);
    if (ec || !parsed.is_object()) {
      ended = unavailable(endpoint + ": watch sent a line that is not JSON");
      return false;
    }
    const auto& obj = parsed.get_object();
    auto* result = object_at(obj, "result");
    if (!result) {
      ended = unavailable(
        endpoint + ": watch failed: " + json::serialize(obj).substr(0, 200));
      return false;
    }
    if (auto it = result->find("created");
        it != result->end() && it->value().is_bool() && it->value().get_bool())
      on_created();
    if (auto it = result->find("canceled"); it != result->end() &&
                                            it->value().is_bool() &&
                                            it->value().get_bool()) {
      ended = unavailable(
        endpoint + ": watch canceled (compact revision " +
        std::to_string(number_of(*result, "compact_revision")) + ")");
      return false;
    }
    std::vector<watch_event> events;
    if (auto* evs = array_at(*result, "events"))
      for (const auto& e : *evs) {
        if (!e.is_object())
          continue;
        const auto& ev = e.get_object();
        watch_event x;
        auto type = ev.find("type");
        x.is_put = type == ev.end() || !type->value().is_string() ||
                   type->value().get_string() != "DELETE";
        if (auto* kv = object_at(ev, "kv"))
          x.kv = kv_of(*kv);
        events.push_back(std::move(x));
      }
    if (!events.empty())
      on_events(events);
    return true;
  };
  auto* h = impl_->take();
  if (h == nullptr)
    return unavailable("curl_easy_init failed");
  curl_slist* headers =
    curl_slist_append(nullptr, "Content-Type: application/json");
  impl_->common_options(h, url, body, headers);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, append_stream);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &st);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, stream_progress);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, &st);
  // A dead peer behind an open socket: TCP keepalive probes find it.
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 2L);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 1L);
  auto rc = curl_easy_perform(h);
  curl_slist_free_all(headers);
  // A stream ended by etcd or by us leaves the connection unusable.
  curl_easy_cleanup(h);
  if (stop.load())
    return unavailable("stopped");
  if (ended)
    return ended;
  if (rc != CURLE_OK) {
    // Let the next call start from another endpoint.
    impl_->preferred.compare_exchange_strong(index, index + 1);
    return unavailable(endpoint + ": watch ended: " + curl_easy_strerror(rc));
  }
  return unavailable(endpoint + ": watch stream closed by etcd");
}

} // namespace wi::cluster
