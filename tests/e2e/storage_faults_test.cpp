// Storage faults, for real: a full disk (a small tmpfs filled up), a write
// error RocksDB deems fatal (EFBIG, the class of EIO and EROFS, from the
// server's RLIMIT_FSIZE), a read-only filesystem and a corrupted data
// directory at start.
//
// A read-only remount while the server runs cannot be tested: the kernel
// refuses `mount -o remount,ro` with EBUSY while RocksDB holds its WAL,
// MANIFEST and LOG open for writing. The EFBIG case stands in for it: the
// same kind of RocksDB error, lifted again while the server keeps running.

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <map>
#include <set>
#include <thread>

#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include "support/api.hpp"
#include "support/assertions.hpp"
#include "support/child_process.hpp"
#include "support/http_client.hpp"
#include "support/server_process.hpp"

using namespace wi_e2e;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

// -- helpers ------------------------------------------------------------------

/// Writes zeros to `path` until the filesystem is full. Returns an empty
/// string on ENOSPC, else what went wrong.
std::string fill_disk(const fs::path& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return std::string{"open "} + path.string() + ": " + std::strerror(errno);
  std::vector<char> chunk(size_t{1} << 16, '\0');
  for (;;) {
    auto n = ::write(fd, chunk.data(), chunk.size());
    if (n > 0)
      continue;
    auto err = errno;
    ::close(fd);
    if (n < 0 && err == ENOSPC)
      return {};
    return std::string{"write "} + path.string() + ": " + std::strerror(err);
  }
}

/// A valid create request whose WAL record is larger than a page (8 headers
/// of 1000 characters): it cannot fit into the unused tail of the WAL file's
/// last tmpfs page, so on a full tmpfs its write must fail.
json::object big_endpoint_request(const std::string& url) {
  auto body = endpoint_request(url);
  json::object headers;
  for (int i = 0; i < 8; ++i)
    headers["X-Big-" + std::to_string(i)] = std::string(1000, 'v');
  body["headers"] = std::move(headers);
  return body;
}

/// The process id of the running server on `data_dir`: the process whose
/// command line holds `--data-dir <data_dir>`; -1 if none.
pid_t find_server_pid(const fs::path& data_dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator{"/proc", ec}) {
    auto name = entry.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), [](char c) {
          return c >= '0' && c <= '9';
        }))
      continue;
    std::ifstream in{entry.path() / "cmdline", std::ios::binary};
    std::string cmdline{std::istreambuf_iterator<char>{in}, {}};
    std::vector<std::string> argv;
    for (size_t pos = 0; pos < cmdline.size();) {
      auto end = cmdline.find('\0', pos);
      if (end == std::string::npos)
        end = cmdline.size();
      argv.push_back(cmdline.substr(pos, end - pos));
      pos = end + 1;
    }
    for (size_t i = 0; i + 1 < argv.size(); ++i)
      if (argv[i] == "--data-dir" && argv[i + 1] == data_dir.string())
        return static_cast<pid_t>(std::stol(name));
  }
  return -1;
}

/// Names and sizes of the files in `dir`.
std::map<std::string, uintmax_t> listing(const fs::path& dir) {
  std::map<std::string, uintmax_t> out;
  for (const auto& entry : fs::directory_iterator{dir})
    out[entry.path().filename().string()] =
      entry.is_regular_file() ? entry.file_size() : 0;
  return out;
}

std::string read_text(const fs::path& p) {
  std::ifstream in{p, std::ios::binary};
  return {std::istreambuf_iterator<char>{in}, {}};
}

std::string describe(const run_result& r) {
  return (r.timed_out ? std::string{"timed out"}
                      : describe_wait_status(r.status)) +
         "\n--- stdout ---\n" + r.out + "\n--- stderr ---\n" + r.err;
}

/// What a client was told: acknowledged endpoints by id with their status.
using acked_endpoints = std::map<int64_t, std::string>;

// -- fixture ------------------------------------------------------------------

