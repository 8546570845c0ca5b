// OpenOptions::lazy_directories: a lazily opened container shows exactly the
// tree an eager open shows (every fixture, every field), from any number of
// threads at once, and a damaged container gives errors while it is walked,
// never a crash.
#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "tests/common/package_builder.h"
#include "tests/unit/webc/webc_test_util.h"
#include "webc/container.h"

namespace webcfs::webc {
namespace {

using namespace webcfs::webc::testing;

// Everything a reader of an entry can see, by volume path.
using EntryFields = std::tuple<bool, uint64_t, uint64_t, uint64_t, uint64_t>;
using TreeFields = std::map<std::string, EntryFields>;

Result<TreeFields> Fields(const Volume& v) {
  TreeFields out;
  WEBCFS_RETURN_IF_ERROR(WalkVolume(v, [&](const Entry& e, std::string_view path) -> Result<void> {
    out[std::string(path)] = {e.is_dir(), e.size, e.data_offset(), e.mtime, e.hash_offset};
    return Ok();
  }));
  return out;
}

std::unique_ptr<Container> Open(const std::string& path, bool lazy, bool verify = false) {
  OpenOptions options;
  options.lazy_directories = lazy;
  options.verify = verify;
  auto c = Container::OpenFile(path, options);
  EXPECT_TRUE(c.ok()) << c.error().message();
  return c ? std::move(*c) : nullptr;
}

TEST(LazyVolumeTest, EveryFixtureShowsTheSameTreeAsAnEagerOpen) {
  int lazy_volumes = 0;
  for (const std::string& name : FixtureNames()) {
    SCOPED_TRACE(name);
    auto eager = Open(FixturePath(name), false);
    auto lazy = Open(FixturePath(name), true);
    ASSERT_NE(eager, nullptr);
    ASSERT_NE(lazy, nullptr);
    ASSERT_EQ(eager->volumes().size(), lazy->volumes().size());
    EXPECT_FALSE(lazy->atoms().lazy());  // atoms are few: always decoded at once
    for (size_t i = 0; i < eager->volumes().size(); ++i) {
      const Volume& lv = lazy->volumes()[i];
      // v1 has no per-directory records to read later: always eager.
      EXPECT_EQ(lv.lazy(), lazy->version() != Version::kV1);
      lazy_volumes += lv.lazy() ? 1 : 0;
      auto want = Fields(eager->volumes()[i]);
      auto got = Fields(lv);
      ASSERT_OK(want);
      ASSERT_OK(got);
      EXPECT_EQ(*got, *want) << "volume " << lv.name();
      EXPECT_TRUE(lv.sorted());
      for (const auto& [path, fields] : *want) {
        const Entry* e = lv.Lookup(path);
        ASSERT_NE(e, nullptr) << path;
        EXPECT_EQ(e->size, std::get<1>(fields)) << path;
      }
    }
  }
  EXPECT_GT(lazy_volumes, 0);
}

TEST(LazyVolumeTest, OnlyWhatIsAskedForIsListed) {
  webcfs::testing::TempDir dir("webcfs-lazy");
  std::map<std::string, WriteNode> top;
  for (int d = 0; d < 20; ++d) {
    top["d" + std::to_string(d)] =
        webcfs::testing::Dir({{"f", webcfs::testing::File("x")},
                              {"sub", webcfs::testing::Dir({{"g", webcfs::testing::File("y")}})}});
  }
  ASSERT_OK(WriteOneVolume(dir / "p.webc", std::move(top)));
  auto c = Open(dir / "p.webc", true);
  ASSERT_NE(c, nullptr);
  const Volume& v = *c->FindVolume("/v");
  EXPECT_EQ(v.entries().size(), 1u);  // the root, not listed yet
  EXPECT_FALSE(v.root().listed());
  EXPECT_EQ(v.root().child_count(), 0u);  // an unlisted directory has no range yet
  const Entry* g = v.Lookup("/d7/sub/g");
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->size, 1u);
  // The root's 20 children, d7's two and d7/sub's one.
  EXPECT_EQ(v.entries().size(), 1u + 20u + 2u + 1u);
  EXPECT_TRUE(v.Find(v.root(), "d3")->is_dir());
  EXPECT_FALSE(v.Find(v.root(), "d3")->listed());
  EXPECT_LE(v.max_entries(), 200u);  // bounded by the header's size
}

TEST(LazyVolumeTest, ThreadsListingAtOnceSeeOneTree) {
  webcfs::testing::TempDir dir("webcfs-lazy");
  std::map<std::string, WriteNode> top;
  for (int d = 0; d < 40; ++d) {
    std::map<std::string, WriteNode> files;
    for (int f = 0; f < 40; ++f) files["f" + std::to_string(f)] = webcfs::testing::File("z");
    files["inner"] = webcfs::testing::Dir({{"leaf", webcfs::testing::File("leaf")}});
    top["d" + std::to_string(d)] = webcfs::testing::Dir(std::move(files));
  }
  ASSERT_OK(WriteOneVolume(dir / "p.webc", std::move(top)));
  auto eager = Open(dir / "p.webc", false);
  auto want = Fields(*eager->FindVolume("/v"));
  ASSERT_OK(want);
  for (int round = 0; round < 5; ++round) {
    auto lazy = Open(dir / "p.webc", true);
    const Volume& v = *lazy->FindVolume("/v");
    std::vector<TreeFields> seen(4);
    std::vector<std::thread> threads;
    for (size_t t = 0; t < seen.size(); ++t) {
      threads.emplace_back([&, t] {
        auto got = Fields(v);
        if (got) seen[t] = std::move(*got);
      });
    }
    for (auto& t : threads) t.join();
    for (const TreeFields& got : seen) EXPECT_EQ(got, *want);
    EXPECT_EQ(v.entries().size(), eager->FindVolume("/v")->entries().size());
  }
}

// A wide directory whose children's records lie far apart (each is followed
// by its subtree, as Wasmer writes them) is read one record at a time; the
// listing is the eager one all the same.
TEST(LazyVolumeTest, WideDirectoryOfScatteredRecords) {
  webcfs::testing::TempDir dir("webcfs-lazy");
  ASSERT_OK(WriteOneVolume(dir / "p.webc", WideScatteredTree()));
  auto eager = Open(dir / "p.webc", false);
  auto lazy = Open(dir / "p.webc", true);
  const Volume& ev = *eager->FindVolume("/v");
  const Volume& lv = *lazy->FindVolume("/v");
  auto want = ev.ListChildren(ev.root());
  auto got = lv.ListChildren(lv.root());
  ASSERT_OK(want);
  ASSERT_OK(got);
  ASSERT_EQ(got->size(), 600u);
  // The records span more than one read window (1 MiB).
  EXPECT_GT(got->back().hash_offset - got->front().hash_offset, uint64_t{1} << 20);
  for (size_t i = 0; i < want->size(); ++i) {
    const Entry& w = (*want)[i];
    const Entry& g = (*got)[i];
    EXPECT_EQ(lv.NameOf(g), ev.NameOf(w));
    EXPECT_EQ(g.is_dir(), w.is_dir());
    EXPECT_EQ(g.size, w.size);
    EXPECT_EQ(g.data_offset(), w.data_offset());
    EXPECT_EQ(g.mtime, w.mtime);
    EXPECT_EQ(g.hash_offset, w.hash_offset);
  }
  auto all = Fields(lv);
  ASSERT_OK(all);
  EXPECT_EQ(all->size(), 300u * 41u + 300u);
}

TEST(LazyVolumeTest, VerifyAlwaysOpensEagerly) {
  for (const std::string& name : FixtureNames()) {
    auto c = Open(FixturePath(name), true, /*verify=*/true);
    if (c == nullptr) continue;  // fixtures whose checksums do not verify are covered elsewhere
    for (const Volume& v : c->volumes()) EXPECT_FALSE(v.lazy()) << name;
  }
}

// Lazily opened bytes skip the whole-tree checks, so damage shows up while
// walking: every flipped byte must give an error or a tree, never a crash
// (ASan and UBSan builds run this too).
TEST(LazyVolumeTest, DamagedBytesGiveErrorsWhileWalking) {
  int opened = 0;
  int walk_errors = 0;
  for (const std::string& name : FixtureNames()) {
    const std::string bytes = ReadHostFile(FixturePath(name));
    std::mt19937 rng(1234);
    for (int round = 0; round < 200; ++round) {
      std::string damaged = bytes;
      const size_t at = rng() % damaged.size();
      damaged[at] = static_cast<char>(damaged[at] ^ (1 + rng() % 255));
      OpenOptions options;
      options.lazy_directories = true;
      auto c = Container::Open(MemorySource(damaged, name), options);
      if (!c) continue;
      ++opened;
      for (const Volume& v : (*c)->volumes()) {
        walk_errors += Fields(v).ok() ? 0 : 1;
        (void)v.Lookup("/a/b/c");
      }
    }
  }
  // Most damage is past what a lazy open reads, and some of it is in records
  // that only a walk reads.
  EXPECT_GT(opened, 0);
  EXPECT_GT(walk_errors, 0);
}

}  // namespace
}  // namespace webcfs::webc
