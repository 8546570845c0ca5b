// DecodeManifest: the typed view (§6, §7), leniency (unknown keys, nulls,
// spellings), strictness on wrong types, and hostile CBOR.
#include "webc/manifest.h"

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/unit/webc/webc_test_util.h"
#include "webc/manifest_internal.h"

namespace webcfs::webc {
namespace {

using OrderedJson = nlohmann::ordered_json;

std::vector<std::byte> Cbor(const std::string& json) {
  std::vector<uint8_t> bytes = OrderedJson::to_cbor(OrderedJson::parse(json));
  const auto* p = reinterpret_cast<const std::byte*>(bytes.data());
  return {p, p + bytes.size()};
}

std::vector<std::byte> Raw(std::initializer_list<uint8_t> bytes) {
  std::vector<std::byte> out;
  for (uint8_t b : bytes) out.push_back(std::byte{b});
  return out;
}

Result<Manifest> Decode(const std::string& json) { return DecodeManifest(Cbor(json)); }

TEST(ManifestTest, MainArgsInAllThreeSpellings) {
  for (const char* key : {"main-args", "mainArgs", "main_args"}) {
    auto m = Decode(std::string(R"({"commands": {"c": {"runner": "https://webc.org/runner/wasi",
        "annotations": {"wasi": {"atom": "a", ")") +
                    key + R"(": ["-x", "y"]}}}}})");
    ASSERT_OK(m);
    ASSERT_EQ(m->commands.size(), 1u) << key;
    EXPECT_EQ(m->commands[0].main_args, (std::vector<std::string>{"-x", "y"})) << key;
    ASSERT_TRUE(m->commands[0].atom.has_value());
    EXPECT_EQ(m->commands[0].atom->name, "a");
    EXPECT_FALSE(m->commands[0].atom->dependency.has_value());
  }
}

TEST(ManifestTest, LegacyAtomStringsSplitAtTheLastColon) {
  auto m = Decode(R"({"commands": {
      "w": {"runner": "r", "annotations": {"wasi": {"atom": "wasmer/static-web-server:webserver"}}},
      "e": {"runner": "r", "annotations": {"emscripten": {"atom": "em"}}},
      "q": {"runner": "r", "annotations": {"wasi": {"atom": "registry:ns/pkg:tool"}}}}})");
  ASSERT_OK(m);
  ASSERT_EQ(m->commands.size(), 3u);
  EXPECT_EQ(m->commands[0].atom->name, "webserver");
  EXPECT_EQ(m->commands[0].atom->dependency,
            std::optional<std::string>("wasmer/static-web-server"));
  EXPECT_EQ(m->commands[1].atom->name, "em");
  EXPECT_EQ(m->commands[2].atom->name, "tool");
  EXPECT_EQ(m->commands[2].atom->dependency, std::optional<std::string>("registry:ns/pkg"));
  EXPECT_EQ(ParseLegacyAtom("plain").name, "plain");
  EXPECT_FALSE(ParseLegacyAtom("plain").dependency.has_value());
}

TEST(ManifestTest, AtomAnnotationWinsOverLegacyString) {
  auto m = Decode(R"({"commands": {"c": {"runner": "r", "annotations": {
      "wasi": {"atom": "old:legacy"}, "atom": {"name": "new", "dependency": "dep"}}}}})");
  ASSERT_OK(m);
  EXPECT_EQ(m->commands[0].atom->name, "new");
  EXPECT_EQ(m->commands[0].atom->dependency, std::optional<std::string>("dep"));
  EXPECT_FALSE(m->commands[0].annotations_empty);
}

TEST(ManifestTest, CommandWithoutAnnotations) {
  auto m = Decode(R"({"commands": {"dash": {"runner": "https://webc.org/runner/wasi@unstable_",
      "annotations": {}}, "bare": {"runner": "x"}}})");
  ASSERT_OK(m);
  EXPECT_FALSE(m->commands[0].atom.has_value());
  EXPECT_TRUE(m->commands[0].annotations_empty);
  EXPECT_EQ(m->commands[0].annotations_json, "{}");
  EXPECT_TRUE(m->commands[1].annotations_empty);
  EXPECT_EQ(m->commands[1].annotations_json, "{}");
}

