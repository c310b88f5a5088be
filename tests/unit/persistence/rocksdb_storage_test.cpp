#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include "persistence/storage.hpp"
#include "webhook_ingress/error.hpp"

extern char** environ;

using namespace wi;
using wi::persistence::open_rocksdb_storage;
using wi::persistence::storage;

namespace fs = std::filesystem;

namespace {

// -- helper process -----------------------------------------------------------

constexpr const char* hold_env = "WI_TEST_HOLD_DATA_DIR";

// When this binary starts with WI_TEST_HOLD_DATA_DIR set, it is the helper of
// `locked_by_another_process`: it opens that store, prints "ready" (or
// "failed"), holds the store until its stdin closes, and exits before any
// test runs.
[[maybe_unused]] const bool hold_mode = [] {
  const char* dir = std::getenv(hold_env);
  if (dir == nullptr)
    return false;
  auto store = open_rocksdb_storage(dir);
  std::puts(store ? "ready" : "failed");
  std::fflush(stdout);
  char c = 0;
  while (::read(STDIN_FILENO, &c, 1) > 0) {
    // wait for EOF
  }
  if (store)
    store->reset();
  std::_Exit(store ? 0 : 1);
}();

// -- fixture ------------------------------------------------------------------

using wal_entries = std::vector<std::pair<uint64_t, std::string>>;

wal_entries read_all(storage& store, uint64_t from = 0) {
  wal_entries out;
  auto err = store.replay(from, [&](uint64_t seq, std::string_view bytes) {
    out.emplace_back(seq, std::string{bytes});
    return caf::error{};
  });
  EXPECT_FALSE(err) << text_of(err);
  return out;
}

std::string read_file(const fs::path& p) {
  std::ifstream in{p, std::ios::binary};
  return {std::istreambuf_iterator<char>{in}, {}};
}

void write_file(const fs::path& p, const std::string& content) {
  std::ofstream out{p, std::ios::binary};
  out << content;
}

class rocksdb_storage_test : public testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = "/tmp/wi-persistence-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    dir_ = (root_ / "data").string();
  }

  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  /// Opens `dir_` and fails the test on error.
  std::unique_ptr<storage> open() {
    auto res = open_rocksdb_storage(dir_);
    EXPECT_TRUE(res) << text_of(res.error());
    return res ? std::move(*res) : nullptr;
  }

  fs::path root_;
  std::string dir_;
};

} // namespace

TEST_F(rocksdb_storage_test, creates_missing_directories_and_schema) {
  dir_ = (root_ / "a" / "b" / "data").string();
  auto store = open();
  ASSERT_TRUE(store);
  EXPECT_TRUE(fs::exists(fs::path{dir_} / "CURRENT"));
  EXPECT_EQ(store->last_sequence(), 0u);
  EXPECT_EQ(read_all(*store), wal_entries{});
  auto version = store->get_meta("schema_version");
  ASSERT_TRUE(version);
  EXPECT_EQ(*version, std::optional<std::string>{"1"});
}

TEST_F(rocksdb_storage_test, initializes_an_existing_empty_directory) {
  fs::create_directory(dir_);
  auto store = open();
  ASSERT_TRUE(store);
  EXPECT_EQ(store->last_sequence(), 0u);
}

TEST_F(rocksdb_storage_test, append_replay_and_last_sequence) {
  auto store = open();
  ASSERT_TRUE(store);
  auto first = store->append({"a", "b", "c"});
  ASSERT_TRUE(first) << text_of(first.error());
  EXPECT_EQ(*first, 1u);
  auto second = store->append({std::string("d\0e", 3)});
  ASSERT_TRUE(second) << text_of(second.error());
  EXPECT_EQ(*second, 4u);
  EXPECT_EQ(store->last_sequence(), 4u);
  EXPECT_EQ(
    read_all(*store),
    (wal_entries{{1, "a"}, {2, "b"}, {3, "c"}, {4, std::string("d\0e", 3)}}));
  EXPECT_EQ(read_all(*store, 3),
            (wal_entries{{3, "c"}, {4, std::string("d\0e", 3)}}));
  EXPECT_EQ(read_all(*store, 5), wal_entries{});
}

