// Round trips: trees written by WriteV3 / PackDirectory are read back by
// Container identically (names in byte order, types, sizes, bytes, stored
// hashes, mtimes), Verify() passes on everything written, and packing is
// byte-for-byte deterministic.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "resolver/pack/pack.h"
#include "tests/unit/webc/webc_test_util.h"
#include "webc/base/sha256.h"
#include "webc/container.h"
#include "webc/writer.h"

namespace webcfs::webc {
namespace {

namespace fs = std::filesystem;
using namespace ::webcfs::webc::testing;  // NOLINT: test helpers

WriteNode MemFile(std::string contents, uint64_t mtime = 0) {
  WriteNode n;
  n.contents = std::move(contents);
  n.mtime = mtime;
  return n;
}

WriteNode MemDir(std::map<std::string, WriteNode> children = {}) {
  WriteNode n;
  n.is_dir = true;
  n.children = std::move(children);
  return n;
}

// Bytes a WriteNode file stands for.
std::string SourceBytes(const WriteNode& n) {
  return n.host_path ? ReadHostFile(*n.host_path) : n.contents;
}

std::string ReadAllOf(const Container& c, const Entry& e) {
  std::string out;
  // Sized to the file: 10k small files must not each zero a 1 MiB buffer.
  std::vector<std::byte> scratch(static_cast<size_t>(std::min<uint64_t>(e.size, 1 << 20)));
  for (uint64_t off = 0; off < e.size;) {
    auto view = c.ReadFile(e, off, scratch.size(), scratch.data());
    if (!view.ok() || view->empty()) {
      ADD_FAILURE() << "read failed at " << off;
      return out;
    }
    out.append(reinterpret_cast<const char*>(view->data()), view->size());
    off += view->size();
  }
  return out;
}

// Compares a written tree with what the container reads back, recursively.
void ExpectSameTree(const Container& c, const Volume& v, const Entry& dir, const WriteNode& src,
                    const std::string& path) {
  ASSERT_TRUE(dir.is_dir()) << path;
  auto children = v.Children(dir);
  ASSERT_EQ(children.size(), src.children.size()) << path;
  size_t i = 0;
  for (const auto& [name, node] : src.children) {  // std::map: byte order, as stored
    const Entry& e = children[i++];
    const std::string child = path + "/" + name;
    ASSERT_EQ(v.NameOf(e), name) << child;
    ASSERT_EQ(e.is_dir(), node.is_dir) << child;
    EXPECT_EQ(e.mtime, node.mtime) << child;
    auto stored = c.StoredHash(e);
    ASSERT_TRUE(stored.ok() && stored->has_value()) << child;
    if (node.is_dir) {
      ASSERT_NO_FATAL_FAILURE(ExpectSameTree(c, v, e, node, child));
    } else {
      const std::string bytes = SourceBytes(node);
      ASSERT_EQ(e.size, bytes.size()) << child;
      EXPECT_TRUE(ReadAllOf(c, e) == bytes) << child << ": contents differ";
      EXPECT_EQ(ToHex(**stored), ToHex(Sha256::Of(bytes))) << child;
    }
  }
}

class RoundTripTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("webcfs-roundtrip-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Path(const std::string& rel) const { return (dir_ / rel).string(); }

  // Writes `in`, opens it with verification and checks every volume and atom.
  std::unique_ptr<Container> WriteAndCheck(const WriteInput& in, const std::string& name) {
    auto w = WriteV3(in, Path(name));
    EXPECT_TRUE(w.ok()) << w.error().message();
    if (!w.ok()) return nullptr;
    OpenOptions opts;
    opts.verify = true;
    auto c = Container::OpenFile(Path(name), opts);
    EXPECT_TRUE(c.ok()) << c.error().message();
    if (!c.ok()) return nullptr;
    EXPECT_OK((*c)->Verify());
    EXPECT_EQ((*c)->version(), Version::kV3);
    for (const WriteVolume& wv : in.volumes) {
      const Volume* v = (*c)->FindVolume(wv.name);
      EXPECT_NE(v, nullptr) << wv.name;
      if (v != nullptr) ExpectSameTree(**c, *v, v->root(), wv.root, wv.name);
    }
    WriteNode atoms = MemDir(in.atoms);
    ExpectSameTree(**c, (*c)->atoms(), (*c)->atoms().root(), atoms, "atoms:");
    return std::move(*c);
  }

  fs::path dir_;
};

TEST_F(RoundTripTest, NestedEmptyAndUnicodeNames) {
  const std::string tool("\0asm\x01\0\0\0", 8);
  WriteInput in;
  in.manifest_json =
      R"({"package":{"wapm":{"name":"t/round","version":"1.2.3"},)"
      R"("fs":[{"from":null,"volume_name":"/data","mount_path":"/data"}]},)"
      R"("atoms":{"tool":{"kind":"https://webc.org/kind/wasm","signature":"sha256:)" +
      ToBase64(Sha256::Of(tool)) + R"("}}})";
  in.atoms["tool"] = MemFile(tool);
  in.volumes.push_back(
      {"/data",
       MemDir({
           {"empty-file", MemFile("")},
           {"empty-dir", MemDir()},
           {"\xc3\xa9t\xc3\xa9 caf\xc3\xa9", MemFile("accents", 1700000000)},
           {"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", MemDir({{"x", MemFile("y")}})},
           {"\xf0\x9f\x93\xa6 box", MemFile("emoji")},
           {".hidden", MemFile("h")},
           {"...", MemFile("three dots")},
           {"with space", MemFile("s")},
           {std::string(255, 'L'), MemFile("long name")},
           {"a",
            MemDir({{"b", MemDir({{"c", MemDir({{"d", MemDir({{"e", MemFile("deep")}})}})}})}})},
       })});
  in.volumes.push_back({"metadata", MemDir()});
  auto c = WriteAndCheck(in, "round.webc");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->manifest().package_name.value_or(""), "t/round");
  EXPECT_EQ(c->manifest().package_version.value_or(""), "1.2.3");
  ASSERT_EQ(c->volumes().size(), 2u);
  EXPECT_EQ(c->volumes()[0].name(), "/data");
  const Entry* deep = c->volumes()[0].Lookup("/a/b/c/d/e");
  ASSERT_NE(deep, nullptr);
  EXPECT_EQ(ReadAllOf(*c, *deep), "deep");
  // The empty directory's stored hash is SHA-256 of nothing (§5.2).
  const Entry* empty = c->volumes()[0].Lookup("/empty-dir");
  ASSERT_NE(empty, nullptr);
  auto h = c->StoredHash(*empty);
  ASSERT_TRUE(h.ok() && h->has_value());
  EXPECT_EQ(ToHex(**h), ToHex(Sha256::Of(std::string_view())));
}