TEST(ManifestTest, WapmEmptyAbsentAndFull) {
  auto empty = Decode(R"({"package": {"wapm": {}}})");
  ASSERT_OK(empty);
  EXPECT_FALSE(empty->package_name.has_value());
  EXPECT_FALSE(empty->package_version.has_value());
  EXPECT_EQ(empty->wapm_json, "{}");

  auto absent = Decode(R"({"entrypoint": "x"})");
  ASSERT_OK(absent);
  EXPECT_EQ(absent->wapm_json, "null");
  EXPECT_EQ(absent->entrypoint, std::optional<std::string>("x"));

  auto full = Decode(
      R"({"package": {"wapm": {"name": "ns/p", "version": "1.2.3", "readme": {"volume": "m", "path": "R"}}}})");
  ASSERT_OK(full);
  EXPECT_EQ(full->package_name, std::optional<std::string>("ns/p"));
  EXPECT_EQ(full->package_version, std::optional<std::string>("1.2.3"));
  EXPECT_EQ(OrderedJson::parse(full->wapm_json)["readme"]["path"], "R");
}

TEST(ManifestTest, FsMappingsBothPathSpellings) {
  auto m = Decode(R"({"package": {"fs": [
      {"from": null, "volume_name": "atom", "original_path": "/assets", "mount_path": "/a"},
      {"from": "dep", "volume_name": "atom", "host_path": "/h", "mount_path": "/b"},
      {"volume_name": "/data", "mount_path": "/data", "host_path": null}]}})");
  ASSERT_OK(m);
  EXPECT_TRUE(m->has_fs);
  ASSERT_EQ(m->fs.size(), 3u);
  EXPECT_FALSE(m->fs[0].from.has_value());
  EXPECT_EQ(m->fs[0].original_path, std::optional<std::string>("/assets"));
  EXPECT_EQ(m->fs[0].mount_path, "/a");
  EXPECT_EQ(m->fs[1].from, std::optional<std::string>("dep"));
  EXPECT_EQ(m->fs[1].original_path, std::optional<std::string>("/h"));
  EXPECT_FALSE(m->fs[2].original_path.has_value());
  EXPECT_EQ(m->fs[2].volume_name, "/data");

  auto none = Decode(R"({"package": {"fs": []}})");
  ASSERT_OK(none);
  EXPECT_TRUE(none->has_fs);
  EXPECT_TRUE(none->fs.empty());
  auto absent = Decode(R"({"package": {}})");
  ASSERT_OK(absent);
  EXPECT_FALSE(absent->has_fs);
}

TEST(ManifestTest, NullsAndUnknownKeysAreTolerated) {
  auto m = Decode(R"({"use": null, "atoms": null, "entrypoint": null, "bindings": null,
      "future-key": [1, 2, {"x": null}],
      "package": {"wapm": null, "fs": null, "something": 1},
      "commands": {"c": {"runner": null, "annotations": null, "extra": true},
                   "w": {"runner": "r", "annotations": {"wasi": {"atom": "w", "package": null, "main_args": null}}}}})");
  ASSERT_OK(m);
  EXPECT_TRUE(m->uses.empty());
  EXPECT_TRUE(m->atoms.empty());
  EXPECT_FALSE(m->entrypoint.has_value());
  EXPECT_EQ(m->bindings_json, "[]");
  EXPECT_FALSE(m->has_fs);
  ASSERT_EQ(m->commands.size(), 2u);
  EXPECT_EQ(m->commands[0].runner, "");
  EXPECT_TRUE(m->commands[1].main_args.empty());
  EXPECT_EQ(m->commands[1].atom->name, "w");
}

TEST(ManifestTest, UsesKeepManifestOrderAndEmbeddedManifests) {
  auto m = Decode(
      R"({"use": {"zeta": "ns/zeta@^1", "alpha": {"package": {"wapm": {"name": "v/x", "version": "0.1.0"}}},
      "mid": "https://example.com/x.webc"}})");
  ASSERT_OK(m);
  ASSERT_EQ(m->uses.size(), 3u);
  EXPECT_EQ(m->uses[0].alias, "zeta");
  EXPECT_EQ(m->uses[0].specifier, std::optional<std::string>("ns/zeta@^1"));
  EXPECT_EQ(m->uses[1].alias, "alpha");
  ASSERT_NE(m->uses[1].embedded, nullptr);
  EXPECT_EQ(m->uses[1].embedded->package_name, std::optional<std::string>("v/x"));
  EXPECT_EQ(m->uses[2].alias, "mid");
  EXPECT_NE(m->FindUse("alpha"), nullptr);
  EXPECT_EQ(m->FindUse("nope"), nullptr);
}

