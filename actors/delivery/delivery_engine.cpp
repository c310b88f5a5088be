#include "actors/delivery/delivery_engine.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <pthread.h>

#include <curl/curl.h>

#include "actors/common/text.hpp"
#include "actors/delivery/address_guard.hpp"

namespace wi {

namespace {

using clock_type = std::chrono::steady_clock;

/// Bytes of the response body kept in the outcome.
constexpr size_t excerpt_limit = 1024;

/// Bytes of the response body read before the connection is dropped.
constexpr size_t drain_limit = 64 * 1024;

/// Longest sleep in `curl_multi_poll` when nothing happens.
constexpr int idle_poll_ms = 1000;

struct pending_job {
  delivery_job job;
  delivery_engine::completion done;
};

/// One job handed to libcurl. Owns its easy handle and header list; the
/// callbacks write into it from the engine thread.
struct transfer {
  pending_job pending;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  connect_guard guard;
  std::string excerpt;
  size_t body_bytes = 0;
  bool drain_limit_hit = false;
  std::optional<std::string> retry_after;
  clock_type::time_point started;

  transfer() = default;
  transfer(const transfer&) = delete;
  transfer& operator=(const transfer&) = delete;

  ~transfer() {
    if (easy != nullptr)
      curl_easy_cleanup(easy);
    curl_slist_free_all(headers);
  }
};

/// The jobs of one endpoint key.
struct key_state {
  std::deque<pending_job> waiting;
  size_t in_flight = 0;
  /// Whether the key is in `ready_keys`.
  bool ready = false;
};

std::string_view trim_header_value(std::string_view x) noexcept {
  constexpr std::string_view ws = " \t\r\n";
  auto first = x.find_first_not_of(ws);
  if (first == std::string_view::npos)
    return {};
  return x.substr(first, x.find_last_not_of(ws) - first + 1);
}

bool valid_header(const std::pair<std::string, std::string>& h) noexcept {
  auto bad_name = [](char c) {
    return c == ':' || c == ' ' || c == '\t' || c == '\r' || c == '\n' ||
           c == '\0';
  };
  auto bad_value = [](char c) { return c == '\r' || c == '\n' || c == '\0'; };
  return !h.first.empty() &&
         std::none_of(h.first.begin(), h.first.end(), bad_name) &&
         std::none_of(h.second.begin(), h.second.end(), bad_value);
}

size_t on_body(char* ptr, size_t size, size_t nmemb, void* user) {
  auto& t = *static_cast<transfer*>(user);
  auto n = size * nmemb;
  if (t.excerpt.size() < excerpt_limit)
    t.excerpt.append(ptr, std::min(n, excerpt_limit - t.excerpt.size()));
  t.body_bytes += n;
  if (t.body_bytes > drain_limit) {
    // Returning less than n makes libcurl abort with CURLE_WRITE_ERROR.
    t.drain_limit_hit = true;
    return 0;
  }
  return n;
}

size_t on_header(char* ptr, size_t size, size_t nmemb, void* user) {
  auto& t = *static_cast<transfer*>(user);
  auto n = size * nmemb;
  std::string_view line{ptr, n};
  constexpr std::string_view retry_after = "retry-after:";
  if (istarts_with(line, "http/"))
    t.retry_after.reset(); // A new (e.g. final after 1xx) response begins.
  else if (istarts_with(line, retry_after))
    t.retry_after =
      std::string{trim_header_value(line.substr(retry_after.size()))};
  return n;
}

long to_curl_ms(std::chrono::milliseconds x) noexcept {
  // 0 means "no timeout" to libcurl: keep at least 1 ms.
  return static_cast<long>(std::clamp<int64_t>(x.count(), 1, LONG_MAX));
}

std::string error_of(CURLcode rc, const transfer& t, long status) {
  if (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && t.drain_limit_hit))
    return {};
  if (t.guard.refused && status == 0)
    return "blocked_address";
  switch (rc) {
  case CURLE_OPERATION_TIMEDOUT:
    return "timeout";
  case CURLE_COULDNT_CONNECT:
    return "connect_failed";
  case CURLE_COULDNT_RESOLVE_HOST:
    return "dns";
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
  case CURLE_SSL_INVALIDCERTSTATUS:
  case CURLE_SSL_SHUTDOWN_FAILED:
  case CURLE_SSL_CRL_BADFILE:
  case CURLE_USE_SSL_FAILED:
    return "tls";
  case CURLE_SEND_ERROR:
  case CURLE_RECV_ERROR:
  case CURLE_GOT_NOTHING:
  case CURLE_PARTIAL_FILE:
  case CURLE_WEIRD_SERVER_REPLY:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
    return "connection_error";
  case CURLE_URL_MALFORMAT:
  case CURLE_UNSUPPORTED_PROTOCOL:
    return "invalid_request";
  default:
    return "transfer_failed";
  }
}

void call(delivery_engine::completion& done, delivery_outcome outcome) {
  if (!done)
    return;
  try {
    done(std::move(outcome));
  } catch (...) {
    // Documented: exceptions from a completion are swallowed so that one
    // bad caller cannot take the engine thread down.
  }
}

void complete_with(pending_job& p, std::string error) {
  delivery_outcome out;
  out.job_id = p.job.job_id;
  out.error = std::move(error);
  call(p.done, std::move(out));
}

} // namespace