/// A server on a data directory `data_` inside `root_` (a tmpfs when
/// `use_tmpfs()`), torn down before the tmpfs is unmounted.
class storage_faults : public ::testing::Test {
 protected:
  /// Whether the data directory lives on a fresh 8 MiB tmpfs.
  virtual bool use_tmpfs() const { return true; }

  void SetUp() override {
    root_ = dir_.path() / "mnt";
    fs::create_directory(root_);
    data_ = root_ / "data";
    if (!use_tmpfs())
      return;
    if (::geteuid() != 0)
      GTEST_SKIP() << "mounting a tmpfs needs root";
    // 8 MiB: RocksDB needs about 4.2 MiB (its MANIFEST is preallocated with
    // 4 MiB), and its 17.6 MiB WAL preallocation fails, so the WAL grows
    // page by page and meets the full disk at once.
    if (::mount("tmpfs", root_.c_str(), "tmpfs", 0, "size=8m") != 0)
      GTEST_SKIP() << "cannot mount a tmpfs on " << root_ << ": "
                   << std::strerror(errno);
    mounted_ = true;
  }

  void TearDown() override {
    if (server_) {
      if (HasFailure())
        std::cerr << "--- server stderr (tail) ---\n"
                  << server_->stderr_tail() << "\n--- end ---\n";
      server_->stop(5s);
      server_.reset();
    }
    if (mounted_) {
      ::mount(nullptr, root_.c_str(), nullptr, MS_REMOUNT, "size=8m");
      if (::umount(root_.c_str()) != 0)
        ::umount2(root_.c_str(), MNT_DETACH);
    }
  }

  server_config config() const {
    server_config cfg;
    cfg.data_dir = data_;
    cfg.admin_token = admin_token_;
    return cfg;
  }

  /// Starts the server (first time or again on the same directory).
  void start() {
    if (!server_)
      server_ = std::make_unique<server_process>(config());
    server_->start();
    client_ = std::make_unique<http_client>(server_->base_url());
  }

  const http_client& client() const { return *client_; }

  http_response post_endpoint(const tenant& t, const json::object& body) {
    return client().post(endpoints_path, json::serialize(body),
                         bearer(t.token));
  }

  http_response post_tenant(const std::string& name) {
    return client().post("/admin/v1/tenants",
                         json::serialize(json::object{{"name", name}}),
                         bearer(admin_token_));
  }

  /// Retries `f` (every 100 ms, for 5 s at most) until it answers `status`.
  template <class F>
  http_response retry_until(long status, F f) {
    auto deadline = std::chrono::steady_clock::now() + 5s;
    for (;;) {
      auto r = f();
      if (r.status == status || std::chrono::steady_clock::now() > deadline)
        return r;
      std::this_thread::sleep_for(100ms);
    }
  }

  /// Expects 503 STORAGE_UNAVAILABLE, promptly.
  void expect_unavailable(const std::function<http_response()>& f) {
    auto started = std::chrono::steady_clock::now();
    auto r = f();
    EXPECT_LT(std::chrono::steady_clock::now() - started, 5s) << r;
    EXPECT_TRUE(is_error(r, 503, "STORAGE_UNAVAILABLE"));
  }

  /// Expects the server alive and healthy.
  void expect_alive() {
    EXPECT_TRUE(server_->running()) << server_->stderr_tail();
    EXPECT_EQ(client().get("/healthz").status, 200);
  }

  /// Expects exactly `acked` in the tenant's list (ids and statuses), and
  /// each of them readable one by one.
  void expect_endpoints(const tenant& t, const acked_endpoints& acked) {
    auto l = client().get(std::string{endpoints_path} + "/list?pageSize=100",
                          bearer(t.token));
    ASSERT_TRUE(is_success(l, 200));
    acked_endpoints listed;
    for (const auto& item : l.data().as_array())
      listed[as_int(item.at("identifier"))] = str_at(item, "status");
    EXPECT_EQ(listed, acked) << l;
    for (const auto& [id, status] : acked) {
      auto r = client().get(endpoint_path(id), bearer(t.token));
      ASSERT_TRUE(is_success(r, 200));
      EXPECT_EQ(str_at(r.data(), "status"), status) << r;
    }
  }

