// RecordedReads and the sources that record and serve them: a read is served
// from a copy only when one copy covers it entirely; the encoding round-trips
// and refuses malformed input; a lazy open served from the copies of an
// earlier open's start-up reads lists its roots without reading the file, and
// shows the tree an eager open shows.
#include "webc/recorded_reads.h"

#include <atomic>
#include <random>
#include <string>
#include <vector>

#include "tests/common/package_builder.h"
#include "tests/unit/webc/webc_test_util.h"
#include "webc/container.h"

namespace webcfs::webc {
namespace {

using namespace webcfs::webc::testing;

std::string AsString(ByteView v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size());
}

ByteView Bytes(const std::string& s) { return std::as_bytes(std::span(s)); }

TEST(RecordedReadsTest, ServesOnlyReadsOneCopyCoversEntirely) {
  RecordedReads copies;
  ASSERT_TRUE(copies.Add(100, Bytes("abcdefgh")));
  ASSERT_TRUE(copies.Add(200, Bytes("xyz")));
  EXPECT_EQ(AsString(*copies.Find(100, 8)), "abcdefgh");
  EXPECT_EQ(AsString(*copies.Find(102, 3)), "cde");
  EXPECT_EQ(AsString(*copies.Find(201, 2)), "yz");
  EXPECT_FALSE(copies.Find(99, 2));   // starts before the copy
  EXPECT_FALSE(copies.Find(104, 5));  // runs past its end
  EXPECT_FALSE(copies.Find(150, 1));  // between copies
  EXPECT_FALSE(copies.Find(203, 1));
  // A longer copy at the same offset replaces the shorter one.
  ASSERT_TRUE(copies.Add(200, Bytes("xyzw")));
  EXPECT_EQ(AsString(*copies.Find(200, 4)), "xyzw");
}

TEST(RecordedReadsTest, RefusesCopiesPastItsLimits) {
  RecordedReads copies;
  const std::string big(RecordedReads::kMaxCopiedRead + 1, 'b');
  EXPECT_FALSE(copies.Add(0, Bytes(big)));
  EXPECT_TRUE(copies.empty());
  const std::string most(RecordedReads::kMaxCopiedRead, 'm');
  size_t added = 0;
  for (uint64_t at = 0; copies.Add(at, Bytes(most)); at += most.size()) ++added;
  EXPECT_EQ(added, RecordedReads::kMaxBytes / RecordedReads::kMaxCopiedRead);
  EXPECT_LE(copies.byte_count(), RecordedReads::kMaxBytes);
}

TEST(RecordedReadsTest, EncodingRoundTripsAndRefusesDamage) {
  RecordedReads copies;
  ASSERT_TRUE(copies.Add(7, Bytes("seven")));
  ASSERT_TRUE(copies.Add(3, Bytes("three")));
  ASSERT_TRUE(copies.Add(1 << 20, Bytes("far")));
  const std::vector<std::byte> encoded = copies.Encode();

  std::vector<std::byte> with_prefix = ToBytes("stamp line\n");
  with_prefix.insert(with_prefix.end(), encoded.begin(), encoded.end());
  auto decoded = RecordedReads::Decode(with_prefix, 11);
  ASSERT_OK(decoded);
  EXPECT_EQ(AsString(*decoded->Find(3, 5)), "three");
  EXPECT_EQ(AsString(*decoded->Find(7, 5)), "seven");
  EXPECT_EQ(AsString(*decoded->Find(1 << 20, 3)), "far");
  EXPECT_EQ(decoded->Encode(), encoded);
  ASSERT_OK(RecordedReads::Decode({}));  // no copies at all

  std::vector<std::byte> truncated(encoded.begin(), encoded.end() - 1);
  ASSERT_ERROR(RecordedReads::Decode(truncated), kCorrupt);
  // The second span (offset 7) moved before the first (offset 3).
  std::vector<std::byte> unordered = encoded;
  unordered[12 + 5] = std::byte{1};
  ASSERT_ERROR(RecordedReads::Decode(unordered), kCorrupt);
  std::vector<std::byte> huge = encoded;
  huge[8 + 3] = std::byte{0x7f};  // the first span's length, high byte
  ASSERT_FALSE(RecordedReads::Decode(huge).ok());
  ASSERT_ERROR(RecordedReads::Decode(encoded, encoded.size() + 1), kInvalidArgument);
}

// Counts the reads that reach it.
class CountingSource final : public ByteSource {
 public:
  explicit CountingSource(std::shared_ptr<const ByteSource> inner) : inner_(std::move(inner)) {}
  uint64_t size() const override { return inner_->size(); }
  const std::string& name() const override { return inner_->name(); }
  Result<ByteView> Read(uint64_t offset, size_t n, std::byte* scratch) const override {
    ++reads;
    return inner_->Read(offset, n, scratch);
  }
  mutable std::atomic<int> reads{0};