TEST_F(RoundTripTest, TenThousandEntries) {
  WriteNode root = MemDir();
  for (int d = 0; d < 100; ++d) {
    WriteNode dir = MemDir();
    for (int f = 0; f < 100; ++f) {
      dir.children["file-" + std::to_string(f)] =
          MemFile(std::to_string(d) + "/" + std::to_string(f), static_cast<uint64_t>(d * 100 + f));
    }
    root.children["dir-" + std::to_string(d)] = std::move(dir);
  }
  WriteInput in;
  in.manifest_json = "{}";
  in.volumes.push_back({"/many", std::move(root)});
  auto c = WriteAndCheck(in, "many.webc");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->volumes()[0].entries().size(), 1u + 100u + 100u * 100u);
}

TEST_F(RoundTripTest, LargeHostFileIsStreamed) {
  // 65 MiB, sparse except for marker blocks, so generating it costs nothing.
  const std::string big = Path("big.bin");
  const uint64_t size = (uint64_t{65} << 20) + 123;
  {
    int fd = ::open(big.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(size)), 0);
    for (uint64_t at : {uint64_t{0}, uint64_t{1} << 20, uint64_t{33} << 20, size - 4096}) {
      std::string block(4096, static_cast<char>('A' + (at % 23)));
      ASSERT_EQ(::pwrite(fd, block.data(), block.size(), static_cast<off_t>(at)), 4096);
    }
    ::close(fd);
  }
  WriteNode file;
  file.host_path = big;
  file.mtime = 99;
  WriteInput in;
  in.manifest_json = "{}";
  in.volumes.push_back({"/big", MemDir({{"big.bin", file}, {"small", MemFile("s")}})});

  struct rusage before {};
  ::getrusage(RUSAGE_SELF, &before);
  ASSERT_OK(WriteV3(in, Path("big.webc")));
  struct rusage after {};
  ::getrusage(RUSAGE_SELF, &after);
  // Streaming: the peak resident size grows by far less than the file (ru_maxrss is KiB).
  EXPECT_LT(after.ru_maxrss - before.ru_maxrss, 32 * 1024) << "the writer held the file in memory";

  auto c = Container::OpenFile(Path("big.webc"));
  ASSERT_TRUE(c.ok()) << c.error().message();
  ASSERT_OK((*c)->Verify());
  const Entry* e = (*c)->volumes()[0].Lookup("/big.bin");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->size, size);
  EXPECT_EQ(e->mtime, 99u);
  auto stored = (*c)->StoredHash(*e);
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_EQ(ToHex(**stored), ToHex(Sha256::Of(ReadHostFile(big))));
  // Spot reads across the marker blocks and the end.
  const std::string source = ReadHostFile(big);
  std::vector<std::byte> scratch(8192);
  for (uint64_t at :
       {uint64_t{0}, (uint64_t{1} << 20) - 100, (uint64_t{33} << 20) + 4000, size - 5000}) {
    auto view = (*c)->ReadFile(*e, at, scratch.size(), scratch.data());
    ASSERT_TRUE(view.ok());
    const size_t n = static_cast<size_t>(std::min<uint64_t>(scratch.size(), size - at));
    ASSERT_EQ(view->size(), n);
    EXPECT_EQ(std::memcmp(view->data(), source.data() + at, n), 0) << "at " << at;
  }
}