  /// Expects exactly the tenants named `names`.
  void expect_tenants(const std::set<std::string>& names) {
    auto r = client().get("/admin/v1/tenants", bearer(admin_token_));
    ASSERT_TRUE(is_success(r, 200));
    std::set<std::string> listed;
    for (const auto& item : r.data().as_array())
      listed.insert(str_at(item, "name"));
    EXPECT_EQ(listed, names) << r;
  }

  /// Creates an endpoint with `body` and records it as acknowledged.
  int64_t create(const tenant& t, const json::object& body,
                 acked_endpoints& acked) {
    auto id = as_int(create_endpoint(client(), t.token, body).at("identifier"));
    EXPECT_EQ(acked.count(id), 0u) << "identifier " << id << " reused";
    acked[id] = "active";
    return id;
  }

  const std::string admin_token_ = "e2e-admin-" + random_hex(24);
  temp_dir dir_;
  fs::path root_;
  fs::path data_;
  bool mounted_ = false;
  std::unique_ptr<server_process> server_;
  std::unique_ptr<http_client> client_;
};

/// The same on a plain temp directory (no root needed).
class storage_faults_plain : public storage_faults {
 protected:
  bool use_tmpfs() const override { return false; }
};

} // namespace

// -- disk full ----------------------------------------------------------------

TEST_F(storage_faults, disk_full_answers_503_keeps_reads_and_heals) {
  start();
  auto a = create_tenant(client(), admin_token_, "a");
  acked_endpoints acked;
  auto first = create(a, endpoint_request("https://example.com/1"), acked);
  ASSERT_EQ(first, 1);

  auto filler = root_ / "filler";
  ASSERT_EQ(fill_disk(filler), "");
  // Writes: 503 in the envelope, promptly, nothing applied.
  expect_unavailable([&] {
    return post_endpoint(a, big_endpoint_request("https://example.com/big"));
  });
  expect_unavailable([&] {
    return post_endpoint(a, endpoint_request("https://example.com/2"));
  });
  expect_unavailable([&] {
    return client().put(endpoint_path(first, "/disable"), bearer(a.token));
  });
  expect_unavailable([&] { return post_tenant("b-failed"); });
  // Reads need no write and keep working.
  expect_endpoints(a, acked);
  EXPECT_TRUE(is_success(
    client().get(endpoint_path(first, "/statistics"), bearer(a.token)), 200));
  expect_tenants({"a"});
  expect_alive();

  // Space back: the service heals by itself.
  fs::remove(filler);
  auto healed = retry_until(201, [&] {
    return post_endpoint(a, endpoint_request("https://example.com/3"));
  });
  ASSERT_TRUE(is_success(healed, 201));
  auto healed_id = as_int(healed.data().at("identifier"));
  EXPECT_GT(healed_id, first);
  acked[healed_id] = "active";
  // The failed creates consumed no visible identifier.
  for (int64_t id = first + 1; id < healed_id; ++id)
    EXPECT_TRUE(is_error(client().get(endpoint_path(id), bearer(a.token)), 404,
                         "NOT_FOUND"))
      << "id " << id;
  ASSERT_TRUE(is_no_content(
    client().put(endpoint_path(first, "/disable"), bearer(a.token))));
  acked[first] = "inactive";
  auto b = create_tenant(client(), admin_token_, "b");
  acked_endpoints b_acked;
  EXPECT_EQ(create(b, endpoint_request("https://example.com/b"), b_acked), 1);
  expect_endpoints(a, acked);
  expect_tenants({"a", "b"});

  // A crash: everything acknowledged is there, nothing that got a 503.
  server_->kill9();
  start();
  expect_endpoints(a, acked);
  expect_endpoints(b, b_acked);
  expect_tenants({"a", "b"});
  EXPECT_GT(create(a, endpoint_request("https://example.com/4"), acked),
            healed_id);

  // A graceful restart keeps it all as well.
  auto status = server_->stop(10s);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
    << describe_wait_status(status) << "\n"
    << server_->stderr_tail();
  start();
  expect_endpoints(a, acked);
  expect_tenants({"a", "b"});
}

