// The v3 header digest (docs/webc-format.md §5.4): equal to the value in
// expected.json for every fixture (computed there by an independent decoder),
// changed by any change to a header byte, unchanged by a change to file data.
#include <nlohmann/json.hpp>
#include <string>

#include "tests/unit/webc/webc_test_util.h"
#include "webc/container.h"

namespace webcfs::webc {
namespace {

using namespace webcfs::webc::testing;

constexpr const char* kV3Fixture =
    "wasmer-test-files__integration__webc__wasmer-tests--volume-static-webserver@0.1.0.webc";

std::string DigestHex(std::string bytes) {
  auto src = MemorySource(std::move(bytes));
  auto d = HeaderDigest(*src);
  EXPECT_TRUE(d.ok()) << (d.ok() ? "" : d.error().message());
  return d.ok() ? ToHex(*d) : "";
}

TEST(HeaderDigestTest, MatchesExpectedForEveryFixture) {
  const auto expected = nlohmann::json::parse(ExpectedJsonText());
  int v3 = 0;
  for (const std::string& name : FixtureNames()) {
    SCOPED_TRACE(name);
    auto c = Container::OpenFile(FixturePath(name));
    ASSERT_TRUE(c.ok()) << c.error().message();
    auto d = (*c)->HeaderDigest();
    ASSERT_TRUE(d.ok()) << d.error().message();
    const auto& want = expected.at(name).at("header_sha256");
    if ((*c)->version() != Version::kV3) {
      EXPECT_FALSE(d->has_value());
      EXPECT_TRUE(want.is_null());
      auto regions = HeaderRegions((*c)->source());
      ASSERT_FALSE(regions.ok());
      EXPECT_EQ(regions.error().code(), Error::Code::kUnsupported);
      continue;
    }
    ++v3;
    ASSERT_TRUE(d->has_value());
    EXPECT_EQ(ToHex(**d), want.get<std::string>());
  }
  EXPECT_GE(v3, 3);
}

TEST(HeaderDigestTest, CoversHeadersNotFileData) {
  const std::string bytes = ReadHostFile(FixturePath(kV3Fixture));
  const std::string original = DigestHex(bytes);
  auto c = Container::Open(MemorySource(bytes));
  ASSERT_TRUE(c.ok());
  auto regions = HeaderRegions((*c)->source());
  ASSERT_TRUE(regions.ok());
  const Entry* file = nullptr;
  for (const Volume& v : (*c)->volumes()) {
    for (const Entry& e : v.entries()) {
      if (e.is_file() && e.size > 0 && file == nullptr) file = &e;
    }
  }
  ASSERT_NE(file, nullptr);
  // Every byte of a header region counts, including a file's stored hash.
  for (const ByteRange& r : *regions) {
    for (uint64_t at : {r.offset, r.offset + r.length / 2, r.offset + r.length - 1}) {
      std::string damaged = bytes;
      damaged[at] ^= 0x01;
      auto src = MemorySource(damaged);
      auto d = HeaderDigest(*src);
      if (d.ok()) {
        EXPECT_NE(ToHex(*d), original) << "byte " << at;
      }
    }
  }
  std::string tampered_hash = bytes;
  tampered_hash[file->hash_offset] ^= 0x01;
  EXPECT_NE(DigestHex(tampered_hash), original);
  // File data is not under the digest: its own hash (under it) checks it.
  std::string tampered_data = bytes;
  tampered_data[file->data_offset()] ^= 0x01;
  EXPECT_EQ(DigestHex(tampered_data), original);
}

}  // namespace
}  // namespace webcfs::webc
