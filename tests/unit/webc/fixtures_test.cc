// Every shared fixture (v1, v2, v3; Wasmer-written and synthesized) decodes to
// exactly its entry in expected.json, through the built `webcfs inspect --json`,
// and the Container API returns the same tree, bytes and hashes.
#include <zstd.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/unit/webc/webc_test_util.h"
#include "webc/base/sha256.h"
#include "webc/container.h"

namespace webcfs::webc {
namespace {

using namespace webcfs::webc::testing;
using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;

constexpr const char* kHelloV1 =
    "wasmer-test-files__integration__webc__hello-0.1.0-665d2ddc-80e6-4845-85d3-4587b1693bb7.webc";
constexpr const char* kWabtV1 = "wasmer-test-files__examples__wabt-1.0.37.wasmer";
constexpr const char* kV2Demo = "synth-v2demo.webc";
constexpr const char* kOracleHello = "wasmer-sdk-0.10.0-createPackage__oracle-hello.webc";
constexpr const char* kStaticWebserver =
    "wasmer-test-files__integration__webc__wasmer-tests--volume-static-webserver@0.1.0.webc";

OrderedJson ExpectedFor(const std::string& name) {
  return OrderedJson::parse(ExpectedJsonText()).at(name);
}

std::string Contents(const Container& c, const Entry& file) {
  std::string out;
  std::vector<std::byte> scratch(4096);
  for (uint64_t off = 0;;) {
    auto chunk = c.ReadFile(file, off, scratch.size(), scratch.data());
    EXPECT_TRUE(chunk.ok()) << chunk.error().message();
    if (!chunk || chunk->empty()) break;
    out.append(reinterpret_cast<const char*>(chunk->data()), chunk->size());
    off += chunk->size();
  }
  return out;
}

std::unique_ptr<Container> OpenFixture(const std::string& name, bool verify = false) {
  OpenOptions options;
  options.verify = verify;
  auto c = Container::OpenFile(FixturePath(name), options);
  EXPECT_TRUE(c.ok()) << c.error().message();
  return c ? std::move(*c) : nullptr;
}

class FixtureTest : public ::testing::TestWithParam<std::string> {};

TEST_P(FixtureTest, InspectJsonEqualsExpected) {
  const std::string name = GetParam();
  CommandResult r = RunCommand({WebcfsBinary(), "inspect", "--json", FixturePath(name)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  const OrderedJson got = OrderedJson::parse(r.out);
  const OrderedJson want = ExpectedFor(name);
  // Whole-object equality (maps unordered) ...
  EXPECT_EQ(Json::parse(r.out), Json(want)) << "got:\n" << got.dump(2);
  // ... and manifest order where it is part of the contract.
  auto keys = [](const OrderedJson& j) {
    std::vector<std::string> k;
    for (const auto& [key, v] : j.items()) k.push_back(key);
    return k;
  };
  EXPECT_EQ(keys(got.at("commands")), keys(want.at("commands")));
  EXPECT_EQ(keys(got.at("uses")), keys(want.at("uses")));
  EXPECT_EQ(keys(got.at("volumes")), keys(want.at("volumes")));
}

TEST_P(FixtureTest, VerifiesAndStoredHashesMatchContents) {
  const std::string name = GetParam();
  auto c = OpenFixture(name, /*verify=*/true);
  ASSERT_NE(c, nullptr);
  ASSERT_OK(c->Verify());
  const OrderedJson want = ExpectedFor(name);
  for (const Volume& v : c->volumes()) {
    const OrderedJson& tree = want.at("volumes").at(v.name());
    size_t seen = 0;
    ASSERT_OK(WalkVolume(v, [&](const Entry& e, std::string_view path) -> Result<void> {
      ++seen;
      const OrderedJson& w = tree.at(std::string(path));
      EXPECT_EQ(w.at("type"), e.is_file() ? "file" : "dir") << path;
      // Lookup finds the same entry by path, Find by name.
      EXPECT_EQ(v.Lookup(path), &e) << path;
      if (e.is_file()) {
        const std::string bytes = Contents(*c, e);
        EXPECT_EQ(bytes.size(), w.at("size").get<uint64_t>()) << path;
        EXPECT_EQ(ToHex(Sha256::Of(bytes)), w.at("sha256")) << path;
        auto stored = c->StoredHash(e);
        EXPECT_TRUE(stored.ok());
        if (c->version() != Version::kV1) {
          EXPECT_TRUE(stored->has_value()) << path;
          if (stored->has_value()) {
            EXPECT_EQ(ToHex(**stored), w.at("sha256")) << path;
          }
        } else {
          EXPECT_FALSE(stored->has_value()) << "v1 stores no per-file hash";
        }
      }
      if (c->version() == Version::kV3) {
        EXPECT_EQ(e.mtime, w.at("mtime").get<uint64_t>());
      }
      return Ok();
    }));
    EXPECT_EQ(seen, tree.size()) << v.name();
  }
  for (const auto& [atom, w] : want.at("atoms").items()) {
    const Entry* e = c->FindAtom(atom);
    ASSERT_NE(e, nullptr) << atom;
    EXPECT_EQ(ToHex(Sha256::Of(Contents(*c, *e))), w.at("sha256"));
    const AtomInfo* info = c->manifest().FindAtom(atom);
    ASSERT_NE(info, nullptr);
    EXPECT_EQ(info->signature, w.at("signature"));
  }
}

TEST_P(FixtureTest, ZstdCompressedOpensIdentically) {
  const std::string name = GetParam();
  const std::string raw = ReadHostFile(FixturePath(name));
  std::string packed(ZSTD_compressBound(raw.size()), '\0');
  size_t n = ZSTD_compress(packed.data(), packed.size(), raw.data(), raw.size(), 1);
  ASSERT_FALSE(ZSTD_isError(n));
  packed.resize(n);
  const TempDir temp("webcfs-zst");
  const std::string& dir = temp.path();
  const std::string path = dir + "/" + name + ".zst";
  WriteHostFile(path, packed);
  CommandResult r = RunCommand({WebcfsBinary(), "inspect", "--json", "--verify", path});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Json::parse(r.out), Json(ExpectedFor(name)));
}

INSTANTIATE_TEST_SUITE_P(All, FixtureTest, ::testing::ValuesIn(FixtureNames()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string s = info.param;
                           for (char& ch : s) {
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return s;
                         });

TEST(FixtureDetails, V1HelloTreeAndBytes) {
  auto c = OpenFixture(kHelloV1);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->version(), Version::kV1);
  ASSERT_EQ(c->volumes().size(), 2u);
  EXPECT_EQ(c->volumes()[0].name(), "atom");
  EXPECT_EQ(c->volumes()[1].name(), "metadata");
  const Volume* atom = c->FindVolume("atom");
  ASSERT_NE(atom, nullptr);
  const Entry* pub = atom->Find(atom->root(), "public");
  ASSERT_NE(pub, nullptr);
  EXPECT_TRUE(pub->is_dir());
  const Entry* index = atom->Lookup("public/index.html");
  ASSERT_NE(index, nullptr);
  EXPECT_EQ(index, atom->Lookup("//public///index.html"));
  EXPECT_EQ(index->size, 1099u);
  EXPECT_EQ(atom->Lookup("/public/index.html/x"), nullptr) << "a file has no children";
  EXPECT_EQ(atom->Lookup("/public/../public"), nullptr) << "'..' is not resolved";
  EXPECT_EQ(atom->Lookup("/"), &atom->root());
  EXPECT_EQ(c->atoms().root().child_count(), 0u);
  EXPECT_EQ(c->v1_checksum().type, "----------------");
  auto valid = c->CheckV1Checksum();
  ASSERT_OK(valid);
  EXPECT_FALSE(valid->has_value());
  EXPECT_FALSE(c->index_padding().has_value());
}

TEST(FixtureDetails, V1WabtChecksumIsValid) {
  auto c = OpenFixture(kWabtV1, /*verify=*/true);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->v1_checksum().type, "sha256----------");
  ASSERT_TRUE(c->v1_checksum().valid.has_value());
  EXPECT_TRUE(*c->v1_checksum().valid);
  // Atoms volume is sorted by name, the manifest is not (README).
  std::vector<std::string> stored;
  for (const Entry& e : c->atoms().Children(c->atoms().root())) {
    stored.emplace_back(c->atoms().NameOf(e));
  }
  EXPECT_TRUE(std::is_sorted(stored.begin(), stored.end()));
  EXPECT_EQ(c->manifest().atoms.front().name, "wabt");
  EXPECT_EQ(c->manifest().atoms[1].name, "wat2wasm");
}

TEST(FixtureDetails, V2DemoReadsWithOffsetsAndClamping) {
  auto c = OpenFixture(kV2Demo);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->version(), Version::kV2);
  EXPECT_EQ(c->index_padding(), std::optional<uint64_t>(97));
  const Volume* atom = c->FindVolume("atom");
  ASSERT_NE(atom, nullptr);
  EXPECT_EQ(Contents(*c, *atom->Lookup("/assets/readme.txt")), "hello v2\n");
  const Entry* deep = atom->Lookup("/assets/nested/deep.bin");
  ASSERT_NE(deep, nullptr);
  std::string bytes = Contents(*c, *deep);
  ASSERT_EQ(bytes.size(), 768u);
  for (size_t i = 0; i < bytes.size(); ++i) ASSERT_EQ(static_cast<uint8_t>(bytes[i]), i % 256);
  std::byte scratch[16];
  auto mid = c->ReadFile(*deep, 760, 16, scratch);  // clamped to the file's end
  ASSERT_OK(mid);
  ASSERT_EQ(mid->size(), 8u);
  EXPECT_EQ(static_cast<uint8_t>((*mid)[0]), 760 % 256);
  auto past = c->ReadFile(*deep, 768, 16, scratch);
  ASSERT_OK(past);
  EXPECT_TRUE(past->empty());
  ASSERT_ERROR(c->ReadFile(atom->root(), 0, 1, scratch), kInvalidArgument);
  const Entry* empty_dir = atom->Lookup("/assets/zz-dir");
  ASSERT_NE(empty_dir, nullptr);
  EXPECT_TRUE(empty_dir->is_dir());
  EXPECT_EQ(empty_dir->child_count(), 0u);
  EXPECT_EQ(atom->Lookup("/assets/nested/empty.txt")->size, 0u);
  EXPECT_EQ(atom->Find(atom->root(), "nope"), nullptr);
  // fs mapping uses the webc 5.x spelling original_path.
  ASSERT_EQ(c->manifest().fs.size(), 1u);
  EXPECT_EQ(c->manifest().fs[0].original_path, std::optional<std::string>("/assets"));
  EXPECT_EQ(c->manifest().fs[0].volume_name, "atom");
  EXPECT_FALSE(c->manifest().fs[0].from.has_value());
}

TEST(FixtureDetails, V3OracleHelloTimestampsHashesAndWholeFileHash) {
  auto c = OpenFixture(kOracleHello);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->version(), Version::kV3);
  const Volume* data = c->FindVolume("/data");
  ASSERT_NE(data, nullptr);
  const Entry* b = data->Lookup("/sub/b.txt");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(Contents(*c, *b), "beta\n");
  EXPECT_EQ(b->mtime, 1700000000000u);
  // v3 directories store a hash: SHA-256 of the children's hashes.
  const Entry* sub = data->Lookup("/sub");
  auto sub_hash = c->StoredHash(*sub);
  ASSERT_OK(sub_hash);
  ASSERT_TRUE(sub_hash->has_value());
  auto b_hash = c->StoredHash(*b);
  ASSERT_OK(b_hash);
  EXPECT_EQ(**sub_hash,
            Sha256::Of(ByteView(reinterpret_cast<const std::byte*>((*b_hash)->data()), 32)));
  auto whole = c->WholeFileHash();
  ASSERT_OK(whole);
  EXPECT_EQ(ToHex(*whole), "a6a32da63aa9af7cd58045f0d111c24c659e74716974b75bf3c8587411497ec7");
  EXPECT_FALSE(c->manifest().package_name.has_value());
  EXPECT_EQ(c->manifest().wapm_json, "{}");
  EXPECT_TRUE(c->manifest().has_fs);
}