TEST_F(rocksdb_storage_test, replay_is_in_numeric_order_past_one_byte) {
  auto store = open();
  ASSERT_TRUE(store);
  std::vector<std::string> batch;
  for (int i = 1; i <= 300; ++i)
    batch.push_back("r" + std::to_string(i));
  ASSERT_TRUE(store->append(batch));
  for (int i = 301; i <= 600; ++i) {
    auto seq = store->append({"r" + std::to_string(i)});
    ASSERT_TRUE(seq);
    ASSERT_EQ(*seq, static_cast<uint64_t>(i));
  }
  auto all = read_all(*store);
  ASSERT_EQ(all.size(), 600u);
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].first, i + 1);
    EXPECT_EQ(all[i].second, "r" + std::to_string(i + 1));
  }
  auto tail = read_all(*store, 256);
  ASSERT_EQ(tail.size(), 345u);
  EXPECT_EQ(tail.front().first, 256u);
}

TEST_F(rocksdb_storage_test, read_wal_returns_the_asked_records_in_order) {
  auto store = open();
  ASSERT_TRUE(store);
  std::vector<std::string> batch;
  for (int i = 1; i <= 600; ++i)
    batch.push_back("r" + std::to_string(i));
  ASSERT_TRUE(store->append(batch));
  auto some = store->read_wal({1, 2, 255, 256, 257, 600});
  ASSERT_TRUE(some) << text_of(some.error());
  EXPECT_EQ(*some, (std::vector<std::string>{"r1", "r2", "r255", "r256", "r257",
                                             "r600"}));
  auto none = store->read_wal({});
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  ASSERT_FALSE(store->truncate_wal(100));
  auto gone = store->read_wal({99, 100});
  ASSERT_FALSE(gone);
  EXPECT_EQ(code_of(gone.error()), errc::corrupt_data);
  EXPECT_NE(text_of(gone.error()).find("WAL record 99 is missing"),
            std::string::npos)
    << text_of(gone.error());
  auto past = store->read_wal({600, 601});
  ASSERT_FALSE(past);
  EXPECT_NE(text_of(past.error()).find("WAL record 601"), std::string::npos);
  // Dense asks are served by iterating, sparse ones by look-ups: both
  // answer alike.
  std::vector<uint64_t> dense;
  for (uint64_t i = 100; i <= 600; i += 2)
    dense.push_back(i);
  auto every_other = store->read_wal(dense);
  ASSERT_TRUE(every_other) << text_of(every_other.error());
  ASSERT_EQ(every_other->size(), dense.size());
  for (size_t i = 0; i < dense.size(); ++i)
    EXPECT_EQ((*every_other)[i], "r" + std::to_string(dense[i]));
  dense.insert(dense.begin(), 99); // truncated
  auto dense_gone = store->read_wal(dense);
  ASSERT_FALSE(dense_gone);
  EXPECT_NE(text_of(dense_gone.error()).find("WAL record 99 is missing"),
            std::string::npos);
  auto dense_past = store->read_wal({598, 599, 600, 601});
  ASSERT_FALSE(dense_past);
  EXPECT_NE(text_of(dense_past.error()).find("WAL record 601 is missing"),
            std::string::npos);
}

TEST_F(rocksdb_storage_test, replay_stops_at_the_first_error) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->append({"a", "b", "c"}));
  std::vector<uint64_t> seen;
  auto err = store->replay(0, [&](uint64_t seq, std::string_view) {
    seen.push_back(seq);
    if (seq == 2)
      return make_error(errc::corrupt_data, "wal", "bad record");
    return caf::error{};
  });
  EXPECT_EQ(code_of(err), errc::corrupt_data);
  EXPECT_EQ(text_of(err), "bad record");
  EXPECT_EQ(seen, (std::vector<uint64_t>{1, 2}));
}

TEST_F(rocksdb_storage_test, empty_append_writes_nothing) {
  auto store = open();
  ASSERT_TRUE(store);
  auto seq = store->append({});
  ASSERT_TRUE(seq);
  EXPECT_EQ(*seq, 1u);
  EXPECT_EQ(store->last_sequence(), 0u);
  auto next = store->append({"a"});
  ASSERT_TRUE(next);
  EXPECT_EQ(*next, 1u);
}

