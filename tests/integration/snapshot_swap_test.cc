// Server::SwapSnapshot with a real mount, in process: new lookups see the new
// snapshot, a file opened before the swap keeps reading the old content, and
// the old snapshot is freed once the kernel has forgotten its inodes.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "fuse/server.h"
#include "fuse/snapshot.h"
#include "tests/integration/mount_util.h"

namespace webcfs::testing {
namespace {

std::shared_ptr<const fuse::Snapshot> SnapshotOf(const PackageBuilder& spec,
                                                 const std::string& path) {
  EXPECT_EQ(WritePackage(spec, path), "");
  auto c = webc::Container::OpenFile(path);
  EXPECT_TRUE(c.ok());
  if (!c) return nullptr;
  auto r = std::make_shared<resolver::Resolution>();
  resolver::ResolvedPackage p;
  p.id = spec.name + "@" + spec.version;
  p.source = path;
  p.container = std::move(*c);
  r->packages.push_back(std::move(p));
  resolver::Mapping m;
  m.volume = "/v";
  m.mount_path = "/";
  r->mappings.push_back(m);
  auto s = fuse::Snapshot::Build(r, {});
  EXPECT_TRUE(s.ok()) << (s ? "" : s.error().message());
  return s ? *s : nullptr;
}

TEST(SnapshotSwapTest, OldInodesKeepTheirSnapshotUntilForgotten) {
  TempDir dir("fuse-it-swap");
  PackageBuilder one;
  one.name = "t/pkg";
  one.version = "1.0.0";
  one.Volume("/v", Dir({{"v", File("one")}, {"old-only", File("o")}}));
  PackageBuilder two = one;
  two.version = "2.0.0";
  two.volumes.clear();
  two.Volume("/v", Dir({{"v", File("two!")}, {"new-only", File("n")}}));
  auto first = SnapshotOf(one, dir / "one.webc");
  auto second = SnapshotOf(two, dir / "two.webc");
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);

  const std::string mnt = dir / "mnt";
  ASSERT_EQ(mkdir(mnt.c_str(), 0755), 0);
  auto server = fuse::Server::Create(first, fuse::Options{});
  ASSERT_TRUE(server.ok()) << server.error().message();
  ASSERT_TRUE((*server)->Mount(mnt).ok());
  std::thread loop([&] { (void)(*server)->Run(); });

  EXPECT_EQ(ReadHostFile(mnt + "/v"), "one");
  const int fd = open((mnt + "/v").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  struct stat before;
  ASSERT_EQ(fstat(fd, &before), 0);
  EXPECT_EQ((*server)->generation(), 1u);

  EXPECT_EQ((*server)->SwapSnapshot(second), 2u);
  EXPECT_EQ(ReadHostFile(mnt + "/v"), "two!");
  EXPECT_EQ(ReadHostFile(mnt + "/new-only"), "n");
  struct stat st;
  EXPECT_NE(stat((mnt + "/old-only").c_str(), &st), 0);
  ASSERT_EQ(stat((mnt + "/v").c_str(), &st), 0);
  EXPECT_NE(st.st_ino, before.st_ino);  // the generation is part of the inode number
  EXPECT_EQ(st.st_size, 4);

  // The file opened before the swap still reads the first snapshot.
  char buf[16];
  EXPECT_EQ(pread(fd, buf, sizeof(buf), 0), 3);
  EXPECT_EQ(std::string(buf, 3), "one");
  EXPECT_EQ((*server)->live_snapshots(), 2u);
  close(fd);

  // Make the kernel forget the old inodes; the old snapshot then goes away.
  bool dropped = false;
  for (int i = 0; i < 200 && !dropped; ++i) {
    std::ofstream("/proc/sys/vm/drop_caches") << "2\n";
    dropped = (*server)->live_snapshots() == 1;
    if (!dropped) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(dropped) << "the replaced snapshot is still referenced";
  EXPECT_EQ(ReadHostFile(mnt + "/v"), "two!");

  (*server)->Unmount();
  loop.join();
}

}  // namespace
}  // namespace webcfs::testing
