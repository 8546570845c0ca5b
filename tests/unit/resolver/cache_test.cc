#include "resolver/cache.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "resolver/loader.h"
#include "tests/unit/resolver/package_util.h"
#include "webc/base/sha256.h"

namespace webcfs::resolver {
namespace {

using testing::PackageBuilder;
using testing::ReadHostFile;
using testing::TempDir;
using testing::WriteHostFile;

std::string Compress(const std::string& bytes) {
  std::string out(ZSTD_compressBound(bytes.size()), '\0');
  size_t n = ZSTD_compress(out.data(), out.size(), bytes.data(), bytes.size(), 3);
  EXPECT_FALSE(ZSTD_isError(n));
  out.resize(n);
  return out;
}

std::string HexOf(const std::string& bytes) { return webc::ToHex(webc::Sha256::Of(bytes)); }

TEST(CacheTest, ImportCopiesUnderTheHashReadOnly) {
  TempDir dir;
  std::string src = PackageBuilder("t/a", "1.0.0").Volume("/v", {{"f", "x"}}).WriteTo(dir / "reg");
  auto cache = ContentCache::Open((dir / "cache").string());
  ASSERT_TRUE(cache.ok()) << cache.error().message();
  auto entry = (*cache)->Import(src);
  ASSERT_TRUE(entry.ok()) << entry.error().message();
  std::string bytes = ReadHostFile(src);
  EXPECT_EQ(entry->sha256_hex, HexOf(bytes));
  EXPECT_EQ(entry->path, (*cache)->dir() + "/" + HexOf(bytes) + ".webc");
  EXPECT_EQ(ReadHostFile(entry->path), bytes);
  struct stat st;
  ASSERT_EQ(::stat(entry->path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0444u);
  EXPECT_NE(st.st_ino, [&] {
    struct stat s2;
    ::stat(src.c_str(), &s2);
    return s2.st_ino;
  }()) << "a private copy, not the registry file";

  // The registry file is rewritten: the cache entry is untouched.
  WriteHostFile(src, "overwritten");
  EXPECT_EQ(ReadHostFile(entry->path), bytes);
  auto found = (*cache)->Find(entry->sha256_hex);
  ASSERT_TRUE(found.ok()) << found.error().message();
  EXPECT_EQ(found->path, entry->path);
}

TEST(CacheTest, ZstdInputsAreDecompressedIntoTheCache) {
  TempDir dir;
  std::string plain =
      PackageBuilder("t/z", "1.0.0").Volume("/v", {{"f", "zz"}}).WriteTo(dir.path());
  std::string bytes = ReadHostFile(plain);
  std::filesystem::create_directories(dir / "reg");
  WriteHostFile(dir / "reg" / "t--z@1.0.0.webc.zst", Compress(bytes));
  auto is_zst = IsZstdFile((dir / "reg" / "t--z@1.0.0.webc.zst").string());
  ASSERT_TRUE(is_zst.ok());
  EXPECT_TRUE(*is_zst);
  auto cache = ContentCache::Open((dir / "cache").string());
  ASSERT_TRUE(cache.ok());
  auto entry = (*cache)->Import((dir / "reg" / "t--z@1.0.0.webc.zst").string());
  ASSERT_TRUE(entry.ok()) << entry.error().message();
  EXPECT_EQ(entry->sha256_hex, HexOf(bytes)) << "the hash is of the container, not the .zst";
  EXPECT_EQ(ReadHostFile(entry->path), bytes);
  auto hex = HashContainerFile((dir / "reg" / "t--z@1.0.0.webc.zst").string());
  ASSERT_TRUE(hex.ok());
  EXPECT_EQ(*hex, HexOf(bytes));
}

TEST(CacheTest, TruncatedZstdIsCorrupt) {
  TempDir dir;
  std::string plain = PackageBuilder("t/z", "1.0.0").WriteTo(dir.path());
  std::string z = Compress(ReadHostFile(plain));
  WriteHostFile(dir / "bad.webc.zst", z.substr(0, z.size() - 5));
  auto cache = ContentCache::Open((dir / "cache").string());
  ASSERT_TRUE(cache.ok());
  auto entry = (*cache)->Import((dir / "bad.webc.zst").string());
  ASSERT_FALSE(entry.ok());
  EXPECT_EQ(entry.error().code(), Error::Code::kCorrupt);
  EXPECT_NE(entry.error().message().find("bad.webc.zst"), std::string::npos);
  // No temp files are left behind.
  for (const auto& e : std::filesystem::directory_iterator(dir / "cache")) {
    ADD_FAILURE() << "left in cache: " << e.path();
  }
}

TEST(CacheTest, EntryWhoseContentDisagreesWithItsNameIsNotTrusted) {
  TempDir dir;
  std::string src = PackageBuilder("t/a", "1.0.0").WriteTo(dir / "reg");
  auto cache = ContentCache::Open((dir / "cache").string());
  ASSERT_TRUE(cache.ok());
  auto entry = (*cache)->Import(src);
  ASSERT_TRUE(entry.ok());
  // Someone damages the cache entry (a new file under the same name).
  std::string path = entry->path;
  std::filesystem::remove(path);
  WriteHostFile(path, "tampered");
  auto found = (*cache)->Find(entry->sha256_hex);
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(found.error().code(), Error::Code::kIntegrity);
  EXPECT_NE(found.error().message().find(path), std::string::npos);
  // Importing again repairs it.
  auto again = (*cache)->Import(src);
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_EQ(ReadHostFile(again->path), ReadHostFile(src));
  EXPECT_TRUE((*cache)->Find(entry->sha256_hex).ok());
}

// An eager open that accepts a cache entry is recorded per file version; the
// next load of the same version opens it lazily (webc::OpenOptions::
// lazy_directories), and any change to the file, --verify or a rehashing
// cache goes back to an eager open.
TEST(CacheTest, AcceptedEntriesAreOpenedLazilyNextTime) {
  TempDir dir;
  std::string src =
      PackageBuilder("t/a", "1.0.0").Volume("/v", {{"d/f", "x"}, {"g", "yy"}}).WriteTo(dir / "reg");
  auto cache = ContentCache::Open((dir / "cache").string());
  ASSERT_TRUE(cache.ok()) << cache.error().message();
  LoadContext context;
  context.cache = cache->get();
  auto lazy_now = [&](const LoadContext& ctx) {
    auto loaded = LoadPackage(src, ctx);
    EXPECT_TRUE(loaded.ok()) << loaded.error().message();
    if (!loaded) return false;
    const webc::Volume* v = loaded->container->FindVolume("/v");
    EXPECT_NE(v, nullptr);
    if (v == nullptr) return false;
    EXPECT_NE(v->Lookup("/d/f"), nullptr);  // the same tree either way
    EXPECT_EQ(v->Lookup("/g")->size, 2u);
    return v->lazy();
  };
  const std::string hex = HexOf(ReadHostFile(src));
  const std::string entry = (*cache)->dir() + "/" + hex + ".webc";
  auto accepted = [&](const ContentCache& c) {
    auto found = c.Find(hex);
    EXPECT_TRUE(found.ok()) << found.error().message();
    return found ? found->accepted : std::nullopt;
  };
  EXPECT_FALSE((*cache)->Find(hex).ok());  // not imported yet
  EXPECT_FALSE(lazy_now(context));         // first open: eager, then recorded
  auto copies = accepted(**cache);
  ASSERT_TRUE(copies.has_value());
  EXPECT_FALSE(copies->empty());  // the start-up reads of a lazy open
  EXPECT_TRUE(lazy_now(context));

  // A record whose copies do not decode is no record: the next open is eager
  // and records them anew.
  const std::string record = (*cache)->dir() + "/accepted/" + hex;
  std::string text = ReadHostFile(record);
  ASSERT_GT(text.size(), text.find('\n') + 1);
  ASSERT_EQ(::chmod(record.c_str(), 0644), 0);
  WriteHostFile(record, text.substr(0, text.size() - 1));
  ASSERT_EQ(::chmod(record.c_str(), 0444), 0);
  EXPECT_FALSE(accepted(**cache).has_value());
  EXPECT_FALSE(lazy_now(context));
  EXPECT_TRUE(accepted(**cache).has_value());

  LoadContext verifying = context;
  verifying.open_options.verify = true;
  EXPECT_FALSE(lazy_now(verifying));

  auto rehashing = ContentCache::Open((dir / "cache").string(), /*rehash=*/true);
  ASSERT_TRUE(rehashing.ok());
  EXPECT_FALSE(accepted(**rehashing).has_value());

  // A new version of the file (its ctime moves; past the coarse clock's tick)
  // is not the one accepted.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_EQ(::chmod(entry.c_str(), 0444), 0);
  EXPECT_FALSE(accepted(**cache).has_value());
}

// The files a cache directory holds at its top (entries, temp files), sorted;
// records live in subdirectories.
std::vector<std::string> FilesIn(const std::filesystem::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (!e.is_directory()) out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(CacheTest, ImportKeepsNoCopyItsCheckRefuses) {
  TempDir dir;
  std::string src = PackageBuilder("t/a", "1.0.0").Volume("/v", {{"f", "x"}}).WriteTo(dir / "reg");
  auto cache = ContentCache::Open((dir / "cache").string());
  ASSERT_TRUE(cache.ok()) << cache.error().message();
  const std::string entry = (*cache)->dir() + "/" + HexOf(ReadHostFile(src)) + ".webc";
  std::string checked_name;
  auto refuse = [&](std::shared_ptr<const webc::ByteSource> copy) -> Result<void> {
    checked_name = copy->name();
    EXPECT_EQ(copy->size(), ReadHostFile(src).size());
    return Error::Corrupt("refused by the check");
  };
  auto refused = (*cache)->Import(src, kMaxDecompressedSize, refuse);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message(), "refused by the check");
  EXPECT_EQ(checked_name, entry) << "the copy is named as its entry will be";
  EXPECT_EQ(FilesIn(dir / "cache"), std::vector<std::string>{});

  auto accept = [](std::shared_ptr<const webc::ByteSource>) -> Result<void> { return Ok(); };
  auto accepted = (*cache)->Import(src, kMaxDecompressedSize, accept);
  ASSERT_TRUE(accepted.ok()) << accepted.error().message();
  EXPECT_EQ(accepted->path, entry);
  EXPECT_EQ(ReadHostFile(entry), ReadHostFile(src));
}

// A registry file that is no container (cut short while it is being written,
// or not one at all) leaves no copy in the cache, however often it is loaded
// and at whatever size: each copy is opened before it is renamed into place
// and removed when that fails. The complete file is then kept once.
TEST(CacheTest, InvalidContainersLeaveNothingInTheCache) {
  TempDir dir;
  std::string src = PackageBuilder("t/a", "1.0.0")
                        .Volume("/v", {{"big", std::string(200000, 'x')}, {"small", "y"}})
                        .WriteTo(dir / "reg");
  const std::string whole = ReadHostFile(src);
  auto cache = ContentCache::Open((dir / "cache").string());
  ASSERT_TRUE(cache.ok()) << cache.error().message();
  LoadContext context;
  context.cache = cache->get();
  const std::vector<std::string> bad = {whole.substr(0, whole.size() / 4),
                                        whole.substr(0, whole.size() / 2),
                                        whole.substr(0, whole.size() - 1), "not a container",
                                        Compress(whole.substr(0, whole.size() / 2))};
  for (const std::string& bytes : bad) {
    WriteHostFile(src, bytes);
    auto loaded = LoadPackage(src, context);
    ASSERT_FALSE(loaded.ok()) << bytes.size() << " bytes were accepted";
    EXPECT_EQ(loaded.error().message().rfind(src + ": ", 0), 0u) << loaded.error().message();
    EXPECT_EQ(FilesIn(dir / "cache"), std::vector<std::string>{}) << bytes.size() << " bytes";
  }

  WriteHostFile(src, whole);
  auto loaded = LoadPackage(src, context);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message();
  ASSERT_NE(loaded->container, nullptr);
  EXPECT_NE(loaded->container->FindVolume("/v")->Lookup("/small"), nullptr);
  EXPECT_EQ(FilesIn(dir / "cache"), std::vector<std::string>{HexOf(whole) + ".webc"});
  EXPECT_EQ(loaded->container_path, (*cache)->dir() + "/" + HexOf(whole) + ".webc");
  auto found = (*cache)->Find(HexOf(whole));
  ASSERT_TRUE(found.ok()) << found.error().message();
  EXPECT_TRUE(found->accepted.has_value()) << "the first open is recorded as accepted";
}

TEST(CacheTest, OpenRemovesOnlyStaleTempFiles) {
  TempDir dir;
  std::filesystem::create_directories(dir / "c");
  WriteHostFile(dir / "c" / ".tmp-old", "left by a crash");
  WriteHostFile(dir / "c" / ".tmp-new", "an import in progress");
  std::filesystem::last_write_time(
      dir / "c" / ".tmp-old",
      std::filesystem::file_time_type::clock::now() - std::chrono::hours(48));
  auto cache = ContentCache::Open((dir / "c").string());
  ASSERT_TRUE(cache.ok());
  EXPECT_FALSE(std::filesystem::exists(dir / "c" / ".tmp-old"));
  EXPECT_TRUE(std::filesystem::exists(dir / "c" / ".tmp-new"));
}

TEST(CacheTest, FindAbsentIsNotFound) {
  TempDir dir;
  auto cache = ContentCache::Open((dir / "c").string());
  ASSERT_TRUE(cache.ok());
  auto found = (*cache)->Find(std::string(64, 'a'));
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(found.error().code(), Error::Code::kNotFound);
  EXPECT_FALSE((*cache)->Find("not-hex").ok());
}

TEST(CacheTest, OpenFailsOnAFile) {
  TempDir dir;
  WriteHostFile(dir / "file", "x");
  auto cache = ContentCache::Open((dir / "file").string());
  ASSERT_FALSE(cache.ok());
}

TEST(CacheTest, DefaultDirectory) {
  const char* old_xdg = std::getenv("XDG_CACHE_HOME");
  std::string saved = old_xdg ? old_xdg : "";
  ::setenv("XDG_CACHE_HOME", "/xdg/cache", 1);
  EXPECT_EQ(DefaultCacheDir(), "/xdg/cache/webcfs");
  ::unsetenv("XDG_CACHE_HOME");
  if (::geteuid() == 0) {
    EXPECT_EQ(DefaultCacheDir(), "/var/cache/webcfs");
  } else {
    EXPECT_EQ(DefaultCacheDir(), std::string(std::getenv("HOME")) + "/.cache/webcfs");
  }
  if (old_xdg) ::setenv("XDG_CACHE_HOME", saved.c_str(), 1);
}

TEST(LoaderTest, ParallelForRunsEveryIndexAndReportsTheLowestFailure) {
  for (unsigned workers : {1u, 2u, 8u}) {
    std::vector<int> hits(100, 0);
    auto r = ParallelFor(hits.size(), workers, [&](size_t i) -> Result<void> {
      hits[i]++;
      if (i == 70 || i == 30) return Error::Corrupt("bad " + std::to_string(i));
      return Ok();
    });
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message(), "bad 30");
    for (int h : hits) EXPECT_EQ(h, 1);
  }
  EXPECT_TRUE(ParallelFor(0, 4, [](size_t) -> Result<void> { return Ok(); }).ok());
}

// Sets the mtime of `path` to `age` ago.
void Age(const std::string& path, std::chrono::seconds age) {
  const auto when = std::chrono::system_clock::now() - age;
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(when.time_since_epoch());
  struct timespec times[2];
  times[0].tv_sec = times[1].tv_sec = ns.count() / 1'000'000'000;
  times[0].tv_nsec = times[1].tv_nsec = ns.count() % 1'000'000'000;
  EXPECT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0) << path;
}

// Stores `bytes` as an entry and dates its last use `age` ago.
std::string StoreAged(const ContentCache& cache, const std::string& bytes,
                      std::chrono::seconds age) {
  const std::string hex = HexOf(bytes);
  auto entry =
      cache.Store(hex, [&](EntryWriter& w) { return w.Write(std::as_bytes(std::span(bytes))); });
  EXPECT_TRUE(entry.ok()) << entry.error().message();
  EXPECT_TRUE(cache.Lease(hex).ok());  // taken and released: the lease file exists
  Age(cache.dir() + "/leases/" + hex, age);
  return hex;
}

bool Exists(const std::string& path) { return std::filesystem::exists(path); }

// Bytes `path` takes on disk.
uint64_t Allocated(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

constexpr uint64_t kPartialLength = 64 << 20;

// A partial entry of a lazy mount (resolver/lazy_source.h) named after
// `seed`: a sparse data file of kPartialLength bytes holding 8 KiB of fetched
// bytes, and a state file, both last used `age` ago.
std::string MakePartialAged(const ContentCache& cache, const std::string& seed,
                            std::chrono::seconds age) {
  const std::string hex = HexOf(seed);
  const std::string base = PartialEntryBase(cache.dir(), hex);
  std::filesystem::create_directories(cache.dir() + "/" + kPartialDir);
  int fd = ::open((base + ".webc").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  EXPECT_GE(fd, 0);
  const std::string fetched(8192, 'f');
  EXPECT_EQ(::ftruncate(fd, kPartialLength), 0);
  EXPECT_EQ(::pwrite(fd, fetched.data(), fetched.size(), 1 << 20), 8192);
  ::close(fd);
  WriteHostFile(base + ".state", "webcfs-lazy 1\nsize " + std::to_string(kPartialLength) +
                                     "\nheader 0-4096\nfiles 1 8\n");
  Age(base + ".webc", age);
  Age(base + ".state", age);
  return hex;
}

uint64_t PartialSize(const ContentCache& cache, const std::string& hex) {
  const std::string base = PartialEntryBase(cache.dir(), hex);
  return Allocated(base + ".webc") + Allocated(base + ".state");
}

bool PartialExists(const ContentCache& cache, const std::string& hex) {
  const std::string base = PartialEntryBase(cache.dir(), hex);
  return Exists(base + ".webc") || Exists(base + ".state");
}

TEST(CacheTest, EvictRemovesLeastRecentlyUsedEntriesAndTheirRecords) {
  TempDir dir;
  auto cache = ContentCache::Open((dir / "cache").string());
  ASSERT_TRUE(cache.ok()) << cache.error().message();
  const ContentCache& c = **cache;
  const std::string oldest = StoreAged(c, std::string(100, 'a'), std::chrono::seconds(300));
  const std::string newest = StoreAged(c, std::string(100, 'b'), std::chrono::seconds(100));
  const std::string middle = StoreAged(c, std::string(100, 'c'), std::chrono::seconds(200));

  auto evicted = c.Evict(250);
  ASSERT_TRUE(evicted.ok()) << evicted.error().message();
  EXPECT_EQ(evicted->bytes_before, 300u);
  EXPECT_EQ(evicted->bytes_after, 200u);
  EXPECT_EQ(evicted->evicted, 1u);
  EXPECT_FALSE(Exists(c.dir() + "/" + oldest + ".webc"));
  EXPECT_FALSE(Exists(c.dir() + "/verified/" + oldest));
  EXPECT_FALSE(Exists(c.dir() + "/leases/" + oldest));
  EXPECT_TRUE(Exists(c.dir() + "/" + middle + ".webc"));

  ASSERT_TRUE(c.Evict(100).ok());
  EXPECT_FALSE(Exists(c.dir() + "/" + middle + ".webc"));
  EXPECT_TRUE(c.Find(newest).ok());
  EXPECT_EQ(c.Find(oldest).error().code(), Error::Code::kNotFound);
}

TEST(CacheTest, EvictNeverRemovesALeasedEntry) {
  TempDir dir;
  auto cache = ContentCache::Open((dir / "cache").string());
  ASSERT_TRUE(cache.ok()) << cache.error().message();
  const ContentCache& c = **cache;
  const std::string served = StoreAged(c, std::string(100, 'a'), std::chrono::seconds(300));
  const std::string unused = StoreAged(c, std::string(100, 'b'), std::chrono::seconds(100));
  auto lease = c.Lease(served);
  ASSERT_TRUE(lease.ok()) << lease.error().message();

  auto evicted = c.Evict(0);
  ASSERT_TRUE(evicted.ok()) << evicted.error().message();
  EXPECT_EQ(evicted->evicted, 1u);
  EXPECT_EQ(evicted->busy, 1u);
  EXPECT_EQ(evicted->bytes_after, 100u);
  EXPECT_TRUE(c.Find(served).ok());
  EXPECT_FALSE(Exists(c.dir() + "/" + unused + ".webc"));

  lease->reset();  // released: now it can go
  ASSERT_TRUE(c.Evict(0).ok());
  EXPECT_FALSE(Exists(c.dir() + "/" + served + ".webc"));
}

TEST(CacheTest, EvictCountsPartialEntriesByTheirBlocksInLeastRecentlyUsedOrder) {
  TempDir dir;
  auto cache = ContentCache::Open((dir / "cache").string());
  ASSERT_TRUE(cache.ok()) << cache.error().message();
  const ContentCache& c = **cache;
  const std::string oldest = MakePartialAged(c, "oldest", std::chrono::seconds(300));
  const std::string whole = StoreAged(c, std::string(100, 'w'), std::chrono::seconds(200));
  const std::string newest = MakePartialAged(c, "newest", std::chrono::seconds(100));
  const uint64_t oldest_size = PartialSize(c, oldest);
  const uint64_t newest_size = PartialSize(c, newest);
  ASSERT_GE(oldest_size, 8192u);
  ASSERT_LT(oldest_size, kPartialLength) << "sparse: the bytes fetched, not the length";

  auto evicted = c.Evict(oldest_size + 100 + newest_size - 1);
  ASSERT_TRUE(evicted.ok()) << evicted.error().message();
  EXPECT_EQ(evicted->bytes_before, oldest_size + 100 + newest_size);
  EXPECT_EQ(evicted->bytes_after, 100 + newest_size);
  EXPECT_EQ(evicted->evicted, 1u);
  EXPECT_FALSE(PartialExists(c, oldest));
  EXPECT_TRUE(c.Find(whole).ok());
  EXPECT_EQ(PartialSize(c, newest), newest_size);

  // Whole and partial entries in one order: the whole one was used before.
  evicted = c.Evict(newest_size);
  ASSERT_TRUE(evicted.ok()) << evicted.error().message();
  EXPECT_EQ(evicted->evicted, 1u);
  EXPECT_EQ(c.Find(whole).error().code(), Error::Code::kNotFound);
  EXPECT_EQ(PartialSize(c, newest), newest_size);
}

TEST(CacheTest, EvictNeverRemovesAPartialEntryAMountOwns) {
  TempDir dir;
  auto cache = ContentCache::Open((dir / "cache").string());
  ASSERT_TRUE(cache.ok()) << cache.error().message();
  const ContentCache& c = **cache;
  const std::string owned = MakePartialAged(c, "owned", std::chrono::seconds(300));
  const std::string unused = MakePartialAged(c, "unused", std::chrono::seconds(100));
  // What a lazy mount holds while it serves the entry (lazy_source.cc).
  const std::string data = PartialEntryBase(c.dir(), owned) + ".webc";
  int mount = ::open(data.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(mount, 0);
  ASSERT_EQ(::flock(mount, LOCK_EX | LOCK_NB), 0);
  struct stat before;
  ASSERT_EQ(::fstat(mount, &before), 0);

  auto evicted = c.Evict(0);
  ASSERT_TRUE(evicted.ok()) << evicted.error().message();
  EXPECT_EQ(evicted->evicted, 1u);
  EXPECT_EQ(evicted->busy, 1u);
  EXPECT_EQ(evicted->bytes_after, PartialSize(c, owned));
  EXPECT_FALSE(PartialExists(c, unused));
  struct stat after;
  ASSERT_EQ(::stat(data.c_str(), &after), 0);
  EXPECT_EQ(after.st_ino, before.st_ino);
  EXPECT_EQ(after.st_size, static_cast<off_t>(kPartialLength));
  EXPECT_TRUE(Exists(PartialEntryBase(c.dir(), owned) + ".state"));

  ::close(mount);  // the mount lets go: now it can go
  evicted = c.Evict(0);
  ASSERT_TRUE(evicted.ok()) << evicted.error().message();
  EXPECT_EQ(evicted->evicted, 1u);
  EXPECT_FALSE(PartialExists(c, owned));
}

TEST(CacheTest, EvictDropsSourceRecordsOfEvictedEntriesAndImportCopiesAgain) {
  TempDir dir;
  std::string src = PackageBuilder("t/a", "1.0.0").Volume("/v", {{"f", "x"}}).WriteTo(dir / "reg");
  auto cache = ContentCache::Open((dir / "cache").string());
  ASSERT_TRUE(cache.ok()) << cache.error().message();
  auto first = (*cache)->Import(src);
  ASSERT_TRUE(first.ok()) << first.error().message();
  ASSERT_FALSE(std::filesystem::is_empty((*cache)->dir() + "/sources"));
  ASSERT_TRUE((*cache)->Evict(0).ok());
  EXPECT_FALSE(Exists(first->path));
  EXPECT_TRUE(std::filesystem::is_empty((*cache)->dir() + "/sources"));
  auto again = (*cache)->Import(src);
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_EQ(ReadHostFile(again->path), ReadHostFile(src));
}

}  // namespace
}  // namespace webcfs::resolver