TEST_F(rocksdb_storage_test, survives_close_and_reopen) {
  {
    auto store = open();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->append({"a", "b"}));
    ASSERT_TRUE(store->append({"c"}));
    ASSERT_FALSE(store->put_meta("node_id", "n1"));
  }
  {
    auto store = open();
    ASSERT_TRUE(store);
    EXPECT_EQ(store->last_sequence(), 3u);
    EXPECT_EQ(read_all(*store), (wal_entries{{1, "a"}, {2, "b"}, {3, "c"}}));
    auto node = store->get_meta("node_id");
    ASSERT_TRUE(node);
    EXPECT_EQ(*node, std::optional<std::string>{"n1"});
    auto seq = store->append({"d"});
    ASSERT_TRUE(seq);
    EXPECT_EQ(*seq, 4u);
  }
  auto store = open();
  ASSERT_TRUE(store);
  EXPECT_EQ(store->last_sequence(), 4u);
  EXPECT_EQ(read_all(*store, 4), (wal_entries{{4, "d"}}));
}

TEST_F(rocksdb_storage_test, payloads_are_stored_and_deleted_with_records) {
  {
    auto store = open();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->append_with_payloads(
      {"a"}, {{"t/e1", "p1", false}, {"t/e2", "p2", false}}));
    ASSERT_TRUE(store->append_with_payloads({"b"}, {{"t/e1", "", true}}));
  }
  auto store = open();
  ASSERT_TRUE(store);
  EXPECT_EQ(*store->get_payload("t/e1"), std::nullopt);
  EXPECT_EQ(*store->get_payload("t/e2"), std::optional<std::string>{"p2"});
  EXPECT_EQ(read_all(*store), (wal_entries{{1, "a"}, {2, "b"}}));
}

TEST_F(rocksdb_storage_test, meta_round_trip) {
  auto store = open();
  ASSERT_TRUE(store);
  auto absent = store->get_meta("node_id");
  ASSERT_TRUE(absent);
  EXPECT_EQ(*absent, std::nullopt);
  ASSERT_FALSE(store->put_meta("node_id", "n1"));
  ASSERT_FALSE(store->put_meta("node_id", std::string("n\0\xFF", 3)));
  auto present = store->get_meta("node_id");
  ASSERT_TRUE(present);
  EXPECT_EQ(*present, std::optional<std::string>{std::string("n\0\xFF", 3)});
  EXPECT_EQ(store->last_sequence(), 0u); // meta is not part of the WAL
}

TEST_F(rocksdb_storage_test, refuses_a_foreign_directory_and_leaves_it) {
  fs::create_directory(dir_);
  write_file(fs::path{dir_} / "notes.txt", "precious");
  auto res = open_rocksdb_storage(dir_);
  ASSERT_FALSE(res);
  EXPECT_EQ(code_of(res.error()), errc::corrupt_data);
  EXPECT_EQ(text_of(res.error()),
            dir_ + " is not a webhook-ingress data directory (it holds other "
                   "files)");
  std::vector<fs::path> entries{fs::directory_iterator{dir_}, {}};
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].filename(), "notes.txt");
  EXPECT_EQ(read_file(entries[0]), "precious");
}

TEST_F(rocksdb_storage_test, refuses_a_directory_with_only_a_subdirectory) {
  fs::create_directories(fs::path{dir_} / "sub");
  auto res = open_rocksdb_storage(dir_);
  ASSERT_FALSE(res);
  EXPECT_EQ(code_of(res.error()), errc::corrupt_data);
  EXPECT_FALSE(fs::exists(fs::path{dir_} / "CURRENT"));
}

TEST_F(rocksdb_storage_test, refuses_a_bogus_current_file) {
  fs::create_directory(dir_);
  write_file(fs::path{dir_} / "CURRENT", "MANIFEST-000042\n");
  auto res = open_rocksdb_storage(dir_);
  ASSERT_FALSE(res);
  EXPECT_EQ(code_of(res.error()), errc::corrupt_data);
  EXPECT_NE(text_of(res.error()).find(dir_), std::string::npos)
    << text_of(res.error());
  EXPECT_EQ(read_file(fs::path{dir_} / "CURRENT"), "MANIFEST-000042\n");
}

TEST_F(rocksdb_storage_test, refuses_another_schema_version) {
  {
    auto store = open();
    ASSERT_TRUE(store);
    ASSERT_FALSE(store->put_meta("schema_version", "2"));
  }
  auto res = open_rocksdb_storage(dir_);
  ASSERT_FALSE(res);
  EXPECT_EQ(code_of(res.error()), errc::corrupt_data);
  EXPECT_EQ(text_of(res.error()),
            dir_ + " has schema version '2', this build reads version '1'");
}