struct delivery_engine::impl {
  explicit impl(delivery_engine_config config) : cfg(config) {
    cfg.max_in_flight = std::max<size_t>(cfg.max_in_flight, 1);
    cfg.max_per_key = std::max<size_t>(cfg.max_per_key, 1);
  }

  // -- immutable after construction ------------------------------------------

  delivery_engine_config cfg;
  CURLM* multi = nullptr;

  // -- shared, guarded by mtx ------------------------------------------------

  std::mutex mtx;
  std::vector<pending_job> intake;
  bool stopping = false;

  // -- shared, atomic --------------------------------------------------------

  /// Accepted jobs that did not start yet (intake plus key queues).
  std::atomic<size_t> waiting{0};
  std::atomic<size_t> running{0};

  // -- joining ---------------------------------------------------------------

  std::mutex join_mtx;
  std::thread thread;

  // -- engine thread only ----------------------------------------------------

  std::unordered_map<std::string, key_state> keys;
  /// Keys with waiting jobs and a free per-key slot, in turn order.
  std::deque<std::string> ready_keys;
  std::unordered_map<CURL*, std::unique_ptr<transfer>> transfers;
  /// Easy handles of finished transfers, at most `max_in_flight`, for the
  /// next ones: a reused handle skips libcurl's set-up and keeps its
  /// buffers. `configure` sets every option we use on each transfer, so
  /// nothing of the previous one carries over.
  std::vector<CURL*> idle_easy;

  void run();
  void enqueue(pending_job p);
  void start_ready();
  bool start(pending_job& p);
  bool configure(transfer& t);
  void collect_done();
  void release_slot(const std::string& key);
  void recycle(transfer& t);
  void shutdown_all();
};

void delivery_engine::impl::run() {
  std::vector<pending_job> batch;
  for (;;) {
    bool stop_now = false;
    {
      std::lock_guard guard{mtx};
      batch.swap(intake);
      stop_now = stopping;
    }
    for (auto& p : batch)
      enqueue(std::move(p));
    batch.clear();
    if (stop_now)
      break;
    start_ready();
    int still_running = 0;
    curl_multi_perform(multi, &still_running);
    collect_done();
    // Newly added handles set a zero timeout, so the poll returns at once
    // for them; otherwise it sleeps until I/O, a timer or a wakeup.
    start_ready();
    curl_multi_poll(multi, nullptr, 0, idle_poll_ms, nullptr);
  }
  shutdown_all();
}

void delivery_engine::impl::enqueue(pending_job p) {
  if (!std::all_of(p.job.headers.begin(), p.job.headers.end(), valid_header)) {
    waiting.fetch_sub(1);
    complete_with(p, "invalid_request");
    return;
  }
  auto key = p.job.endpoint_key;
  auto& ks = keys[key];
  ks.waiting.push_back(std::move(p));
  if (!ks.ready && ks.in_flight < cfg.max_per_key) {
    ks.ready = true;
    ready_keys.push_back(std::move(key));
  }
}

