// WriteV3: byte layout, hashes, padding, determinism, streaming and errors.
//
// These tests decode the output with a deliberately tiny, independent v3
// decoder (webc_v3_decode_util.h) so that the writer is checked against the format description
// (docs/webc-format.md §4–§5) and against Wasmer-written fixtures, not against
// our own reader. Round trips through Container live in writer_roundtrip_test.cc.
#include "webc/writer.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/unit/webc/webc_v3_decode_util.h"
#include "webc/base/sha256.h"
#include "webc/manifest.h"

namespace webcfs::webc {
namespace {

namespace fs = std::filesystem;
using namespace ::webcfs::webc::testing;  // NOLINT: test helpers

// --- Fixtures --------------------------------------------------------------

class WriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("webcfs-writer-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  static WriteNode File(std::string contents, uint64_t mtime = 0) {
    WriteNode n;
    n.contents = std::move(contents);
    n.mtime = mtime;
    return n;
  }
  static WriteNode Dir(std::map<std::string, WriteNode> children = {}) {
    WriteNode n;
    n.is_dir = true;
    n.children = std::move(children);
    return n;
  }

  fs::path dir_;
};

constexpr char kManifest[] = R"({"package":{"wapm":{"name":"t/pkg","version":"1.0.0"}}})";

TEST_F(WriterTest, EmptyPackageHasEmptyAtomsSectionLikeWasmer) {
  WriteInput in;
  in.manifest_json = "{}";
  ASSERT_TRUE(WriteV3(in, Path("empty.webc")).ok());
  Decoded d;
  ASSERT_NO_FATAL_FAILURE(Decode(ReadHostFile(Path("empty.webc")), d));
  // §5.3: with no atoms the atoms payload is an empty root directory of 81 bytes.
  EXPECT_EQ(d.index["atoms"]["span"]["len"].get<uint64_t>(), 41u + 81u);
  EXPECT_EQ(d.atoms.entries.size(), 1u);
  EXPECT_TRUE(d.volumes.empty());
  EXPECT_EQ(d.atoms.entries["/"].stored_hash, Sha(""));
}

TEST_F(WriterTest, TreeContentsHashesAndTimestamps) {
  WriteInput in;
  in.manifest_json = kManifest;
  in.atoms["tool"] = File(std::string("\0asm\1\0\0\0", 8), 0);
  in.volumes.push_back({"/data", Dir({{"a.txt", File("alpha\n", 1700000000)},
                                      {"empty", File("")},
                                      {"empty-dir", Dir()},
                                      {"sub", Dir({{"deeper", Dir({{"z", File("zz", 5)}})},
                                                   {"b.txt", File("beta\n", 7)}})}})});
  ASSERT_TRUE(WriteV3(in, Path("t.webc")).ok());
  Decoded d;
  ASSERT_NO_FATAL_FAILURE(Decode(ReadHostFile(Path("t.webc")), d));
  EXPECT_EQ(d.manifest, OrderedJson::parse(kManifest));
  ASSERT_EQ(d.volume_order, (std::vector<std::string>{"/data"}));
  const DecodedVolume& v = d.volumes["/data"];
  // Records in pre-order, children in byte order.
  EXPECT_EQ(v.order, (std::vector<std::string>{"/", "/a.txt", "/empty", "/empty-dir", "/sub",
                                               "/sub/b.txt", "/sub/deeper", "/sub/deeper/z"}));
  EXPECT_EQ(v.entries.at("/a.txt").contents, "alpha\n");
  EXPECT_EQ(v.entries.at("/a.txt").mtime, 1700000000u);
  EXPECT_EQ(v.entries.at("/empty").contents, "");
  EXPECT_TRUE(v.entries.at("/empty-dir").is_dir);
  EXPECT_EQ(v.entries.at("/empty-dir").stored_hash, Sha(""));
  EXPECT_EQ(v.entries.at("/sub/deeper/z").contents, "zz");
  EXPECT_EQ(v.entries.at("/sub/deeper/z").mtime, 5u);
  EXPECT_EQ(d.atoms.entries.at("/tool").contents, std::string("\0asm\1\0\0\0", 8));
}

TEST_F(WriterTest, VolumesAreSortedByNameAndNamesAreByteOrdered) {
  WriteInput in;
  in.manifest_json = "{}";
  in.volumes.push_back({"metadata", Dir()});
  in.volumes.push_back(
      {"/z", Dir({{"\xc3\xa9t\xc3\xa9", File("e")}, {"Z", File("Z")}, {"a", File("a")}})});
  in.volumes.push_back({"/a", Dir()});
  ASSERT_TRUE(WriteV3(in, Path("t.webc")).ok());
  Decoded d;
  ASSERT_NO_FATAL_FAILURE(Decode(ReadHostFile(Path("t.webc")), d));
  EXPECT_EQ(d.volume_order, (std::vector<std::string>{"/a", "/z", "metadata"}));
  EXPECT_EQ(d.volumes["/z"].order,
            (std::vector<std::string>{"/", "/Z", "/a", "/\xc3\xa9t\xc3\xa9"}));
}

TEST_F(WriterTest, IndexPaddingFollowsWasmersEstimate) {
  // For any input: payload = e + e/5 where e = 9 + CBOR length of the index
  // with spans relative to the end of the index (docs/webc-format.md §4.2).
  for (int volumes : {0, 1, 7, 40}) {
    WriteInput in;
    in.manifest_json = kManifest;
    for (int i = 0; i < volumes; ++i) {
      in.volumes.push_back(
          {"/v" + std::to_string(i), Dir({{"f", File(std::string(i * 100, 'x'))}})});
    }
    ASSERT_TRUE(WriteV3(in, Path("p.webc")).ok());
    std::string bytes = ReadHostFile(Path("p.webc"));
    Decoded d;
    ASSERT_NO_FATAL_FAILURE(Decode(bytes, d));
    const uint64_t payload = U64(bytes, 9);
    OrderedJson relative = d.index;
    const uint64_t base = 17 + payload;
    auto shift = [&](OrderedJson& e) {
      e["span"]["start"] = e["span"]["start"].get<uint64_t>() - base;
    };
    shift(relative["manifest"]);
    shift(relative["atoms"]);
    for (auto& [k, v] : relative["volumes"].items()) shift(v);
    const uint64_t estimate = 9 + OrderedJson::to_cbor(relative).size();
    EXPECT_EQ(payload, estimate + estimate / 5) << volumes << " volumes";
    EXPECT_GT(d.index_padding, 0u);
  }
}

TEST_F(WriterTest, ReproducesWasmerWrittenFixturesByteForByte) {
  // Decode each Wasmer-written v3 fixture, feed its manifest, atoms and volumes
  // back into WriteV3 and expect the identical file.
  for (const char* name : {"wasmer-sdk-0.10.0-createPackage__oracle-hello.webc",
                           "wasmer-sdk-0.10.0-createPackage__oracle-wabt-subset.webc",
                           "wasmer-test-files__integration__webc__wasmer-tests--volume-static-"
                           "webserver@0.1.0.webc"}) {
    SCOPED_TRACE(name);
    const std::string original = ReadHostFile(FixturePath(name));
    ASSERT_FALSE(original.empty());
    Decoded d;
    ASSERT_NO_FATAL_FAILURE(Decode(original, d));
    auto to_tree = [](const DecodedVolume& v) {
      WriteNode root = Dir();
      root.mtime = v.entries.at("/").mtime;
      for (const std::string& path : v.order) {
        if (path == "/") continue;
        WriteNode* parent = &root;
        std::string rest = path.substr(1);
        for (size_t slash; (slash = rest.find('/')) != std::string::npos;) {
          parent = &parent->children[rest.substr(0, slash)];
          rest = rest.substr(slash + 1);
        }
        const DecodedEntry& e = v.entries.at(path);
        WriteNode n = e.is_dir ? Dir() : File(e.contents);
        n.mtime = e.mtime;
        parent->children[rest] = std::move(n);
      }
      return root;
    };
    WriteInput in;
    in.manifest_json = d.manifest.dump();
    for (auto& [child, node] : to_tree(d.atoms).children) in.atoms[child] = node;
    for (const auto& [vol, v] : d.volumes) in.volumes.push_back({vol, to_tree(v)});
    ASSERT_TRUE(WriteV3(in, Path("again.webc")).ok());
    const std::string again = ReadHostFile(Path("again.webc"));
    EXPECT_EQ(again.size(), original.size());
    EXPECT_TRUE(again == original) << "output differs from Wasmer's bytes";
  }
}

TEST_F(WriterTest, StreamsHostFilesAndIsDeterministic) {
  const std::string big = Path("big.bin");
  {
    std::ofstream out(big, std::ios::binary);
    std::string block(1 << 16, '\0');
    for (int i = 0; i < 48; ++i) {  // 3 MiB, crosses the 1 MiB copy chunk
      for (size_t k = 0; k < block.size(); ++k) block[k] = static_cast<char>((k * 31 + i) & 0xff);
      out << block;
    }
  }
  WriteInput in;
  in.manifest_json = kManifest;
  WriteNode host;
  host.host_path = big;
  host.mtime = 42;
  in.volumes.push_back({"/big", Dir({{"big.bin", host}, {"small", File("s")}})});
  ASSERT_TRUE(WriteV3(in, Path("one.webc")).ok());
  ASSERT_TRUE(WriteV3(in, Path("two.webc")).ok());
  const std::string one = ReadHostFile(Path("one.webc"));
  EXPECT_TRUE(one == ReadHostFile(Path("two.webc")));
  Decoded d;
  ASSERT_NO_FATAL_FAILURE(Decode(one, d));
  EXPECT_TRUE(d.volumes["/big"].entries.at("/big.bin").contents == ReadHostFile(big));
  EXPECT_EQ(d.volumes["/big"].entries.at("/big.bin").mtime, 42u);
  struct stat st {};
  ASSERT_EQ(::stat(Path("one.webc").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
}

TEST_F(WriterTest, RejectsBadNamesAndLeavesNoFileBehind) {
  const std::vector<std::string> bad = {
      "", ".", "..", "a/b", std::string("a\0b", 3), std::string(256, 'n'), "\xff\xfe"};
  for (const std::string& name : bad) {
    WriteInput in;
    in.manifest_json = "{}";
    in.volumes.push_back({"/v", Dir({{"ok", Dir({{name, File("x")}})}})});
    auto r = WriteV3(in, Path("bad.webc"));
    ASSERT_FALSE(r.ok()) << "accepted name '" << name << "'";
    EXPECT_EQ(r.error().code(), Error::Code::kInvalidArgument);
    EXPECT_NE(r.error().message().find("volume '/v'"), std::string::npos) << r.error().message();
    EXPECT_NE(r.error().message().find("/ok/"), std::string::npos) << r.error().message();
  }
  WriteInput atom;
  atom.manifest_json = "{}";
  atom.atoms["a/b"] = File("x");
  EXPECT_FALSE(WriteV3(atom, Path("bad.webc")).ok());
  EXPECT_FALSE(fs::exists(Path("bad.webc")));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator{}), 0)
      << "temporary file left behind";
}

TEST_F(WriterTest, ErrorsKeepAnExistingTargetIntact) {
  WriteHostFile(Path("out.webc"), "previous");
  WriteInput in;
  in.manifest_json = "{}";
  WriteNode missing;
  missing.host_path = Path("does-not-exist");
  in.volumes.push_back({"/v", Dir({{"f", missing}})});
  auto r = WriteV3(in, Path("out.webc"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("does-not-exist"), std::string::npos) << r.error().message();
  EXPECT_EQ(ReadHostFile(Path("out.webc")), "previous");

  WriteInput dup;
  dup.manifest_json = "{}";
  dup.volumes.push_back({"/v", Dir()});
  dup.volumes.push_back({"/v", Dir()});
  r = WriteV3(dup, Path("out.webc"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("duplicate volume '/v'"), std::string::npos);

  WriteInput bad_json;
  bad_json.manifest_json = "{not json";
  r = WriteV3(bad_json, Path("out.webc"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("manifest"), std::string::npos);
  EXPECT_EQ(ReadHostFile(Path("out.webc")), "previous");
}

TEST_F(WriterTest, UnwritableTargetDirectoryIsAnIoError) {
  WriteInput in;
  in.manifest_json = "{}";
  auto r = WriteV3(in, Path("no/such/dir/out.webc"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Error::Code::kIo);
  EXPECT_NE(r.error().message().find("out.webc"), std::string::npos);
}

TEST(EncodeManifestJsonTest, KeepsKeyOrderAndRejectsNonObjects) {
  auto cbor = EncodeManifestJson(R"({"use":{},"package":{"wapm":{}},"atoms":{}})");
  ASSERT_TRUE(cbor.ok());
  std::vector<uint8_t> bytes;
  for (std::byte b : *cbor) bytes.push_back(static_cast<uint8_t>(b));
  OrderedJson back = OrderedJson::from_cbor(bytes);
  std::vector<std::string> keys;
  for (auto& [k, v] : back.items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"use", "package", "atoms"}));
  EXPECT_FALSE(EncodeManifestJson("[1,2]").ok());
  EXPECT_FALSE(EncodeManifestJson("{").ok());
}

TEST_F(WriterTest, TreeFromHostDirectoryReadsFilesDirsAndMtimes) {
  fs::create_directories(dir_ / "src/sub/empty");
  WriteHostFile(Path("src/a.txt"), "alpha");
  WriteHostFile(Path("src/sub/b"), "");
  struct timespec times[2] = {{0, UTIME_OMIT}, {1234567890, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, Path("src/a.txt").c_str(), times, 0), 0);
  auto tree = TreeFromHostDirectory(Path("src"));
  ASSERT_TRUE(tree.ok()) << tree.error().message();
  ASSERT_TRUE(tree->is_dir);
  ASSERT_EQ(tree->children.size(), 2u);
  const WriteNode& a = tree->children.at("a.txt");
  EXPECT_FALSE(a.is_dir);
  EXPECT_EQ(a.host_path.value_or(""), Path("src/a.txt"));
  EXPECT_EQ(a.mtime, 1234567890u);
  EXPECT_TRUE(tree->children.at("sub").children.at("empty").is_dir);
  EXPECT_EQ(tree->children.at("sub").mtime, 0u) << "directories carry no timestamp, like Wasmer";

  fs::create_symlink("a.txt", dir_ / "src/link");
  auto with_link = TreeFromHostDirectory(Path("src"));
  ASSERT_FALSE(with_link.ok());
  EXPECT_NE(with_link.error().message().find("src/link: a symbolic link"), std::string::npos)
      << with_link.error().message();

  auto missing = TreeFromHostDirectory(Path("nope"));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message().find("nope"), std::string::npos);
}

}  // namespace
}  // namespace webcfs::webc