TEST(ManifestTest, CommandsAndAtomsKeepManifestOrder) {
  auto m = Decode(R"({"atoms": {"z": {"kind": "k", "signature": "sha256:AAAA"}, "a": {"kind": "k"}},
      "commands": {"zz": {"runner": "r"}, "aa": {"runner": "r"}, "mm": {"runner": "r"}},
      "bindings": [{"name": "b", "kind": "wit@0.1.0", "annotations": {"wit": {}}}]})");
  ASSERT_OK(m);
  ASSERT_EQ(m->commands.size(), 3u);
  EXPECT_EQ(m->commands[0].name, "zz");
  EXPECT_EQ(m->commands[1].name, "aa");
  EXPECT_EQ(m->commands[2].name, "mm");
  ASSERT_EQ(m->atoms.size(), 2u);
  EXPECT_EQ(m->atoms[0].name, "z");
  EXPECT_EQ(m->atoms[0].signature, "sha256:AAAA");
  EXPECT_EQ(m->atoms[1].signature, "");
  EXPECT_EQ(OrderedJson::parse(m->bindings_json)[0]["kind"], "wit@0.1.0");
  EXPECT_EQ(m->FindCommand("mm"), &m->commands[2]);
  EXPECT_EQ(m->FindAtom("a"), &m->atoms[1]);
}

TEST(ManifestTest, WrongTypesNameTheKeyPath) {
  struct Case {
    const char* json;
    const char* path;
  } cases[] = {
      {R"({"commands": {"py": {"runner": 5}}})", "commands.py.runner"},
      {R"({"entrypoint": ["x"]})", "entrypoint"},
      {R"({"use": {"dep": 3}})", "use.dep"},
      {R"({"package": {"fs": {"a": 1}}})", "package.fs"},
      {R"({"package": {"fs": [{"volume_name": "v"}]}})", "package.fs[0].mount_path"},
      {R"({"package": {"wapm": {"name": 1}}})", "package.wapm.name"},
      {R"({"commands": {"c": {"annotations": {"wasi": {"main-args": "notalist"}}}}})",
       "commands.c.annotations.wasi.main-args"},
      {R"({"commands": {"c": {"annotations": {"wasi": {"main-args": ["ok", 7]}}}}})",
       "commands.c.annotations.wasi.main-args[1]"},
      {R"({"commands": {"c": {"annotations": {"atom": {"dependency": "d"}}}}})",
       "commands.c.annotations.atom.name"},
      {R"({"atoms": {"a": {"kind": {}}}})", "atoms.a.kind"},
      {R"(["not", "a", "map"])", "top level"},
  };
  for (const Case& c : cases) {
    auto m = Decode(c.json);
    ASSERT_ERROR(m, kCorrupt);
    EXPECT_NE(m.error().message().find(c.path), std::string::npos)
        << c.json << " -> " << m.error().message();
    EXPECT_EQ(m.error().message().rfind("manifest: ", 0), 0u) << m.error().message();
  }
}

TEST(ManifestTest, DeepNestingIsRefusedBeforeDecoding) {
  // 100k nested one-element arrays, maps, tags and indefinite arrays: each
  // would recurse 100k deep inside a recursive decoder.
  for (uint8_t opener : {uint8_t{0x81}, uint8_t{0xc0}, uint8_t{0x9f}}) {
    std::vector<std::byte> deep(100000, std::byte{opener});
    deep.push_back(std::byte{0});
    auto m = DecodeManifest(deep);
    ASSERT_ERROR(m, kResourceLimit);
    EXPECT_NE(m.error().message().find("deeper than 64"), std::string::npos);
  }
  // A map of depth 70 inside a valid manifest.
  std::string json = R"({"package": {"x": )";
  for (int i = 0; i < 70; ++i) json += "[";
  for (int i = 0; i < 70; ++i) json += "]";
  json += "}}";
  ASSERT_ERROR(Decode(json), kResourceLimit);
  ManifestLimits generous;
  generous.max_depth = 100;
  ASSERT_OK(DecodeManifest(Cbor(json), generous));
}