void delivery_engine::impl::start_ready() {
  while (running.load() < cfg.max_in_flight && !ready_keys.empty()) {
    auto key = std::move(ready_keys.front());
    ready_keys.pop_front();
    auto i = keys.find(key);
    if (i == keys.end())
      continue;
    auto& ks = i->second;
    ks.ready = false;
    if (ks.waiting.empty() || ks.in_flight >= cfg.max_per_key)
      continue;
    auto p = std::move(ks.waiting.front());
    ks.waiting.pop_front();
    waiting.fetch_sub(1);
    if (start(p)) {
      ++ks.in_flight;
      running.fetch_add(1);
    } else {
      complete_with(p, "transfer_failed");
    }
    if (!ks.waiting.empty() && ks.in_flight < cfg.max_per_key) {
      ks.ready = true;
      ready_keys.push_back(std::move(key));
    } else if (ks.waiting.empty() && ks.in_flight == 0) {
      keys.erase(i);
    }
  }
}

bool delivery_engine::impl::start(pending_job& p) {
  auto t = std::make_unique<transfer>();
  // The transfer owns the job from here on: libcurl keeps pointing into its
  // body. On failure, the job goes back to the caller.
  t->pending = std::move(p);
  if (!configure(*t) || curl_multi_add_handle(multi, t->easy) != CURLM_OK) {
    p = std::move(t->pending);
    return false;
  }
  t->started = clock_type::now();
  auto* easy = t->easy;
  transfers.emplace(easy, std::move(t));
  return true;
}

bool delivery_engine::impl::configure(transfer& t) {
  t.guard.allow_private_targets = cfg.allow_private_targets;
  if (idle_easy.empty()) {
    t.easy = curl_easy_init();
  } else {
    t.easy = idle_easy.back();
    idle_easy.pop_back();
  }
  if (t.easy == nullptr)
    return false;
  const auto& job = t.pending.job;
  bool has_content_type = false;
  auto append = [&t](const char* line) {
    auto* next = curl_slist_append(t.headers, line);
    if (next != nullptr)
      t.headers = next;
    return next != nullptr;
  };
  for (const auto& [name, value] : job.headers) {
    has_content_type = has_content_type || iequals(name, "content-type");
    // "Name;" is libcurl's way to send a header with an empty value.
    auto line = value.empty() ? name + ';' : name + ": " + value;
    if (!append(line.c_str()))
      return false;
  }
  // Remove libcurl's own defaults: no 100-continue, no form Content-Type.
  if (!append("Expect:") || (!has_content_type && !append("Content-Type:")))
    return false;
  auto* e = t.easy;
  auto rc = CURLE_OK;
  auto set = [e, &rc](CURLoption option, auto value) {
    if (rc == CURLE_OK)
      rc = curl_easy_setopt(e, option, value);
  };
  set(CURLOPT_URL, job.url.c_str());
  set(CURLOPT_PROTOCOLS_STR, "http,https");
  set(CURLOPT_PROXY, ""); // Ignore proxy variables: the guard checks targets.
  set(CURLOPT_NOSIGNAL, 1L);
  set(CURLOPT_QUICK_EXIT, 1L); // Do not wait for a pending DNS thread.
  set(CURLOPT_FOLLOWLOCATION, 0L);
  set(CURLOPT_POST, 1L);
  set(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(job.body.size()));
  set(CURLOPT_POSTFIELDS, job.body.data());
  set(CURLOPT_HTTPHEADER, t.headers);
  set(CURLOPT_CONNECTTIMEOUT_MS, to_curl_ms(job.connect_timeout));
  set(CURLOPT_TIMEOUT_MS, to_curl_ms(job.total_timeout));
  set(CURLOPT_WRITEFUNCTION, on_body);
  set(CURLOPT_WRITEDATA, static_cast<void*>(&t));
  set(CURLOPT_HEADERFUNCTION, on_header);
  set(CURLOPT_HEADERDATA, static_cast<void*>(&t));
  return rc == CURLE_OK && install_connect_guard(e, t.guard);
}

void delivery_engine::impl::collect_done() {
  int left = 0;
  while (auto* msg = curl_multi_info_read(multi, &left)) {
    if (msg->msg != CURLMSG_DONE)
      continue;
    auto* e = msg->easy_handle;
    auto rc = msg->data.result;
    auto i = transfers.find(e);
    if (i == transfers.end())
      continue;
    auto t = std::move(i->second);
    transfers.erase(i);
    curl_multi_remove_handle(multi, e);
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    delivery_outcome out;
    out.job_id = t->pending.job.job_id;
    out.status = static_cast<int>(status);
    out.latency = std::chrono::duration_cast<std::chrono::milliseconds>(
      clock_type::now() - t->started);
    out.error = error_of(rc, *t, status);
    out.response_excerpt = std::move(t->excerpt);
    out.retry_after = std::move(t->retry_after);
    auto done = std::move(t->pending.done);
    auto key = std::move(t->pending.job.endpoint_key);
    recycle(*t);
    t.reset(); // Frees the transfer before the callback runs.
    running.fetch_sub(1);
    release_slot(key);
    call(done, std::move(out));
  }
}