TEST_F(rocksdb_storage_test, refuses_a_foreign_rocksdb) {
  // A RocksDB of some other program: only the default column family.
  {
    rocksdb::Options opts;
    opts.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(opts, dir_, &raw).ok());
    std::unique_ptr<rocksdb::DB> db{raw};
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions{}, "k", "v").ok());
    ASSERT_TRUE(db->Close().ok());
  }
  auto res = open_rocksdb_storage(dir_);
  ASSERT_FALSE(res);
  EXPECT_EQ(code_of(res.error()), errc::corrupt_data);
  EXPECT_EQ(text_of(res.error()),
            dir_ + " is not a webhook-ingress data directory (column family "
                   "'wal' is missing)");
}

TEST_F(rocksdb_storage_test, refuses_a_store_without_schema_version) {
  // Our column families, but no meta/schema_version.
  {
    rocksdb::DBOptions opts;
    opts.create_if_missing = true;
    opts.create_missing_column_families = true;
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (auto name : {"default", "wal", "snapshot", "payload", "meta"})
      cfs.emplace_back(name, rocksdb::ColumnFamilyOptions{});
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(opts, dir_, cfs, &handles, &raw).ok());
    std::unique_ptr<rocksdb::DB> db{raw};
    for (auto* h : handles)
      ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
    ASSERT_TRUE(db->Close().ok());
  }
  auto res = open_rocksdb_storage(dir_);
  ASSERT_FALSE(res);
  EXPECT_EQ(code_of(res.error()), errc::corrupt_data);
  EXPECT_EQ(text_of(res.error()),
            dir_ + " is not a webhook-ingress data directory (no schema "
                   "version)");
}

TEST_F(rocksdb_storage_test, refuses_a_path_that_is_a_file) {
  write_file(dir_, "not a directory");
  auto res = open_rocksdb_storage(dir_);
  ASSERT_FALSE(res);
  EXPECT_EQ(code_of(res.error()), errc::storage_unavailable);
  EXPECT_EQ(text_of(res.error()),
            "data directory " + dir_ + " exists but is not a directory");
  EXPECT_EQ(read_file(dir_), "not a directory");
}

TEST_F(rocksdb_storage_test, refuses_a_path_below_a_file) {
  write_file(dir_, "not a directory");
  auto below = dir_ + "/sub";
  auto res = open_rocksdb_storage(below);
  ASSERT_FALSE(res);
  EXPECT_EQ(code_of(res.error()), errc::storage_unavailable);
  EXPECT_EQ(text_of(res.error()),
            "cannot access data directory " + below + ": Not a directory");
}

TEST_F(rocksdb_storage_test, refuses_an_unwritable_directory) {
  if (::geteuid() == 0)
    GTEST_SKIP() << "root ignores permission bits";
  fs::create_directory(dir_);
  fs::permissions(dir_, fs::perms::owner_read | fs::perms::owner_exec);
  auto res = open_rocksdb_storage(dir_);
  fs::permissions(dir_, fs::perms::owner_all);
  ASSERT_FALSE(res);
  EXPECT_EQ(code_of(res.error()), errc::storage_unavailable);
  EXPECT_EQ(text_of(res.error())
              .rfind("data directory " + dir_ + " is not writable", 0),
            0u)
    << text_of(res.error());
}

TEST_F(rocksdb_storage_test, refuses_a_second_open_in_the_same_process) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->append({"a"}));
  auto res = open_rocksdb_storage(dir_);
  ASSERT_FALSE(res);
  EXPECT_EQ(code_of(res.error()), errc::storage_unavailable);
  EXPECT_EQ(text_of(res.error()),
            "data directory " + dir_ + " is in use by another process");
  // The first instance is unharmed.
  auto seq = store->append({"b"});
  ASSERT_TRUE(seq);
  EXPECT_EQ(*seq, 2u);
  store.reset();
  auto again = open(); // the lock is released on close
  ASSERT_TRUE(again);
  EXPECT_EQ(again->last_sequence(), 2u);
}