TEST_F(storage_faults, disk_full_right_after_a_restart_heals) {
  // After a restart RocksDB's memtables are empty; a failure then is the case
  // RocksDB's own Resume() mishandles.
  start();
  auto a = create_tenant(client(), admin_token_, "a");
  acked_endpoints acked;
  create(a, endpoint_request("https://example.com/1"), acked);
  server_->kill9();
  start();
  auto filler = root_ / "filler";
  ASSERT_EQ(fill_disk(filler), "");
  expect_unavailable([&] {
    return post_endpoint(a, big_endpoint_request("https://example.com/big"));
  });
  expect_unavailable([&] {
    return client().put(endpoint_path(1, "/disable"), bearer(a.token));
  });
  expect_alive();
  fs::remove(filler);
  auto healed = retry_until(204, [&] {
    return client().put(endpoint_path(1, "/disable"), bearer(a.token));
  });
  ASSERT_TRUE(is_no_content(healed)) << healed;
  acked[1] = "inactive";
  create(a, endpoint_request("https://example.com/2"), acked);
  server_->kill9();
  start();
  expect_endpoints(a, acked);
}

// -- a fatal write error ------------------------------------------------------

namespace {

/// Ignores SIGXFSZ while alive. The server inherits the disposition, so a
/// write past its RLIMIT_FSIZE fails with EFBIG instead of killing it.
class ignore_sigxfsz {
 public:
  ignore_sigxfsz() : old_(std::signal(SIGXFSZ, SIG_IGN)) {}
  ~ignore_sigxfsz() { std::signal(SIGXFSZ, old_); }
  ignore_sigxfsz(const ignore_sigxfsz&) = delete;
  ignore_sigxfsz& operator=(const ignore_sigxfsz&) = delete;

 private:
  void (*old_)(int);
};

/// Sets the file size limit of process `pid`; returns an error text or "".
std::string set_file_size_limit(pid_t pid, rlim_t limit) {
  rlimit old{};
  if (::prlimit(pid, RLIMIT_FSIZE, nullptr, &old) != 0)
    return std::string{"prlimit: "} + std::strerror(errno);
  rlimit next = old;
  next.rlim_cur = std::min(limit, old.rlim_max);
  if (::prlimit(pid, RLIMIT_FSIZE, &next, nullptr) != 0)
    return std::string{"prlimit: "} + std::strerror(errno);
  return {};
}

} // namespace

TEST_F(storage_faults_plain, fatal_write_error_answers_503_and_heals) {
  ignore_sigxfsz guard;
  start();
  auto pid = find_server_pid(data_);
  ASSERT_GT(pid, 0) << "server process not found";
  auto a = create_tenant(client(), admin_token_, "a");
  acked_endpoints acked;
  auto first = create(a, endpoint_request("https://example.com/1"), acked);

  // Every write past the first byte of a file now fails with EFBIG.
  ASSERT_EQ(set_file_size_limit(pid, 1), "");
  expect_unavailable([&] {
    return post_endpoint(a, endpoint_request("https://example.com/2"));
  });
  expect_unavailable([&] {
    return client().put(endpoint_path(first, "/disable"), bearer(a.token));
  });
  expect_unavailable([&] { return post_tenant("b-failed"); });
  // Still failing after the store's reopen attempts.
  std::this_thread::sleep_for(300ms);
  expect_unavailable([&] {
    return post_endpoint(a, endpoint_request("https://example.com/3"));
  });
  expect_endpoints(a, acked);
  expect_tenants({"a"});
  expect_alive();

  ASSERT_EQ(set_file_size_limit(pid, RLIM_INFINITY), "");
  auto healed = retry_until(201, [&] {
    return post_endpoint(a, endpoint_request("https://example.com/4"));
  });
  ASSERT_TRUE(is_success(healed, 201));
  auto healed_id = as_int(healed.data().at("identifier"));
  EXPECT_GT(healed_id, first);
  acked[healed_id] = "active";
  ASSERT_TRUE(is_no_content(
    client().put(endpoint_path(first, "/disable"), bearer(a.token))));
  acked[first] = "inactive";

  server_->kill9();
  start();
  expect_endpoints(a, acked);
  expect_tenants({"a"});
  EXPECT_GT(create(a, endpoint_request("https://example.com/5"), acked),
            healed_id);
}

