#pragma once

// A client of etcd v3 through its HTTP/JSON gateway (`POST /v3/...`), on
// libcurl and Boost.JSON. Keys and values travel base64-encoded, 64-bit
// numbers as JSON strings, and proto3 leaves zero values out (a failed txn
// has no `succeeded`, an empty range no `kvs`): the client hides all of it.
//
// Every call BLOCKS on the network (bounded by `etcd_client_config`
// timeouts): call it only from threads of its own (the membership's), never
// from a CAF scheduler thread or a RESTinio I/O thread.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace wi::cluster {

/// Where and how patiently to reach etcd.
struct etcd_client_config {
  /// Client URLs, e.g. `http://127.0.0.1:2379`; tried in order, starting
  /// from the last one that answered. At least one.
  std::vector<std::string> endpoints;
  /// Connect timeout of one call. Default: 1 s.
  std::chrono::milliseconds connect_timeout{1000};
  /// Total timeout of one unary call. Default: 2 s.
  std::chrono::milliseconds timeout{2000};
};

/// One key as etcd stores it.
struct key_value {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;
  /// The lease the key is attached to; 0 for none.
  int64_t lease = 0;
};

/// The answer of a range read.
struct range_result {
  std::vector<key_value> kvs;
  /// The store's revision when the read was served.
  int64_t revision = 0;
};

/// One condition of a transaction: `target(key) == number` (or `value`).
struct txn_compare {
  enum class target { create, mod, version, value, lease };
  std::string key;
  target what = target::mod;
  int64_t number = 0;
  /// Compared when `what` is `value`.
  std::string value;
};

/// One operation of a transaction branch: a put (with `lease`), a delete
/// or a range read of `key` (exactly that key).
struct txn_op {
  enum class kind { put, del, range };
  kind what = kind::put;
  std::string key;
  std::string value;
  int64_t lease = 0;
};

/// The answer of a transaction.
struct txn_result {
  /// Whether every compare held (the success branch ran).
  bool succeeded = false;
  /// The store's revision after the transaction.
  int64_t revision = 0;
  /// Keys read by `range` operations of the branch that ran, in order.
  std::vector<key_value> read;
};

/// A granted lease.
struct lease_grant {
  int64_t id = 0;
  /// Seconds granted (etcd raises 1 to 2).
  int64_t ttl = 0;
};

/// One change seen by a watch.
struct watch_event {
  /// A put, else a delete (also an expired lease's keys).
  bool is_put = true;
  /// The key after the put; for a delete only `key` and `mod_revision`.
  key_value kv;
};

/// What a watch reports to its callback.
using watch_callback = std::function<void(const std::vector<watch_event>&)>;

/// A thread-safe etcd v3 gateway client. Each call runs on the calling
/// thread and blocks; calls from several threads run in parallel (each has
/// its own connection). Failures are `errc::storage_unavailable` values
/// whose text names the URL and the reason (unreachable, timeout, HTTP
/// status, gRPC error); they never throw.
class etcd_client {
 public:
  explicit etcd_client(etcd_client_config cfg);
  ~etcd_client();

  etcd_client(const etcd_client&) = delete;
  etcd_client& operator=(const etcd_client&) = delete;

  /// The configured endpoints, comma-separated (for messages).
  [[nodiscard]] std::string endpoints_text() const;

  /// Puts `value` at `key`, attached to `lease` unless 0. Returns the
  /// revision after the put.
  [[nodiscard]] caf::expected<int64_t>
  put(std::string_view key, std::string_view value, int64_t lease = 0);

  /// Reads `key`, or `[key, range_end)` when `range_end` is not empty.
  /// `serializable`: served by the member reached, without a quorum round.
  [[nodiscard]] caf::expected<range_result>
  range(std::string_view key, std::string_view range_end = {},
        bool serializable = false);

  /// Reads every key that starts with `prefix`.
  [[nodiscard]] caf::expected<range_result>
  range_prefix(std::string_view prefix) {
    return range(prefix, prefix_end(prefix));
  }

  /// Deletes `key`, or `[key, range_end)`. Returns how many keys went.
  [[nodiscard]] caf::expected<int64_t>
  delete_range(std::string_view key, std::string_view range_end = {});

  /// Runs `success` if every compare holds, else `failure`, atomically.
  [[nodiscard]] caf::expected<txn_result>
  txn(const std::vector<txn_compare>& compares,
      const std::vector<txn_op>& success, const std::vector<txn_op>& failure);

  /// Grants a lease of `ttl_seconds`.
  [[nodiscard]] caf::expected<lease_grant> grant(int64_t ttl_seconds);

  /// Renews `lease` once. Returns the TTL left after the renewal: 0 when
  /// the lease does not exist any more (expired or revoked).
  [[nodiscard]] caf::expected<int64_t> keep_alive(int64_t lease);

  /// Revokes `lease`: every key attached to it goes.
  [[nodiscard]] caf::error revoke(int64_t lease);

  /// Watches `[key, range_end)` from `start_revision` (0: from now) and
  /// calls `on_events` on this thread for every batch of changes, until
  /// `stop` is set (checked about once a second), the stream breaks or
  /// etcd cancels the watch (e.g. the revision was compacted). `on_created`
  /// runs once the watch is established. Always returns an error saying why
  /// it ended (`stop` included: then the text is "stopped").
  [[nodiscard]] caf::error watch(std::string_view key,
                                 std::string_view range_end,
                                 int64_t start_revision,
                                 const std::atomic<bool>& stop,
                                 const std::function<void()>& on_created,
                                 const watch_callback& on_events);

  /// The end of the range of keys starting with `prefix` (`prefix` with
  /// its last byte incremented).
  [[nodiscard]] static std::string prefix_end(std::string_view prefix);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace wi::cluster