TEST_F(rocksdb_storage_test, refuses_a_directory_locked_by_another_process) {
  { ASSERT_TRUE(open()); } // create it here, so the helper only reopens
  int to_child[2];
  int from_child[2];
  ASSERT_EQ(::pipe2(to_child, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(from_child, O_CLOEXEC), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, to_child[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, from_child[1], STDOUT_FILENO);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e)
    env_strings.emplace_back(*e);
  env_strings.push_back(std::string{hold_env} + "=" + dir_);
  std::vector<char*> envp;
  for (auto& s : env_strings)
    envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string exe = fs::read_symlink("/proc/self/exe").string();
  char* argv[] = {exe.data(), nullptr};
  pid_t pid = 0;
  auto rc =
    ::posix_spawn(&pid, exe.c_str(), &actions, nullptr, argv, envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(to_child[0]);
  ::close(from_child[1]);
  ASSERT_EQ(rc, 0);
  std::string line;
  char c = 0;
  while (::read(from_child[0], &c, 1) == 1 && c != '\n')
    line += c;
  ::close(from_child[0]);
  EXPECT_EQ(line, "ready");
  auto res = open_rocksdb_storage(dir_);
  ::close(to_child[1]); // lets the helper exit
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ASSERT_FALSE(res);
  EXPECT_EQ(code_of(res.error()), errc::storage_unavailable);
  EXPECT_EQ(text_of(res.error()),
            "data directory " + dir_ + " is in use by another process");
  EXPECT_TRUE(open()); // free again once the helper is gone
}

// -- write faults -------------------------------------------------------------
//
// A real full disk (a small tmpfs, root only) and a real write error that
// RocksDB deems fatal (EFBIG from RLIMIT_FSIZE, the class of EIO and EROFS):
// writes fail with `storage_unavailable`, reads keep working, nothing of a
// failed batch is stored, and the store heals by itself once the disk does.

namespace {

/// Appends `records` until it succeeds, at most for 5 s (the store waits a
/// little between reopen attempts after a failure).
caf::expected<uint64_t>
append_until_ok(storage& store, const std::vector<std::string>& records) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{5};
  for (;;) {
    auto res = store.append(records);
    if (res || std::chrono::steady_clock::now() > deadline)
      return res;
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
}

/// Writes zeros to `path` until the filesystem is full; returns false (with
/// the reason in `why`) on any other error.
bool fill_disk(const fs::path& path, std::string& why) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    why = std::string{"open: "} + std::strerror(errno);
    return false;
  }
  std::vector<char> chunk(size_t{1} << 16, '\0');
  for (;;) {
    auto n = ::write(fd, chunk.data(), chunk.size());
    if (n > 0)
      continue;
    auto err = errno;
    ::close(fd);
    if (n < 0 && err == ENOSPC)
      return true;
    why = std::string{"write: "} + std::strerror(err);
    return false;
  }
}

/// A record larger than a page: it cannot fit into the unused tail of the
/// WAL file's last tmpfs page, so on a full tmpfs its write must fail.
std::string big_record(char c) {
  return std::string(size_t{64} << 10, c);
}

class rocksdb_storage_disk_full_test : public rocksdb_storage_test {
 protected:
  void SetUp() override {
    rocksdb_storage_test::SetUp();
    if (::geteuid() != 0)
      GTEST_SKIP() << "mounting a tmpfs needs root";
    mnt_ = root_ / "mnt";
    fs::create_directory(mnt_);
    // 8 MiB: RocksDB needs about 4.2 MiB (its MANIFEST is preallocated with
    // 4 MiB), and its 17.6 MiB WAL preallocation fails, so the WAL grows
    // page by page and meets the full disk at once.
    if (::mount("tmpfs", mnt_.c_str(), "tmpfs", 0, "size=8m") != 0)
      GTEST_SKIP() << "cannot mount a tmpfs: " << std::strerror(errno);
    mounted_ = true;
    dir_ = (mnt_ / "data").string();
    filler_ = mnt_ / "filler";
  }

  void TearDown() override {
    if (mounted_ && ::umount(mnt_.c_str()) != 0)
      ::umount2(mnt_.c_str(), MNT_DETACH);
    rocksdb_storage_test::TearDown();
  }

  /// Fills the tmpfs; fails the test if that does not work.
  void fill() {
    std::string why;
    ASSERT_TRUE(fill_disk(filler_, why)) << why;
  }

  void free_space() { fs::remove(filler_); }

  fs::path mnt_;
  fs::path filler_;
  bool mounted_ = false;
};

} // namespace