TEST(FixtureDetails, V3LegacyAtomAndMainArgs) {
  auto c = OpenFixture(kStaticWebserver);
  ASSERT_NE(c, nullptr);
  const Command* script = c->manifest().FindCommand("script");
  ASSERT_NE(script, nullptr);
  ASSERT_TRUE(script->atom.has_value());
  EXPECT_EQ(script->atom->name, "webserver");
  EXPECT_EQ(script->atom->dependency, std::optional<std::string>("wasmer/static-web-server"));
  EXPECT_EQ(script->main_args, (std::vector<std::string>{"-w", "/settings/config.toml"}));
  EXPECT_FALSE(script->annotations_empty);
  ASSERT_EQ(c->manifest().uses.size(), 1u);
  EXPECT_EQ(c->manifest().uses[0].specifier,
            std::optional<std::string>("wasmer/static-web-server@^1"));
}

TEST(InspectCommand, FailsWithOneLineNamingTheFile) {
  const TempDir temp("webcfs-inspect");
  const std::string& dir = temp.path();
  const std::string missing = dir + "/missing.webc";
  CommandResult r = RunCommand({WebcfsBinary(), "inspect", missing});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err.rfind("webcfs: " + missing + ": ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;

  // A truncated container: still one line, naming the file.
  const std::string raw = ReadHostFile(FixturePath(kOracleHello));
  const std::string cut = dir + "/cut.webc";
  WriteHostFile(cut, raw.substr(0, raw.size() / 2));
  r = RunCommand({WebcfsBinary(), "inspect", "--json", cut});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err.rfind("webcfs: " + cut + ": ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST(InspectCommand, HumanSummaryAndVerify) {
  CommandResult r = RunCommand({WebcfsBinary(), "inspect", "--verify", FixturePath(kV2Demo)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("package:    oracle/v2demo@0.1.0"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("command:    hello -> hello"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("volume:     atom: 3 files, 3 directories, 777 bytes"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("verified:"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace webcfs::webc