TEST_F(RoundTripTest, HostTreeAndDeterministicPacking) {
  fs::create_directories(dir_ / "pkg/site/empty");
  fs::create_directories(dir_ / "pkg/site/nested/deeper");
  WriteHostFile(Path("pkg/site/index.html"), "<h1>hi</h1>");
  WriteHostFile(Path("pkg/site/nested/deeper/\xc3\xbc"
                     "ber.txt"),
                "unicode");
  WriteHostFile(Path("pkg/site/nested/zero"), "");
  WriteHostFile(Path("pkg/m.wasm"), std::string("\0asm\x01\0\0\0", 8));
  WriteHostFile(Path("pkg/wasmer.toml"), R"(
[package]
name = "t/det"
version = "0.1.0"
description = "determinism"

[[module]]
name = "m"
source = "m.wasm"

[[command]]
name = "run"
module = "m"
runner = "wasi"

[fs]
"/site" = "site"
)");
  ASSERT_OK(pack::PackDirectory(Path("pkg"), Path("one.webc")));
  ASSERT_OK(pack::PackDirectory(Path("pkg"), Path("two.webc")));
  EXPECT_TRUE(ReadHostFile(Path("one.webc")) == ReadHostFile(Path("two.webc")))
      << "packing the same tree twice gave different bytes";

  auto tree = TreeFromHostDirectory(Path("pkg/site"));
  ASSERT_TRUE(tree.ok());
  OpenOptions opts;
  opts.verify = true;
  auto c = Container::OpenFile(Path("one.webc"), opts);
  ASSERT_TRUE(c.ok()) << c.error().message();
  ASSERT_OK((*c)->Verify());
  const Volume* site = (*c)->FindVolume("/site");
  ASSERT_NE(site, nullptr);
  ExpectSameTree(**c, *site, site->root(), *tree, "/site");
  const Command* run = (*c)->manifest().FindCommand("run");
  ASSERT_NE(run, nullptr);
  ASSERT_TRUE(run->atom.has_value());
  EXPECT_EQ(run->atom->name, "m");
  EXPECT_EQ((*c)->manifest().entrypoint.value_or(""), "run");
  ASSERT_EQ((*c)->manifest().fs.size(), 1u);
  EXPECT_EQ((*c)->manifest().fs[0].volume_name, "/site");
  EXPECT_EQ((*c)->manifest().fs[0].mount_path, "/site");
  ASSERT_NE((*c)->FindAtom("m"), nullptr);
}

TEST_F(RoundTripTest, BundledExamplePackageVerifies) {
  const std::string path =
      std::string(WEBCFS_BINARY_DIR) + "/examples/registry/webcfs--hello@0.1.0.webc";
  OpenOptions opts;
  opts.verify = true;
  auto c = Container::OpenFile(path, opts);
  ASSERT_TRUE(c.ok()) << c.error().message();
  ASSERT_OK((*c)->Verify());
  const Manifest& m = (*c)->manifest();
  EXPECT_EQ(m.package_name.value_or(""), "webcfs/hello");
  EXPECT_EQ(m.package_version.value_or(""), "0.1.0");
  EXPECT_EQ(m.entrypoint.value_or(""), "hello");
  const Command* greet = m.FindCommand("greet");
  ASSERT_NE(greet, nullptr);
  EXPECT_EQ(greet->main_args, (std::vector<std::string>{"Hello", "from", "main-args"}));
  ASSERT_NE((*c)->FindVolume("/public"), nullptr);
  EXPECT_NE((*c)->FindVolume("/public")->Lookup("/docs/guide.txt"), nullptr);
  const Volume* meta = (*c)->FindVolume("metadata");
  ASSERT_NE(meta, nullptr);
  EXPECT_NE(meta->Lookup("/README.md"), nullptr);
  EXPECT_NE(meta->Lookup("/LICENSE"), nullptr);
}

}  // namespace
}  // namespace webcfs::webc