// -- a read-only filesystem at start ------------------------------------------

TEST_F(storage_faults, read_only_filesystem_at_start_exits_non_zero) {
  start();
  auto a = create_tenant(client(), admin_token_, "a");
  acked_endpoints acked;
  create(a, endpoint_request("https://example.com/1"), acked);
  auto status = server_->stop(10s);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
    << describe_wait_status(status);
  ASSERT_EQ(
    ::mount(nullptr, root_.c_str(), nullptr, MS_REMOUNT | MS_RDONLY, "size=8m"),
    0)
    << std::strerror(errno);
  auto before = listing(data_);
  auto r =
    run_to_exit({server_binary().string(), "--listen", "127.0.0.1:0",
                 "--data-dir", data_.string(), "--admin-token", admin_token_},
                10s);
  ASSERT_FALSE(r.timed_out) << describe(r);
  EXPECT_TRUE(r.exited() && r.exit_code() != 0) << describe(r);
  EXPECT_NE(r.err.find(data_.string()), std::string::npos) << describe(r);
  EXPECT_NE(r.err.find("Read-only file system"), std::string::npos)
    << describe(r);
  EXPECT_EQ(r.out.find("listening on"), std::string::npos) << describe(r);
  EXPECT_EQ(listing(data_), before);
  // Writable again: everything is there.
  ASSERT_EQ(::mount(nullptr, root_.c_str(), nullptr, MS_REMOUNT, "size=8m"), 0)
    << std::strerror(errno);
  start();
  expect_endpoints(a, acked);
  expect_tenants({"a"});
}

// -- a corrupted data directory at start --------------------------------------

namespace {

/// Overwrites `victim(data dir)` with garbage after a clean start and stop,
/// then expects the server to refuse the directory and leave it alone.
void expect_refused_after_overwriting(
  const fs::path& data_dir,
  const std::function<fs::path(const fs::path&)>& victim) {
  auto target = victim(data_dir);
  ASSERT_TRUE(fs::is_regular_file(target)) << target;
  const std::string garbage(4096, '\x5a');
  std::ofstream{target, std::ios::binary | std::ios::trunc} << garbage;
  auto before = listing(data_dir);
  auto started = std::chrono::steady_clock::now();
  auto r =
    run_to_exit({server_binary().string(), "--listen", "127.0.0.1:0",
                 "--data-dir", data_dir.string(), "--admin-token", "t0k3n"},
                10s);
  ASSERT_FALSE(r.timed_out) << describe(r);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s) << describe(r);
  EXPECT_TRUE(r.exited() && r.exit_code() != 0) << describe(r);
  // "is not a readable webhook-ingress data directory: <RocksDB's error>",
  // or for a garbage MANIFEST, which RocksDB reads as one without our column
  // families, "is not a webhook-ingress data directory (...)".
  EXPECT_NE(r.err.find(data_dir.string() + " is not a "), std::string::npos)
    << describe(r);
  EXPECT_EQ(r.out.find("listening on"), std::string::npos) << describe(r);
  // No fresh empty store over the old one: not a file added or changed.
  EXPECT_EQ(listing(data_dir), before);
  EXPECT_EQ(read_text(target), garbage);
}

} // namespace

TEST_F(storage_faults_plain, garbage_current_file_is_refused) {
  start();
  create_tenant(client(), admin_token_, "a");
  auto status = server_->stop(10s);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  expect_refused_after_overwriting(
    data_, [](const fs::path& dir) { return dir / "CURRENT"; });
}

TEST_F(storage_faults_plain, garbage_manifest_is_refused) {
  start();
  create_tenant(client(), admin_token_, "a");
  auto status = server_->stop(10s);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  expect_refused_after_overwriting(data_, [](const fs::path& dir) {
    auto current = read_text(dir / "CURRENT");
    return dir / current.substr(0, current.find('\n'));
  });
}
