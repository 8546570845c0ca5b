// Failure suites over the real fixtures: truncation at many offsets, random
// byte flips (fixed seed), read failures at every read, and a file that
// shrinks after Open. The contract: an Error, never a crash, hang or wild read
// (these run under ASan/UBSan in scripts/test.sh).
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "tests/unit/webc/craft_util.h"
#include "tests/unit/webc/webc_test_util.h"
#include "webc/container.h"

namespace webcfs::webc {
namespace {

using namespace webcfs::webc::testing;

// Touches everything an opened container offers: every entry's stored hash,
// the first bytes of every file (all bytes when `full`), and Verify when asked.
void Exercise(const Container& c, bool full, bool verify) {
  std::vector<std::byte> scratch(4096);
  auto touch = [&](const Volume& v) {
    (void)WalkVolume(v, [&](const Entry& e, std::string_view path) -> Result<void> {
      EXPECT_EQ(v.Lookup(path), &e);
      (void)c.StoredHash(e);
      if (!e.is_file()) return Ok();
      const uint64_t limit = full ? e.size : std::min<uint64_t>(e.size, scratch.size());
      for (uint64_t off = 0; off < limit; off += scratch.size()) {
        auto r = c.ReadFile(e, off, scratch.size(), scratch.data());
        if (!r) break;
        EXPECT_LE(r->size(), scratch.size());
      }
      return Ok();
    });
  };
  touch(c.atoms());
  for (const Volume& v : c.volumes()) touch(v);
  if (verify) (void)c.Verify();
}

struct Loaded {
  std::string name;
  std::shared_ptr<const ByteSource> source;
  std::unique_ptr<Container> container;
};

std::vector<Loaded> LoadAll() {
  std::vector<Loaded> all;
  for (const std::string& name : FixtureNames()) {
    Loaded l;
    l.name = name;
    l.source = MemorySource(ReadHostFile(FixturePath(name)), name);
    auto c = Container::Open(l.source);
    EXPECT_TRUE(c.ok()) << name;
    if (c) l.container = std::move(*c);
    all.push_back(std::move(l));
  }
  return all;
}

TEST(Truncation, EveryCutIsAnErrorNeverACrash) {
  for (const Loaded& f : LoadAll()) {
    ASSERT_NE(f.container, nullptr);
    const uint64_t size = f.source->size();
    std::vector<uint64_t> cuts;
    if (size <= 8192) {
      for (uint64_t i = 0; i < size; ++i) cuts.push_back(i);
    } else {
      // The metadata-dense start byte by byte, then ~200 cuts spread over the rest.
      for (uint64_t i = 0; i < 1600; ++i) cuts.push_back(i);
      for (uint64_t i = 1; i <= 200; ++i) cuts.push_back(size * i / 201);
      for (uint64_t i = 1; i <= 64; ++i) cuts.push_back(size - i);
    }
    for (uint64_t cut : cuts) {
      auto c = Container::Open(PrefixSource(f.source, cut));
      if (!c) {
        EXPECT_FALSE(c.error().message().empty());
        continue;
      }
      // v1 has no index: a cut exactly between two volumes leaves a shorter
      // but well-formed container. Anything else must not open.
      ASSERT_EQ(f.container->version(), Version::kV1) << f.name << " opened when cut at " << cut;
      ASSERT_LT((*c)->volumes().size(), f.container->volumes().size())
          << f.name << " opened when cut at " << cut;
      Exercise(**c, /*full=*/false, /*verify=*/false);
    }
  }
}

TEST(RandomFlips, NeverCrashAndStayConsistent) {
  std::vector<Loaded> all = LoadAll();
  std::mt19937_64 rng(20240910);
  int opened = 0;
  for (int i = 0; i < 3000; ++i) {
    const Loaded& f = all[rng() % all.size()];
    const uint64_t size = f.source->size();
    // Half the flips land in the metadata-heavy first and last 4 KiB.
    uint64_t offset = rng() % size;
    if (rng() % 2 == 0) {
      const uint64_t window = std::min<uint64_t>(size, 4096);
      offset = rng() % 2 == 0 ? rng() % window : size - 1 - rng() % window;
    }
    const auto mask = static_cast<uint8_t>(1 + rng() % 255);
    const bool small = size < 100'000;
    OpenOptions options;
    options.verify = small && rng() % 2 == 0;
    auto c = Container::Open(FlipSource(f.source, offset, mask), options);
    if (!c) {
      EXPECT_FALSE(c.error().message().empty());
      continue;
    }
    ++opened;
    Exercise(**c, /*full=*/small, /*verify=*/small);
  }
  // Many flips hit file contents, which parsing does not look at.
  EXPECT_GT(opened, 100);
}

TEST(FailingReads, EveryReadCanFail) {
  for (const Loaded& f : LoadAll()) {
    if (f.source->size() > 100'000) continue;  // the small ones cover every code path
    bool succeeded = false;
    for (int good = 0; good < 10'000 && !succeeded; ++good) {
      OpenOptions verify;
      verify.verify = true;
      auto c = Container::Open(FailingSource(f.source, good), verify);
      if (c) {
        succeeded = true;
        break;
      }
      ASSERT_EQ(c.error().code(), Error::Code::kIo) << f.name << ": " << c.error().message();
      EXPECT_NE(c.error().message().find("injected read failure"), std::string::npos);
    }
    EXPECT_TRUE(succeeded) << f.name;
  }
}

TEST(ShrinkingFile, ReadsPastTheNewEndAreIoErrors) {
  const std::string name = "wasmer-sdk-0.10.0-createPackage__oracle-wabt-subset.webc";
  const TempDir temp("webcfs-shrink");
  const std::string& dir = temp.path();
  const std::string path = dir + "/pkg.webc";
  const std::string bytes = ReadHostFile(FixturePath(name));
  WriteHostFile(path, bytes);
  auto c = Container::OpenFile(path);
  ASSERT_OK(c);
  // Atoms come before volumes in the file.
  const Entry* early = (*c)->FindAtom("wasm-strip");
  const Entry* late = (*c)->FindVolume("/data")->Lookup("/LICENSE");
  ASSERT_NE(early, nullptr);
  ASSERT_NE(late, nullptr);
  ASSERT_LT(early->data_offset() + early->size, bytes.size() / 2);
  ASSERT_GT(late->data_offset(), bytes.size() / 2);

  ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(bytes.size() / 2)), 0);
  std::vector<std::byte> scratch(4096);
  ASSERT_OK((*c)->ReadFile(*early, 0, scratch.size(), scratch.data()));
  auto r = (*c)->ReadFile(*late, 0, scratch.size(), scratch.data());
  ASSERT_ERROR(r, kIo);
  EXPECT_NE(r.error().message().find(path), std::string::npos) << r.error().message();
  ASSERT_ERROR((*c)->Verify(), kIo);
  ASSERT_ERROR((*c)->WholeFileHash(), kIo);
}

}  // namespace
}  // namespace webcfs::webc