TEST_F(rocksdb_storage_disk_full_test, fails_writes_keeps_reads_and_heals) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->append({"a"}));
  ASSERT_FALSE(store->put_meta("node_id", "n1"));
  ASSERT_NO_FATAL_FAILURE(fill());
  auto started = std::chrono::steady_clock::now();
  auto failed = store->append({big_record('x')});
  ASSERT_FALSE(failed);
  EXPECT_EQ(code_of(failed.error()), errc::storage_unavailable);
  EXPECT_NE(text_of(failed.error()).find("No space"), std::string::npos)
    << text_of(failed.error());
  // Later writes fail as well, promptly, while the disk stays full.
  auto again = store->append({"b"});
  ASSERT_FALSE(again);
  EXPECT_EQ(code_of(again.error()), errc::storage_unavailable);
  EXPECT_EQ(code_of(store->put_meta("node_id", "n2")),
            errc::storage_unavailable);
  // Past the pause between reopen attempts: still no reopen on a full disk.
  std::this_thread::sleep_for(std::chrono::milliseconds{150});
  auto still_full = store->append({"b"});
  ASSERT_FALSE(still_full);
  EXPECT_EQ(code_of(still_full.error()), errc::storage_unavailable);
  EXPECT_NE(text_of(still_full.error()).find("(0 bytes free)"),
            std::string::npos)
    << text_of(still_full.error());
  EXPECT_LT(std::chrono::steady_clock::now() - started,
            std::chrono::seconds{5});
  // Nothing moved; reads still work.
  EXPECT_EQ(store->last_sequence(), 1u);
  EXPECT_EQ(read_all(*store), (wal_entries{{1, "a"}}));
  auto node = store->get_meta("node_id");
  ASSERT_TRUE(node) << text_of(node.error());
  EXPECT_EQ(*node, std::optional<std::string>{"n1"});
  // Space back: the next write succeeds with the next sequence number.
  free_space();
  auto healed = append_until_ok(*store, {"b"});
  ASSERT_TRUE(healed) << text_of(healed.error());
  EXPECT_EQ(*healed, 2u);
  // A second round right after the reopen, with empty memtables.
  ASSERT_NO_FATAL_FAILURE(fill());
  ASSERT_FALSE(store->append({big_record('y'), "c"}));
  free_space();
  auto healed2 = append_until_ok(*store, {"c"});
  ASSERT_TRUE(healed2) << text_of(healed2.error());
  EXPECT_EQ(*healed2, 3u);
  ASSERT_FALSE(store->put_meta("node_id", "n3"));
  EXPECT_EQ(read_all(*store), (wal_entries{{1, "a"}, {2, "b"}, {3, "c"}}));
  store.reset();
  // Everything acknowledged survived, nothing that failed is there.
  auto reopened = open();
  ASSERT_TRUE(reopened);
  EXPECT_EQ(reopened->last_sequence(), 3u);
  EXPECT_EQ(read_all(*reopened), (wal_entries{{1, "a"}, {2, "b"}, {3, "c"}}));
  auto node3 = reopened->get_meta("node_id");
  ASSERT_TRUE(node3);
  EXPECT_EQ(*node3, std::optional<std::string>{"n3"});
}

TEST_F(rocksdb_storage_disk_full_test, heals_when_full_right_after_open) {
  {
    auto store = open();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->append({"a", "b"}));
  }
  // Opening flushes the recovered WAL: every memtable is empty now, the case
  // in which RocksDB's own Resume() would keep the failed WAL writer.
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_NO_FATAL_FAILURE(fill());
  ASSERT_FALSE(store->append({big_record('x')}));
  free_space();
  auto healed = append_until_ok(*store, {"c"});
  ASSERT_TRUE(healed) << text_of(healed.error());
  EXPECT_EQ(*healed, 3u);
  auto next = store->append({"d"});
  ASSERT_TRUE(next) << text_of(next.error());
  EXPECT_EQ(*next, 4u);
  store.reset();
  auto reopened = open();
  ASSERT_TRUE(reopened);
  EXPECT_EQ(read_all(*reopened),
            (wal_entries{{1, "a"}, {2, "b"}, {3, "c"}, {4, "d"}}));
}

