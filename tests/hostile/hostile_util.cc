#include "tests/hostile/hostile_util.h"

#include <zstd.h>

#include <cstdint>

#include "tests/unit/webc/craft_util.h"

namespace webcfs::testing {
namespace {

using webc::testing::BuildContainer;
using webc::testing::BuildVolume;
using webc::testing::ContainerSpec;
using webc::testing::DirEntrySpec;
using webc::testing::DirRecord;
using webc::testing::FileRecord;
using webc::testing::U64;

// A v3 container whose volume "/v" has `header` and `data` verbatim, mapped at
// "/" (so the refusal cannot be "nothing to mount").
std::string WithVolume(const std::string& header, const std::string& data = "") {
  ContainerSpec spec;
  spec.manifest_json = R"({"package": {"wapm": {"name": "t/hostile", "version": "1.0.0"},)"
                       R"( "fs": [{"volume_name": "/v", "mount_path": "/"}]}})";
  spec.volumes.push_back({"/v", header, data});
  return BuildContainer(spec);
}

// Header offset just past a root directory listing these names.
uint64_t After(const std::vector<std::string>& names) {
  std::vector<DirEntrySpec> e;
  for (const auto& n : names) e.push_back({0, n, ""});
  return DirRecord(true, e).size();
}

// A root directory with one file named `name` (one data byte).
std::string OneFileNamed(const std::string& name) {
  return WithVolume(DirRecord(true, {{After({name}), name, ""}}) + FileRecord(true, 0, 1), "x");
}

// A well-formed volume "/v" ({a/b.txt, c}) with these `fs` mappings (JSON).
std::string WithMappings(const std::string& fs_json, const std::string& use_json = "{}") {
  webc::testing::BuiltVolume v = BuildVolume(true, {{"a/b.txt", "bee"}, {"c", "sea"}});
  ContainerSpec spec;
  spec.manifest_json = R"({"use": )" + use_json +
                       R"(, "package": {"wapm": {"name": "t/hostile", "version": "1.0.0"},)"
                       R"( "fs": )" +
                       fs_json + "}}";
  spec.volumes.push_back({"/v", v.header, v.data});
  return BuildContainer(spec);
}

std::string WithManifestCbor(const std::string& cbor) {
  ContainerSpec spec;
  spec.manifest_cbor = cbor;
  return BuildContainer(spec);
}

// A chain /d/d/d/... `depth` directories deep, each record after its parent.
std::string Chain(int depth) {
  std::string header;
  for (int i = 0; i < depth; ++i) {
    const uint64_t next = header.size() + DirRecord(true, {{0, "d", ""}}).size();
    header += DirRecord(true, {{next, "d", ""}});
  }
  return header + DirRecord(true, {});
}

// A zstd frame of a container header followed by `size` zero bytes: a few
// kilobytes that inflate to `size`.
std::string ZstdBomb(size_t size) {
  std::string plain = WithVolume(DirRecord(true, {}));
  plain.resize(size, '\0');
  std::string out(ZSTD_compressBound(plain.size()), '\0');
  const size_t n = ZSTD_compress(out.data(), out.size(), plain.data(), plain.size(), 1);
  out.resize(ZSTD_isError(n) ? 0 : n);
  return out;
}

}  // namespace

std::vector<HostileCase> HostileCorpus() {
  std::vector<HostileCase> cases;
  auto add = [&](std::string name, std::string bytes, std::string problem) {
    cases.push_back({std::move(name), std::move(bytes), std::move(problem)});
  };
  // Entry names.
  add("name-dotdot", OneFileNamed(".."), "'.' or '..'");
  add("name-dot", OneFileNamed("."), "'.' or '..'");
  add("name-slash", OneFileNamed("a/b"), "contains '/'");
  add("name-nul", OneFileNamed(std::string("a\0b", 3)), "NUL");
  add("name-256-bytes", OneFileNamed(std::string(256, 'n')), "longer than 255");
  // Mappings (docs/resolution.md "Filesystem mappings": `//x/./y` is normalized, not refused).
  add("mount-dotdot", WithMappings(R"([{"volume_name": "/v", "mount_path": "/../etc"}])"),
      "escapes its root");
  add("mount-relative", WithMappings(R"([{"volume_name": "/v", "mount_path": "relative"}])"),
      "is not absolute");
  add("original-path-escape",
      WithMappings(
          R"([{"volume_name": "/v", "mount_path": "/x", "original_path": "/a/../../etc"}])"),
      "escapes its root");
  add("from-unknown-alias",
      WithMappings(R"([{"from": "nope", "volume_name": "/v", "mount_path": "/x"}])"),
      "not a dependency alias");
  // Directory records.
  add("dir-loop", WithVolume(DirRecord(true, {{0, "me", ""}})), "reached twice");
  add("dir-offset-outside-header", WithVolume(DirRecord(true, {{1 << 20, "f", ""}})),
      "outside the volume header");
  add("file-range-past-data-end",
      WithVolume(DirRecord(true, {{After({"f"}), "f", ""}}) + FileRecord(true, 0, 100),
                 std::string(10, 'd')),
      "outside the volume data");
  add("length-near-2-64",
      WithVolume(DirRecord(true, {{After({"f"}), "f", ""}}) +
                 FileRecord(true, UINT64_MAX - 1, UINT64_MAX)),
      "outside the volume data");
  add("dir-record-length-2-64",
      WithVolume(std::string(1, '\x1e') + U64(UINT64_MAX) + std::string(64, '\0')),
      "runs past the end of the volume header");
  add("nesting-5000", WithVolume(Chain(5000)), "deeper than 4096");
  // The manifest's CBOR.
  add("cbor-nesting-100000", WithManifestCbor(std::string(100'000, '\x81') + '\xa0'),
      "nested deeper than 64 levels");
  add("cbor-tag-chain", WithManifestCbor(std::string(100'000, '\xc6') + '\xa0'),
      "nested deeper than 64 levels");
  // A v1 entry of a type other than directory (0) or file (1): the format has
  // no symlinks, and a would-be link to a host path is refused, not served.
  add("v1-symlink-type",
      webc::testing::BuildV1(
          R"({"entrypoint": "x"})", webc::testing::V1Volume("", ""),
          {{"atom", webc::testing::V1Volume(webc::testing::V1Listing({{"link", 2, 0, 11}}),
                                            "/etc/passwd")}}),
      "unknown type 2");
  add("cbor-indefinite-unterminated", WithManifestCbor("\xbf\x67package\xbf"), "truncated");
  // 64 MiB from a few kilobytes, past the limit the tests give
  // (--max-decompressed kTestDecompressLimit).
  cases.push_back({"zstd-bomb", ZstdBomb(64 << 20), "decompresses to more than", true});
  return cases;
}

}  // namespace webcfs::testing
