// Verify() on the checksum-carrying fixtures: a flipped byte in any section
// (framing, inline hash, payload), any volume header, any file or atom is
// reported, and the error names what is damaged.
#include <cstring>
#include <string>
#include <vector>

#include "tests/unit/webc/craft_util.h"
#include "tests/unit/webc/webc_test_util.h"
#include "webc/container.h"
#include "webc/index_internal.h"

namespace webcfs::webc {
namespace {

using namespace webcfs::webc::testing;

struct Flip {
  uint64_t offset;
  std::vector<std::string> must_name;  // any one of these must be in the message
};

// Opens `base` with one byte flipped; the damage must be caught either while
// parsing or by Verify(), with an error naming one of `must_name`.
void ExpectDetected(const std::shared_ptr<const ByteSource>& base, const Flip& flip) {
  SCOPED_TRACE("flip at offset " + std::to_string(flip.offset));
  std::shared_ptr<const ByteSource> damaged = FlipSource(base, flip.offset, 0x20);
  auto c = Container::Open(damaged);
  std::string message;
  if (!c) {
    message = c.error().message();
  } else {
    auto verified = (*c)->Verify();
    ASSERT_FALSE(verified.ok()) << "flip not detected";
    EXPECT_EQ(verified.error().code(), Error::Code::kIntegrity) << verified.error().message();
    message = verified.error().message();
  }
  bool named = false;
  for (const std::string& what : flip.must_name) named |= message.find(what) != std::string::npos;
  EXPECT_TRUE(named) << "error does not name " << ::testing::PrintToString(flip.must_name) << ": "
                     << message;
}

uint64_t ReadU64(const std::string& bytes, uint64_t at) {
  uint64_t v = 0;
  std::memcpy(&v, bytes.data() + at, 8);
  return v;
}

class SectionedFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(SectionedFixture, EveryFlippedFileOrSectionByteIsNamed) {
  const std::string bytes = ReadHostFile(FixturePath(GetParam()));
  std::shared_ptr<const ByteSource> base = MemorySource(bytes, GetParam());
  auto clean = Container::Open(base);
  ASSERT_OK(clean);
  ASSERT_OK((*clean)->Verify());
  const Container& c = **clean;
  const bool v3 = c.version() == Version::kV3;

  std::vector<Flip> flips;
  // Files and atoms: first and last byte, named by volume and path.
  auto add_files = [&](const Volume& v, const std::string& label) {
    ASSERT_OK(WalkVolume(v, [&](const Entry& e, std::string_view path) -> Result<void> {
      if (!e.is_file() || e.size == 0) return Ok();
      const std::string file = label + ": file '" + std::string(path) + "'";
      flips.push_back({e.data_offset(), {file}});
      flips.push_back({e.data_offset() + e.size - 1, {file}});
      return Ok();
    }));
  };
  add_files(c.atoms(), "atoms volume");
  for (const Volume& v : c.volumes()) add_files(v, "volume '" + v.name() + "'");