 private:
  std::shared_ptr<const ByteSource> inner_;
};

OpenOptions Lazy() {
  OpenOptions options;
  options.lazy_directories = true;
  return options;
}

// What the resolver records when it accepts a container: the reads of a lazy
// open and of its volumes' root listings.
RecordedReads StartupReads(std::shared_ptr<const ByteSource> file) {
  RecordedReads copies;
  auto c = Container::Open(RecordingSource(std::move(file), &copies), Lazy());
  EXPECT_OK(c);
  if (c) {
    for (const Volume& v : (*c)->volumes()) EXPECT_OK(v.ListChildren(v.root()));
  }
  return copies;
}

TEST(RecordedReadsTest, ALazyOpenServedFromCopiesListsItsRootWithoutReadingTheFile) {
  webcfs::testing::TempDir dir("webcfs-copies");
  const std::string path = dir / "p.webc";
  ASSERT_OK(WriteOneVolume(path, WideScatteredTree()));
  auto file = OpenFileSource(path);
  ASSERT_OK(file);
  std::shared_ptr<const ByteSource> shared = std::move(*file);
  RecordedReads copies = StartupReads(shared);
  EXPECT_FALSE(copies.empty());
  EXPECT_LT(copies.byte_count(), ReadHostFile(path).size() / 10);  // records, not the header

  auto counting = std::make_shared<CountingSource>(shared);
  auto served = Container::Open(ReplayingSource(counting, std::move(copies)), Lazy());
  ASSERT_OK(served);
  const Volume& v = *(*served)->FindVolume("/v");
  auto root = v.ListChildren(v.root());
  ASSERT_OK(root);
  EXPECT_EQ(counting->reads.load(), 0);
  EXPECT_EQ(root->size(), 600u);

  // Deeper directories were not copied: they are read from the file, and the
  // whole tree is the eager one.
  auto eager = Container::OpenFile(path);
  ASSERT_OK(eager);
  const Volume& ev = *(*eager)->FindVolume("/v");
  size_t walked = 0;
  ASSERT_OK(WalkVolume(v, [&](const Entry& e, std::string_view p) -> Result<void> {
    const Entry* want = ev.Lookup(p);
    EXPECT_NE(want, nullptr) << p;
    if (want != nullptr) {
      EXPECT_EQ(e.is_dir(), want->is_dir()) << p;
      EXPECT_EQ(e.size, want->size) << p;
      EXPECT_EQ(e.data_offset(), want->data_offset()) << p;
    }
    ++walked;
    return Ok();
  }));
  EXPECT_EQ(walked, ev.entries().size() - 1);
  EXPECT_GT(counting->reads.load(), 0);
  // File contents are still read through the copies' source, and correctly.
  const Entry* f7 = v.Lookup("/f7");
  ASSERT_NE(f7, nullptr);
  std::vector<std::byte> scratch(8);
  auto contents = (*served)->ReadFile(*f7, 0, scratch.size(), scratch.data());
  ASSERT_OK(contents);
  EXPECT_EQ(AsString(*contents), "7");
}

// Copies come from a cache record: damaged ones are decoded with the same
// checks as file bytes, so they give errors or a tree, never a crash (the
// ASan and UBSan builds run this too).
TEST(RecordedReadsTest, DamagedCopiesGiveErrorsNotCrashes) {
  int failures = 0;
  for (const std::string& name : FixtureNames()) {
    const std::string bytes = ReadHostFile(FixturePath(name));
    std::shared_ptr<const ByteSource> file = MemorySource(bytes, name);
    const std::vector<std::byte> encoded = StartupReads(file).Encode();
    if (encoded.empty()) continue;
    std::mt19937 rng(99);
    for (int round = 0; round < 100; ++round) {
      std::vector<std::byte> damaged = encoded;
      const size_t at = rng() % damaged.size();
      damaged[at] ^= static_cast<std::byte>(1 + rng() % 255);
      auto copies = RecordedReads::Decode(std::move(damaged));
      if (!copies) continue;  // the framing itself was hit
      auto c = Container::Open(ReplayingSource(file, std::move(*copies)), Lazy());
      if (!c) {
        ++failures;
        continue;
      }
      for (const Volume& v : (*c)->volumes()) {
        failures += WalkVolume(v, [](const Entry&, std::string_view) { return Ok(); }).ok() ? 0 : 1;
      }
    }
  }
  EXPECT_GT(failures, 0);
}

}  // namespace
}  // namespace webcfs::webc