TEST(ManifestTest, ByteStringsAndTagsDecodeSafely) {
  // {"bindings": [h'0102'], "entrypoint": 32("x")}
  auto bytes =
      Raw({0xa2, 0x68, 'b', 'i', 'n', 'd', 'i', 'n', 'g', 's', 0x81, 0x42, 0x01, 0x02, 0x6a,
           'e',  'n',  't', 'r', 'y', 'p', 'o', 'i', 'n', 't', 0xd8, 0x20, 0x61, 'x'});
  auto m = DecodeManifest(bytes);
  ASSERT_OK(m);
  EXPECT_EQ(m->entrypoint, std::optional<std::string>("x"));
  EXPECT_NE(m->bindings_json.find("bytes"), std::string::npos) << m->bindings_json;

  // A byte string where a string is expected is a type error, not a crash.
  auto wrong = DecodeManifest(
      Raw({0xa1, 0x6a, 'e', 'n', 't', 'r', 'y', 'p', 'o', 'i', 'n', 't', 0x41, 'x'}));
  ASSERT_ERROR(wrong, kCorrupt);
  EXPECT_NE(wrong.error().message().find("entrypoint"), std::string::npos);
}

TEST(ManifestTest, InvalidUtf8IsKeptAndRenderedSafely) {
  // {"entrypoint": "\xff\xfe"}
  auto m = DecodeManifest(
      Raw({0xa1, 0x6a, 'e', 'n', 't', 'r', 'y', 'p', 'o', 'i', 'n', 't', 0x62, 0xff, 0xfe}));
  ASSERT_OK(m);
  EXPECT_EQ(m->entrypoint->size(), 2u);
  EXPECT_TRUE(OrderedJson::accept(m->json)) << m->json;
}

TEST(ManifestTest, MalformedCbor) {
  ASSERT_ERROR(DecodeManifest({}), kCorrupt);
  ASSERT_ERROR(DecodeManifest(Raw({0xa1, 0x61})), kCorrupt);  // truncated
  // Text string claiming 2^63 bytes, array claiming 2^40 elements: refused
  // before anything is allocated.
  ASSERT_ERROR(DecodeManifest(Raw({0x7b, 0x80, 0, 0, 0, 0, 0, 0, 0, 'x'})), kCorrupt);
  ASSERT_ERROR(DecodeManifest(Raw({0x9b, 0, 0, 1, 0, 0, 0, 0, 0, 0})), kCorrupt);
  ASSERT_ERROR(DecodeManifest(Raw({0xa1, 0x01, 0x02})), kCorrupt);  // non-string key
  ASSERT_ERROR(DecodeManifest(Raw({0xff})), kCorrupt);              // stray break
  ASSERT_ERROR(DecodeManifest(Raw({0xbc})), kCorrupt);              // reserved info 28
  // Trailing zeros (padding) are fine, anything else after the item is not.
  auto padded = Cbor(R"({"entrypoint": "x"})");
  padded.resize(padded.size() + 5);
  ASSERT_OK(DecodeManifest(padded));
  padded.back() = std::byte{1};
  ASSERT_ERROR(DecodeManifest(padded), kCorrupt);
}

TEST(ManifestTest, SizeLimit) {
  ManifestLimits small;
  small.max_bytes = 8;
  ASSERT_ERROR(DecodeManifest(Cbor(R"({"entrypoint": "longer than eight"})"), small),
               kResourceLimit);
}

TEST(ManifestTest, IndefiniteLengthItemsDecode) {
  // {_ "entrypoint": (_ "a", "b")}  — indefinite map and chunked text.
  auto m = DecodeManifest(Raw({0xbf, 0x6a, 'e', 'n', 't', 'r', 'y', 'p', 'o', 'i', 'n', 't', 0x7f,
                               0x61, 'a', 0x61, 'b', 0xff, 0xff}));
  ASSERT_OK(m);
  EXPECT_EQ(m->entrypoint, std::optional<std::string>("ab"));
}

}  // namespace
}  // namespace webcfs::webc
