// Crafted hostile containers (bytes built by hand): each must be refused with
// a clear error of the expected code that names the volume and entry, never a
// crash, hang or huge allocation (docs/architecture.md "Safety rules").
#include <string>
#include <vector>

#include "tests/unit/webc/craft_util.h"
#include "tests/unit/webc/webc_test_util.h"
#include "webc/container.h"

namespace webcfs::webc {
namespace {

using namespace webcfs::webc::testing;

Result<std::unique_ptr<Container>> OpenBytes(const std::string& bytes, OpenOptions options = {}) {
  return Container::Open(std::shared_ptr<const ByteSource>(MemorySource(bytes, "crafted.webc")),
                         options);
}

// A container whose volume "v" has `header` and `data` verbatim.
std::string WithVolume(int version, const std::string& header, const std::string& data = "") {
  ContainerSpec spec;
  spec.version = version;
  spec.volumes.push_back({"v", header, data});
  return BuildContainer(spec);
}

void ExpectMessageHas(const Error& e, const std::vector<std::string>& parts) {
  for (const std::string& p : parts) {
    EXPECT_NE(e.message().find(p), std::string::npos) << "'" << p << "' not in: " << e.message();
  }
}

class HostileV2V3 : public ::testing::TestWithParam<int> {
 protected:
  bool v3() const { return GetParam() == 3; }
  // Root directory at 0 with the given entries, followed by `rest` records.
  std::string Root(const std::vector<DirEntrySpec>& entries) const {
    return DirRecord(v3(), entries);
  }
  // Header offset just past a root directory with these entry names.
  uint64_t After(const std::vector<std::string>& names) const {
    std::vector<DirEntrySpec> e;
    for (const auto& n : names) e.push_back({0, n, ""});
    return Root(e).size();
  }
};

TEST_P(HostileV2V3, WellFormedCraftedContainerOpens) {
  BuiltVolume v = BuildVolume(v3(), {{"a/b.txt", "bee"}, {"c", "sea"}, {"empty/", ""}});
  OpenOptions verify;
  verify.verify = true;
  auto c = OpenBytes(WithVolume(GetParam(), v.header, v.data), verify);
  ASSERT_OK(c);
  const Volume* vol = (*c)->FindVolume("v");
  ASSERT_NE(vol, nullptr);
  ASSERT_NE(vol->Lookup("/a/b.txt"), nullptr);
  EXPECT_EQ(vol->Lookup("/a/b.txt")->size, 3u);
  ASSERT_NE(vol->Lookup("/empty"), nullptr);
  EXPECT_TRUE(vol->Lookup("/empty")->is_dir());
}

TEST_P(HostileV2V3, BadNamesNameVolumeAndEntry) {
  struct Case {
    std::string name;
    std::string why;
  } cases[] = {{"..", "'.' or '..'"},
               {".", "'.' or '..'"},
               {"a/b", "contains '/'"},
               {std::string("a\0b", 3), "NUL"},
               {std::string(256, 'n'), "longer than 255"},
               {"", "empty name"}};
  for (const Case& c : cases) {
    const uint64_t file_at = After({c.name});
    std::string header = Root({{file_at, c.name, ""}}) + FileRecord(v3(), 0, 1);
    auto r = OpenBytes(WithVolume(GetParam(), header, "x"));
    ASSERT_ERROR(r, kCorrupt);
    ExpectMessageHas(r.error(), {"crafted.webc: ", "volume 'v'", "entry '/", c.why});
  }
  // 255 bytes is still a name.
  const std::string longest(255, 'n');
  std::string header = Root({{After({longest}), longest, ""}}) + FileRecord(v3(), 0, 1);
  ASSERT_OK(OpenBytes(WithVolume(GetParam(), header, "x")));
}

TEST_P(HostileV2V3, BadNameDeepInTheTreeNamesItsPath) {
  // /d/.. : the error carries the parent path.
  const uint64_t d_at = After({"d"});
  std::string d = DirRecord(v3(), {{0, "..", ""}});
  const uint64_t file_at = d_at + d.size();
  std::string header =
      Root({{d_at, "d", ""}}) + DirRecord(v3(), {{file_at, "..", ""}}) + FileRecord(v3(), 0, 0);
  auto r = OpenBytes(WithVolume(GetParam(), header));
  ASSERT_ERROR(r, kCorrupt);
  ExpectMessageHas(r.error(), {"volume 'v': entry '/d/..'"});
}

TEST_P(HostileV2V3, DirectoryLoopsAndSharedDirectoriesAreRefused) {
  // Root lists itself.
  auto self = OpenBytes(WithVolume(GetParam(), Root({{0, "me", ""}})));
  ASSERT_ERROR(self, kCorrupt);
  ExpectMessageHas(self.error(), {"volume 'v'", "entry '/me'", "reached twice"});

  // A child pointing back at its parent: /a/up → /.
  const uint64_t a_at = After({"a"});
  std::string header = Root({{a_at, "a", ""}}) + DirRecord(v3(), {{0, "up", ""}});
  auto loop = OpenBytes(WithVolume(GetParam(), header));
  ASSERT_ERROR(loop, kCorrupt);
  ExpectMessageHas(loop.error(), {"entry '/a/up'", "reached twice"});

  // Two names for one directory record (a DAG could multiply entries exponentially).
  const uint64_t shared_at = After({"x", "y"});
  header = Root({{shared_at, "x", ""}, {shared_at, "y", ""}}) + DirRecord(v3(), {});
  ASSERT_ERROR(OpenBytes(WithVolume(GetParam(), header)), kCorrupt);

  // Two names for one file record are harmless (like hard links).
  const uint64_t file_at = After({"x", "y"});
  header = Root({{file_at, "x", ""}, {file_at, "y", ""}}) + FileRecord(v3(), 0, 1);
  ASSERT_OK(OpenBytes(WithVolume(GetParam(), header, "z")));
}

TEST_P(HostileV2V3, OffsetsAndRangesOutsideTheirSection) {
  // Child record offset past the header.
  auto far = OpenBytes(WithVolume(GetParam(), Root({{1 << 20, "f", ""}})));
  ASSERT_ERROR(far, kCorrupt);
  ExpectMessageHas(far.error(), {"volume 'v'", "entry 'f'", "outside the volume header"});

  // File range past the end of the data.
  const uint64_t file_at = After({"f"});
  std::string header = Root({{file_at, "f", ""}}) + FileRecord(v3(), 0, 100);
  auto past = OpenBytes(WithVolume(GetParam(), header, std::string(10, 'd')));
  ASSERT_ERROR(past, kCorrupt);
  ExpectMessageHas(past.error(), {"volume 'v'", "entry 'f'", "outside the volume data (10 bytes)"});

  // start > end.
  header = Root({{file_at, "f", ""}}) + FileRecord(v3(), 5, 2);
  ASSERT_ERROR(OpenBytes(WithVolume(GetParam(), header, std::string(10, 'd'))), kCorrupt);

  // Unknown record tag.
  header = Root({{file_at, "f", ""}}) + std::string(1, '\x07') + std::string(80, '\0');
  auto tag = OpenBytes(WithVolume(GetParam(), header));
  ASSERT_ERROR(tag, kCorrupt);
  ExpectMessageHas(tag.error(), {"unknown tag 7"});

  // Root record is a file.
  ASSERT_ERROR(OpenBytes(WithVolume(GetParam(), FileRecord(v3(), 0, 0))), kCorrupt);
}

TEST_P(HostileV2V3, LengthsNearTwoToTheSixtyFour) {
  const uint64_t huge[] = {UINT64_MAX, UINT64_MAX - 7, uint64_t{1} << 63};
  for (uint64_t n : huge) {
    // Directory record length.
    std::string header = std::string(1, '\x1e') + U64(n) + std::string(64, '\0');
    ASSERT_ERROR(OpenBytes(WithVolume(GetParam(), header)), kCorrupt);
    // Entry name length.
    std::string root = Root({{0, "x", ""}});
    std::string entry_name_len_patch = root;
    const size_t name_len_at = 9 + (v3() ? 56 : 0) + 8 + (v3() ? 32 : 0);
    entry_name_len_patch.replace(name_len_at, 8, U64(n));
    ASSERT_ERROR(OpenBytes(WithVolume(GetParam(), entry_name_len_patch)), kCorrupt);
    // File end (and start) near 2^64.
    const uint64_t file_at = After({"f"});
    header = Root({{file_at, "f", ""}}) + FileRecord(v3(), n - 1, n);
    ASSERT_ERROR(OpenBytes(WithVolume(GetParam(), header, "x")), kCorrupt);
    // Child offset near 2^64.
    ASSERT_ERROR(OpenBytes(WithVolume(GetParam(), Root({{n, "c", ""}}))), kCorrupt);
  }
  // Volume header length and data length in the section payload.
  std::string good = WithVolume(GetParam(), "");
  const uint64_t payload = SectionPayloadOffset(good, "v");
  for (uint64_t n : huge) {
    std::string bad = good;
    bad.replace(payload + 8 + 1, 8, U64(n));  // header_len after the 1-byte name "v"
    auto r = OpenBytes(bad);
    ASSERT_ERROR(r, kCorrupt);
    ExpectMessageHas(r.error(), {"volume 'v'", "volume header length"});
    bad = good;
    bad.replace(payload, 8, U64(n));  // name length
    ASSERT_ERROR(OpenBytes(bad), kCorrupt);
  }
}

TEST_P(HostileV2V3, DepthIsBounded) {
  // A chain /d/d/d/... of 5000 directories, each record right after its parent.
  auto chain = [&](int depth) {
    std::string header;
    for (int i = 0; i < depth; ++i) {
      const uint64_t next = header.size() + DirRecord(v3(), {{0, "d", ""}}).size();
      header += DirRecord(v3(), {{next, "d", ""}});
    }
    header += DirRecord(v3(), {});
    return header;
  };
  auto deep = OpenBytes(WithVolume(GetParam(), chain(5000)));
  ASSERT_ERROR(deep, kResourceLimit);
  ExpectMessageHas(deep.error(), {"volume 'v'", "deeper than 4096", "entry '/d/d/d/d"});

  // The documented bound itself is fine.
  ASSERT_OK(OpenBytes(WithVolume(GetParam(), chain(4096))));
  OpenOptions shallow;
  shallow.max_depth = 10;
  ASSERT_OK(OpenBytes(WithVolume(GetParam(), chain(10)), shallow));
  ASSERT_ERROR(OpenBytes(WithVolume(GetParam(), chain(11)), shallow), kResourceLimit);
}

TEST_P(HostileV2V3, EntryCountIsBounded) {
  std::vector<std::pair<std::string, std::string>> files;
  for (int i = 0; i < 50; ++i) files.push_back({"f" + std::to_string(100 + i), ""});
  BuiltVolume v = BuildVolume(v3(), files);
  OpenOptions limited;
  limited.max_entries = 40;
  auto r = OpenBytes(WithVolume(GetParam(), v.header, v.data), limited);
  ASSERT_ERROR(r, kResourceLimit);
  ExpectMessageHas(r.error(), {"volume 'v'", "entries"});
  limited.max_entries = 60;
  ASSERT_OK(OpenBytes(WithVolume(GetParam(), v.header, v.data), limited));
}

TEST_P(HostileV2V3, DuplicateAndUnsortedNames) {
  const uint64_t file_at = After({"b", "a"});
  std::string header = Root({{file_at, "b", ""}, {file_at, "a", ""}}) + FileRecord(v3(), 0, 1);
  auto unsorted = OpenBytes(WithVolume(GetParam(), header, "x"));
  ASSERT_OK(unsorted);
  const Volume* v = (*unsorted)->FindVolume("v");
  ASSERT_NE(v->Find(v->root(), "a"), nullptr) << "linear fallback finds unsorted names";
  ASSERT_NE(v->Find(v->root(), "b"), nullptr);
  EXPECT_EQ(v->Find(v->root(), "c"), nullptr);

  header = Root({{file_at, "a", ""}, {file_at, "a", ""}}) + FileRecord(v3(), 0, 1);
  auto dup = OpenBytes(WithVolume(GetParam(), header, "x"));
  ASSERT_ERROR(dup, kCorrupt);
  ExpectMessageHas(dup.error(), {"entry '/a'", "duplicate"});

  const uint64_t at3 = After({"b", "a", "b"});
  header = Root({{at3, "b", ""}, {at3, "a", ""}, {at3, "b", ""}}) + FileRecord(v3(), 0, 1);
  ASSERT_ERROR(OpenBytes(WithVolume(GetParam(), header, "x")), kCorrupt);
}

TEST_P(HostileV2V3, IndexAndSectionFraming) {
  std::string good = WithVolume(GetParam(), "");
  ASSERT_OK(OpenBytes(good));

  std::string bad = good;
  bad[8] = 1;  // first section is not the index
  ASSERT_ERROR(OpenBytes(bad), kCorrupt);

  bad = good;
  bad.replace(9, 8, U64(UINT64_MAX));  // index length
  ASSERT_ERROR(OpenBytes(bad), kResourceLimit);

  bad = good;
  bad.replace(9, 8, U64(good.size()));  // index length past the end
  ASSERT_ERROR(OpenBytes(bad), kCorrupt);

  // A section whose tag does not match what the index says it is.
  const uint64_t header = v3() ? 41 : 9;
  bad = good;
  bad[SectionPayloadOffset(good, "v") - header] = 1;
  auto tag = OpenBytes(bad);
  ASSERT_ERROR(tag, kCorrupt);
  ExpectMessageHas(tag.error(), {"volume 'v'", "section tag is 1, expected 4"});

  // Index CBOR that is not a map, and an unknown checksum algorithm.
  bad = good;
  bad[17] = static_cast<char>(0x80);  // empty array
  ASSERT_ERROR(OpenBytes(bad), kCorrupt);
  bad = good;
  const size_t tag_at = bad.find("checksum-sha256");
  bad.replace(tag_at, 15, "checksum-blake3");
  ASSERT_ERROR(OpenBytes(bad), kUnsupported);

  // The volume section names itself differently from its index key.
  ContainerSpec spec;
  spec.version = GetParam();
  spec.volumes.push_back({"v", "", ""});
  bad = BuildContainer(spec);
  bad[SectionPayloadOffset(bad, "v") + 8] = 'w';
  ASSERT_ERROR(OpenBytes(bad), kCorrupt);
}

INSTANTIATE_TEST_SUITE_P(Versions, HostileV2V3, ::testing::Values(2, 3),
                         [](const auto& info) { return "v" + std::to_string(info.param); });

TEST(HostileV3, EntryHashDisagreementIsReportedByVerifyOnly) {
  // v2 entries carry no hash; v3 entries repeat the child's hash.
  const uint64_t file_at = DirRecord(true, {{0, "f", ""}}).size();
  // The root's own hash is right (SHA-256 of the file's hash); the copy of the
  // file's hash in the root's entry is not.
  std::string header =
      DirRecord(true, {{file_at, "f", std::string(32, '\x01')}}, Sha256Bytes(Sha256Bytes("x"))) +
      FileRecord(true, 0, 1, Sha256Bytes("x"));
  auto c = OpenBytes(WithVolume(3, header, "x"));
  ASSERT_OK(c);  // parsing does not judge hashes
  auto verified = (*c)->Verify();
  ASSERT_ERROR(verified, kIntegrity);
  ExpectMessageHas(verified.error(), {"volume 'v'", "entry '/f'", "hash stored in the parent"});
}

// ---- v1 ---------------------------------------------------------------------

Result<std::unique_ptr<Container>> OpenV1(const std::string& header, const std::string& data = "") {
  return OpenBytes(
      BuildV1(R"({"entrypoint": "x"})", V1Volume("", ""), {{"atom", V1Volume(header, data)}}));
}

TEST(HostileV1, WellFormedCraftedContainerOpens) {
  // Root: dir "d" whose listing follows; d holds file "f".
  std::string root = V1Listing({{"d", 0, 0, 0}});
  std::string d = V1Listing({{"f", 1, 0, 3}});
  root = V1Listing({{"d", 0, root.size(), root.size() + d.size()}});
  auto c = OpenV1(root + d, "abc");
  ASSERT_OK(c);
  const Volume* v = (*c)->FindVolume("atom");
  ASSERT_NE(v->Lookup("/d/f"), nullptr);
  EXPECT_EQ(v->Lookup("/d/f")->size, 3u);
}

TEST(HostileV1, BadNames) {
  for (std::string name : {std::string(".."), std::string("."), std::string("a/b"),
                           std::string("a\0b", 3), std::string(256, 'n'), std::string()}) {
    auto r = OpenV1(V1Listing({{name, 1, 0, 1}}), "x");
    ASSERT_ERROR(r, kCorrupt);
    ExpectMessageHas(r.error(), {"volume 'atom'", "entry '/"});
  }
}

TEST(HostileV1, ListingLoopsRangesAndTypes) {
  // A directory whose range is the root listing itself.
  std::string probe = V1Listing({{"d", 0, 0, 0}});
  auto loop = OpenV1(V1Listing({{"d", 0, 0, probe.size()}}));
  ASSERT_ERROR(loop, kCorrupt);
  ExpectMessageHas(loop.error(), {"volume 'atom'", "entry '/d'", "reached twice"});

  // Directory range outside the header, and too short for its listing.
  ASSERT_ERROR(OpenV1(V1Listing({{"d", 0, 1000, 2000}})), kCorrupt);
  std::string listing = V1Listing({{"d", 0, 0, 0}});
  ASSERT_ERROR(OpenV1(V1Listing({{"d", 0, 4, listing.size()}})), kCorrupt);

  // File range past the data; lengths near 2^64; unknown type.
  auto past = OpenV1(V1Listing({{"f", 1, 0, 100}}), "short");
  ASSERT_ERROR(past, kCorrupt);
  ExpectMessageHas(past.error(), {"entry 'f'", "outside the volume data (5 bytes)"});
  ASSERT_ERROR(OpenV1(V1Listing({{"f", 1, UINT64_MAX - 1, UINT64_MAX}}), "x"), kCorrupt);
  ASSERT_ERROR(OpenV1(V1Listing({{"f", 7, 0, 1}}), "x"), kCorrupt);
  std::string huge_name = V1Listing({{"f", 1, 0, 1}});
  huge_name.replace(8, 8, U64(0x00ff'ffff'ffff'ffffULL | (uint64_t{1} << 56)));
  ASSERT_ERROR(OpenV1(huge_name, "x"), kCorrupt);
  std::string huge_listing = V1Listing({{"f", 1, 0, 1}});
  huge_listing.replace(0, 8, U64(UINT64_MAX));
  ASSERT_ERROR(OpenV1(huge_listing, "x"), kCorrupt);
}

TEST(HostileV1, DepthIsBounded) {
  // 5000 nested directories, each listing right after its parent's.
  std::string header;
  const std::string one = V1Listing({{"d", 0, 0, 0}});
  for (int i = 0; i < 5000; ++i) {
    const uint64_t start = header.size() + one.size();
    header += V1Listing({{"d", 0, start, start + one.size()}});
  }
  header += V1Listing({{"d", 0, 0, 0}});
  auto r = OpenV1(header);
  ASSERT_ERROR(r, kResourceLimit);
  ExpectMessageHas(r.error(), {"deeper than 4096"});
}

TEST(HostileV1, UnsortedListingsUseLinearFind) {
  auto c = OpenV1(V1Listing({{"b", 1, 0, 1}, {"a", 1, 1, 2}}), "xy");
  ASSERT_OK(c);
  const Volume* v = (*c)->FindVolume("atom");
  ASSERT_NE(v->Find(v->root(), "a"), nullptr);
  EXPECT_EQ(v->Find(v->root(), "a")->data_offset(), v->Find(v->root(), "b")->data_offset() + 1);
  ASSERT_ERROR(OpenV1(V1Listing({{"a", 1, 0, 1}, {"a", 1, 1, 2}}), "xy"), kCorrupt);
}

TEST(HostileV1, HeaderFraming) {
  std::string good = BuildV1(R"({})", V1Volume("", ""), {{"atom", V1Volume("", "")}});
  ASSERT_OK(OpenBytes(good));
  std::string bad = good;
  bad.replace(8, 16, "md5-------------");
  ASSERT_ERROR(OpenBytes(bad), kCorrupt);
  ASSERT_ERROR(OpenBytes(good.substr(0, 1000)), kCorrupt);
  // LEB128 lengths: overlong and past the end.
  bad = good.substr(0, 1308) + std::string(11, '\xff');
  ASSERT_ERROR(OpenBytes(bad), kCorrupt);
  bad = good.substr(0, 1308) + Leb128(1 << 20) + "x";
  ASSERT_ERROR(OpenBytes(bad), kCorrupt);
  // The same volume name twice.
  bad =
      BuildV1(R"({})", V1Volume("", ""), {{"atom", V1Volume("", "")}, {"atom", V1Volume("", "")}});
  ASSERT_ERROR(OpenBytes(bad), kCorrupt);
}

TEST(HostileMagic, VersionDetection) {
  ASSERT_ERROR(OpenBytes(std::string("\0webc", 5)), kCorrupt);
  ASSERT_ERROR(OpenBytes(std::string("\0webc004", 8) + std::string(100, '\0')), kUnsupported);
  ASSERT_ERROR(OpenBytes(std::string("PK\3\4webc003", 11)), kCorrupt);
  ASSERT_ERROR(OpenBytes(""), kCorrupt);
}

}  // namespace
}  // namespace webcfs::webc