TEST_F(rocksdb_storage_disk_full_test, snapshot_and_truncate_fail_and_heal) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->append({"a", "b", "c"}));
  ASSERT_NO_FATAL_FAILURE(fill());
  EXPECT_EQ(code_of(store->put_snapshot("t1", 2, big_record('s'))),
            errc::storage_unavailable);
  EXPECT_EQ(store->first_sequence(), 1u);
  free_space();
  auto healed = append_until_ok(*store, {"d"});
  ASSERT_TRUE(healed) << text_of(healed.error());
  EXPECT_EQ(*healed, 4u);
  ASSERT_FALSE(store->put_snapshot("t1", 3, "state"));
  ASSERT_FALSE(store->truncate_wal(3));
  EXPECT_EQ(store->first_sequence(), 3u);
  EXPECT_EQ(read_all(*store), (wal_entries{{3, "c"}, {4, "d"}}));
}

namespace {

/// Sets RLIMIT_FSIZE of this process to 1 byte while alive, with SIGXFSZ
/// ignored: every write past the first byte of any file fails with EFBIG, an
/// I/O error RocksDB treats as fatal (like EIO or EROFS), not as "no space".
class file_size_limit {
 public:
  file_size_limit() {
    old_handler_ = std::signal(SIGXFSZ, SIG_IGN);
    ok_ = ::getrlimit(RLIMIT_FSIZE, &old_) == 0;
    rlimit tiny = old_;
    tiny.rlim_cur = 1;
    ok_ = ok_ && ::setrlimit(RLIMIT_FSIZE, &tiny) == 0;
  }

  ~file_size_limit() { lift(); }

  file_size_limit(const file_size_limit&) = delete;
  file_size_limit& operator=(const file_size_limit&) = delete;

  bool ok() const noexcept { return ok_; }

  /// Restores the old limit and signal handler (once).
  void lift() {
    if (lifted_)
      return;
    lifted_ = true;
    ::setrlimit(RLIMIT_FSIZE, &old_);
    std::signal(SIGXFSZ, old_handler_);
  }

 private:
  rlimit old_{};
  void (*old_handler_)(int) = SIG_DFL;
  bool ok_ = false;
  bool lifted_ = false;
};

} // namespace

TEST_F(rocksdb_storage_test, heals_after_a_fatal_write_error) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->append({"a"}));
  {
    file_size_limit limit;
    ASSERT_TRUE(limit.ok()) << std::strerror(errno);
    auto failed = store->append({"b"});
    // Read before lifting the limit: reads need no write.
    auto entries = read_all(*store);
    auto again = store->append({"b"});
    std::this_thread::sleep_for(std::chrono::milliseconds{150});
    auto still = store->append({"b"}); // a reopen attempt that fails
    limit.lift();
    ASSERT_FALSE(failed);
    EXPECT_EQ(code_of(failed.error()), errc::storage_unavailable);
    EXPECT_NE(text_of(failed.error()).find("File too large"), std::string::npos)
      << text_of(failed.error());
    EXPECT_EQ(entries, (wal_entries{{1, "a"}}));
    EXPECT_FALSE(again);
    EXPECT_FALSE(still);
  }
  EXPECT_EQ(store->last_sequence(), 1u);
  auto healed = append_until_ok(*store, {"b"});
  ASSERT_TRUE(healed) << text_of(healed.error());
  EXPECT_EQ(*healed, 2u);
  store.reset();
  auto reopened = open();
  ASSERT_TRUE(reopened);
  EXPECT_EQ(read_all(*reopened), (wal_entries{{1, "a"}, {2, "b"}}));
}

TEST_F(rocksdb_storage_test, refuses_a_garbage_manifest_and_leaves_it) {
  { ASSERT_TRUE(open()); }
  auto current = read_file(fs::path{dir_} / "CURRENT");
  ASSERT_FALSE(current.empty());
  auto manifest = fs::path{dir_} / current.substr(0, current.find('\n'));
  ASSERT_TRUE(fs::exists(manifest)) << manifest;
  write_file(manifest, std::string(4096, '\x5a'));
  std::vector<fs::path> before{fs::directory_iterator{dir_}, {}};
  auto res = open_rocksdb_storage(dir_);
  ASSERT_FALSE(res);
  EXPECT_EQ(code_of(res.error()), errc::corrupt_data);
  // RocksDB reads a garbage MANIFEST as one without our column families.
  EXPECT_EQ(text_of(res.error()).rfind(dir_ + " is not a ", 0), 0u)
    << text_of(res.error());
  std::vector<fs::path> after{fs::directory_iterator{dir_}, {}};
  std::sort(before.begin(), before.end());
  std::sort(after.begin(), after.end());
  EXPECT_EQ(after, before);
  EXPECT_EQ(read_file(manifest), std::string(4096, '\x5a'));
}