  // Sections: framing bytes, payload edges and middle; volume headers.
  auto index = DecodeIndex(
      ByteView(reinterpret_cast<const std::byte*>(bytes.data()) + 17, ReadU64(bytes, 9)));
  ASSERT_OK(index);
  std::vector<SectionRef> sections = {index->manifest, index->atoms};
  sections.insert(sections.end(), index->volumes.begin(), index->volumes.end());
  for (const SectionRef& s : sections) {
    // Both "atoms section" and "atoms volume" name the atoms.
    const std::string name =
        s.what.rfind("atoms", 0) == 0 ? "atoms" : s.what.substr(0, s.what.find(" section"));
    const uint64_t hash_size = v3 ? 32 : 0;
    const uint64_t payload = s.start + 1 + hash_size + 8;
    const uint64_t payload_len = ReadU64(bytes, s.start + 1 + hash_size);
    flips.push_back({s.start, {name}});                  // tag
    if (v3) flips.push_back({s.start + 1, {name}});      // inline hash
    flips.push_back({s.start + 1 + hash_size, {name}});  // length
    flips.push_back({payload, {name}});
    flips.push_back({payload + payload_len / 2, {name}});
    flips.push_back({payload + payload_len - 1, {name}});
    if (s.what.rfind("manifest", 0) == 0) continue;
    // Volume header: `[u64 name_len, name,] u64 header_len, header`.
    uint64_t at = payload;
    if (!s.volume_name.empty()) at += 8 + ReadU64(bytes, payload);
    const uint64_t header_len = ReadU64(bytes, at);
    const uint64_t header = at + 8;
    for (uint64_t off : {header, header + 1, header + header_len / 2, header + header_len - 1}) {
      flips.push_back({off, {name}});
    }
  }
  for (const Flip& f : flips) ExpectDetected(base, f);
  EXPECT_GT(flips.size(), 20u);
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, SectionedFixture,
    ::testing::Values("synth-v2demo.webc",
                      "wasmer-test-files__integration__webc__wasmer-tests--volume-static-webserver@"
                      "0.1.0.webc",
                      "wasmer-sdk-0.10.0-createPackage__oracle-hello.webc",
                      "wasmer-sdk-0.10.0-createPackage__oracle-wabt-subset.webc"),
    [](const auto& info) { return "f" + std::to_string(info.index); });

TEST(V1Checksum, FlipsAnywhereTheChecksumCoversAreDetected) {
  const std::string name = "wasmer-test-files__examples__wabt-1.0.37.wasmer";
  const std::string bytes = ReadHostFile(FixturePath(name));
  std::shared_ptr<const ByteSource> base = MemorySource(bytes, name);
  auto clean = Container::Open(base);
  ASSERT_OK(clean);
  ASSERT_OK((*clean)->Verify());
  // The checksum field itself, the manifest, headers, an atom, the last byte.
  std::vector<uint64_t> offsets = {24, 55, 1308, 1400, 2000};
  for (uint64_t i = 1; i <= 40; ++i) offsets.push_back(bytes.size() * i / 41);
  offsets.push_back(bytes.size() - 1);
  for (uint64_t off : offsets) {
    ExpectDetected(base,
                   {off, {"v1 whole-file checksum", "manifest", "volume", "entry", "atom '"}});
  }
  // The signature area is not covered by the checksum (§3.2): not an error.
  auto c = Container::Open(FlipSource(base, 300, 1));
  ASSERT_OK(c);
  EXPECT_OK((*c)->Verify());
}

TEST(V1Checksum, ValidityIsReportedAfterVerifyingOpen) {
  const std::string name = "wasmer-test-files__examples__wabt-1.0.37.wasmer";
  std::shared_ptr<const ByteSource> base = MemorySource(ReadHostFile(FixturePath(name)), name);
  auto bad = Container::Open(FlipSource(base, 3000000, 1));
  ASSERT_OK(bad);
  auto valid = (*bad)->CheckV1Checksum();
  ASSERT_OK(valid);
  ASSERT_TRUE(valid->has_value());
  EXPECT_FALSE(**valid);
  OpenOptions verify;
  verify.verify = true;
  ASSERT_ERROR(Container::Open(FlipSource(base, 3000000, 1), verify), kIntegrity);
}

TEST(AtomSignature, MismatchIsNamedWhenTheFileHasNoOtherHash) {
  // v1 atoms have no per-file hash: the manifest signature is the only check.
  const std::string atoms_header = V1Listing({{"tool", 1, 0, 4}});
  std::string good =
      BuildV1(R"({"atoms": {"tool": {"kind": "https://webc.org/kind/wasm", "signature": "sha256:)" +
                  std::string("zV1JNaSMBnLLBkB7tEO8AIev+UfGuGS6yIaYLHOzAn8=") + R"("}}})",
              V1Volume(atoms_header, std::string("\0asm", 4)), {});
  auto c = Container::Open(MemorySource(good));
  ASSERT_OK(c);
  EXPECT_OK((*c)->Verify());
  std::string bad = good;
  bad[bad.size() - 1] = 'n';
  auto damaged = Container::Open(MemorySource(bad));
  ASSERT_OK(damaged);
  auto verified = (*damaged)->Verify();
  ASSERT_ERROR(verified, kIntegrity);
  EXPECT_NE(verified.error().message().find("atom 'tool': signature"), std::string::npos)
      << verified.error().message();
}

}  // namespace
}  // namespace webcfs::webc