void delivery_engine::impl::release_slot(const std::string& key) {
  auto i = keys.find(key);
  if (i == keys.end())
    return;
  auto& ks = i->second;
  --ks.in_flight;
  if (ks.waiting.empty()) {
    if (ks.in_flight == 0)
      keys.erase(i);
  } else if (!ks.ready) {
    ks.ready = true;
    ready_keys.push_back(key);
  }
}

void delivery_engine::impl::recycle(transfer& t) {
  if (idle_easy.size() >= cfg.max_in_flight)
    return; // ~transfer cleans it up
  // The header list dies with the transfer: drop libcurl's pointer to it.
  curl_easy_setopt(t.easy, CURLOPT_HTTPHEADER,
                   static_cast<curl_slist*>(nullptr));
  idle_easy.push_back(t.easy);
  t.easy = nullptr;
}

void delivery_engine::impl::shutdown_all() {
  for (auto* e : idle_easy)
    curl_easy_cleanup(e);
  idle_easy.clear();
  auto aborted = std::move(transfers);
  transfers.clear();
  auto queued = std::move(keys);
  keys.clear();
  ready_keys.clear();
  for (auto& [e, t] : aborted) {
    curl_multi_remove_handle(multi, e);
    auto latency = std::chrono::duration_cast<std::chrono::milliseconds>(
      clock_type::now() - t->started);
    auto p = std::move(t->pending);
    t.reset();
    running.fetch_sub(1);
    delivery_outcome out;
    out.job_id = p.job.job_id;
    out.latency = latency;
    out.error = "shutdown";
    call(p.done, std::move(out));
  }
  for (auto& [key, ks] : queued) {
    for (auto& p : ks.waiting) {
      waiting.fetch_sub(1);
      complete_with(p, "shutdown");
    }
  }
  curl_multi_cleanup(multi);
  multi = nullptr;
}

delivery_engine::delivery_engine(delivery_engine_config cfg)
  : impl_(std::make_unique<impl>(cfg)) {
  static std::once_flag global_init;
  std::call_once(global_init, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
      throw std::runtime_error("curl_global_init failed");
  });
  impl_->multi = curl_multi_init();
  if (impl_->multi == nullptr)
    throw std::runtime_error("curl_multi_init failed");
  try {
    impl_->thread = std::thread{[self = impl_.get()] { self->run(); }};
  } catch (...) {
    curl_multi_cleanup(impl_->multi);
    throw;
  }
  pthread_setname_np(impl_->thread.native_handle(), "wi-delivery");
}

delivery_engine::~delivery_engine() {
  stop();
}

void delivery_engine::submit(delivery_job job, completion done) {
  pending_job p{std::move(job), std::move(done)};
  std::string rejected;
  {
    std::lock_guard guard{impl_->mtx};
    if (impl_->stopping) {
      rejected = "shutdown";
    } else if (impl_->waiting.load() >= impl_->cfg.max_queued) {
      rejected = "overloaded";
    } else {
      impl_->waiting.fetch_add(1);
      bool was_empty = impl_->intake.empty();
      impl_->intake.push_back(std::move(p));
      // A non-empty intake already has a wakeup on its way. The multi handle
      // lives until the engine thread has seen `stopping`.
      if (was_empty)
        curl_multi_wakeup(impl_->multi);
      return;
    }
  }
  complete_with(p, std::move(rejected));
}

void delivery_engine::stop() {
  {
    std::lock_guard guard{impl_->mtx};
    if (!impl_->stopping) {
      impl_->stopping = true;
      curl_multi_wakeup(impl_->multi);
    }
  }
  if (std::this_thread::get_id() == impl_->thread.get_id())
    return;
  std::lock_guard guard{impl_->join_mtx};
  if (impl_->thread.joinable())
    impl_->thread.join();
}

size_t delivery_engine::in_flight() const noexcept {
  return impl_->running.load();
}

size_t delivery_engine::queued() const noexcept {
  return impl_->waiting.load();
}

} // namespace wi
