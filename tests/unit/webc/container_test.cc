// The Container / Volume API on crafted containers: walk order, lookups,
// reads, atoms, argument errors.
#include "webc/container.h"

#include <filesystem>
#include <string>
#include <vector>

#include "tests/unit/webc/craft_util.h"
#include "tests/unit/webc/webc_test_util.h"

namespace webcfs::webc {
namespace {

using namespace webcfs::webc::testing;

std::unique_ptr<Container> OpenSpec(const ContainerSpec& spec) {
  auto c = Container::Open(MemorySource(BuildContainer(spec), "api.webc"));
  EXPECT_TRUE(c.ok()) << c.error().message();
  return c ? std::move(*c) : nullptr;
}

TEST(ContainerApi, WalkIsDepthFirstInStoredOrderWithFullPaths) {
  BuiltVolume v = BuildVolume(
      true, {{"b/y/deep.txt", "1"}, {"b/x", "22"}, {"a", "333"}, {"c/", ""}, {"b/z/", ""}});
  ContainerSpec spec;
  spec.volumes.push_back({"/data", v.header, v.data});
  auto c = OpenSpec(spec);
  ASSERT_NE(c, nullptr);
  const Volume& vol = *c->FindVolume("/data");
  std::vector<std::string> seen;
  ASSERT_OK(WalkVolume(vol, [&](const Entry& e, std::string_view path) -> Result<void> {
    seen.push_back(std::string(path) + (e.is_dir() ? "/" : ""));
    return Ok();
  }));
  EXPECT_EQ(seen, (std::vector<std::string>{"/a", "/b/", "/b/x", "/b/y/", "/b/y/deep.txt", "/b/z/",
                                            "/c/"}));
  // Children are contiguous and in stored (byte) order.
  const Entry* b = vol.Lookup("/b");
  ASSERT_NE(b, nullptr);
  std::vector<std::string> names;
  for (const Entry& e : vol.Children(*b)) names.emplace_back(vol.NameOf(e));
  EXPECT_EQ(names, (std::vector<std::string>{"x", "y", "z"}));
  EXPECT_EQ(vol.IndexOf(vol.root()), 0u);

  // The visitor's error stops the walk and is returned as is.
  int visited = 0;
  auto stopped = WalkVolume(vol, [&](const Entry&, std::string_view) -> Result<void> {
    return ++visited == 3 ? Result<void>(Error::Conflict("stop")) : Ok();
  });
  ASSERT_ERROR(stopped, kConflict);
  EXPECT_EQ(visited, 3);
}

TEST(ContainerApi, LookupAndFind) {
  BuiltVolume v = BuildVolume(false, {{"dir/file", "abc"}, {"top", ""}});
  ContainerSpec spec;
  spec.version = 2;
  spec.volumes.push_back({"atom", v.header, v.data});
  auto c = OpenSpec(spec);
  ASSERT_NE(c, nullptr);
  const Volume& vol = *c->FindVolume("atom");
  EXPECT_EQ(c->FindVolume("missing"), nullptr);
  const Entry* file = vol.Lookup("dir/file");
  ASSERT_NE(file, nullptr);
  EXPECT_EQ(vol.Lookup("/dir/file/"), file) << "trailing slash is an empty segment";
  EXPECT_EQ(vol.Lookup("/dir//file"), file);
  EXPECT_EQ(vol.Lookup(""), &vol.root());
  EXPECT_EQ(vol.Lookup("/dir/./file"), nullptr) << "'.' is not resolved";
  EXPECT_EQ(vol.Lookup("/dir/file/more"), nullptr);
  EXPECT_EQ(vol.Find(*file, "x"), nullptr) << "a file has no children";
  EXPECT_EQ(vol.Find(vol.root(), "di"), nullptr);
  EXPECT_EQ(vol.Find(vol.root(), "dirr"), nullptr);
  EXPECT_EQ(vol.Find(vol.root(), "top"), vol.Lookup("/top"));
  // v2 has no timestamps and no directory hashes; files have hashes.
  EXPECT_EQ(file->mtime, 0u);
  auto dir_hash = c->StoredHash(*vol.Lookup("/dir"));
  ASSERT_OK(dir_hash);
  EXPECT_FALSE(dir_hash->has_value());
  auto file_hash = c->StoredHash(*file);
  ASSERT_OK(file_hash);
  ASSERT_TRUE(file_hash->has_value());
  EXPECT_EQ(**file_hash, Sha256::Of(std::string_view("abc")));
}

TEST(ContainerApi, AtomsAreRootFilesOfTheAtomsVolume) {
  BuiltVolume atoms = BuildVolume(true, {{"tool", std::string("\0asm", 4)}, {"nested/x", "y"}});
  ContainerSpec spec;
  spec.atoms = {"", atoms.header, atoms.data};
  auto c = OpenSpec(spec);
  ASSERT_NE(c, nullptr);
  const Entry* tool = c->FindAtom("tool");
  ASSERT_NE(tool, nullptr);
  EXPECT_EQ(tool->size, 4u);
  EXPECT_EQ(c->FindAtom("nested"), nullptr) << "a directory is not an atom";
  EXPECT_EQ(c->FindAtom("x"), nullptr);
  std::byte scratch[8];
  auto bytes = c->ReadFile(*tool, 1, 8, scratch);
  ASSERT_OK(bytes);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(bytes->data()), bytes->size()), "asm");
}

TEST(ContainerApi, OpenArgumentsAndFileErrors) {
  ASSERT_ERROR(Container::Open(nullptr), kInvalidArgument);
  auto missing = Container::OpenFile("/nonexistent/dir/x.webc");
  ASSERT_ERROR(missing, kIo);
  EXPECT_EQ(missing.error().message().rfind("/nonexistent/dir/x.webc: ", 0), 0u)
      << missing.error().message();
  const TempDir temp("webcfs-api");
  const std::string& dir = temp.path();
  auto not_regular = Container::OpenFile(dir);
  ASSERT_ERROR(not_regular, kInvalidArgument);
}

}  // namespace
}  // namespace webcfs::webc
