// Sequential reads prefetch from the container file (fuse/server.cc,
// PrefetchAhead): once the kernel asks for a whole readahead window, the
// daemon asks the container's page cache for the next MiB of the same file,
// so the disk works ahead of the stream. Observed with mincore(2) on the
// container after its pages were dropped: no timing involved.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "tests/integration/mount_util.h"

namespace webcfs::testing {
namespace {

constexpr size_t kKiB = 1024;
constexpr size_t kFileSize = 4 << 20;
constexpr size_t kFirstRead = 128 * kKiB;  // the kernel's whole readahead window

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

void DropPageCache(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0) << path << ": " << std::strerror(errno);
  ASSERT_EQ(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
  close(fd);
}

TEST(ReadAheadTest, SequentialReadPrefetchesTheNextMebibyteOfTheContainer) {
  TempDir dir("fuse-it-readahead");
  const std::string container = dir / "pkg.webc";
  const std::string content = RandomBytes(kFileSize, 11);
  PackageBuilder p;
  p.name = "readahead/pkg";
  p.version = "1.0.0";
  p.Volume("/v", Dir({{"big.bin", File(content)}})).Fs("/", "/v");
  ASSERT_EQ(WritePackage(p, container), "");
  const std::string bytes = ReadHostFile(container);
  const size_t at = bytes.find(content.substr(0, 4096));
  ASSERT_NE(at, std::string::npos) << "file bytes not stored verbatim in " << container;

  for (const char* splice : {"", "no_splice"}) {
    SCOPED_TRACE(std::string("mount options: ") + splice);
    // No cache: the daemon reads `container` itself.
    std::vector<std::string> args = {"--no-cache", "--no-meta-dir"};
    if (*splice) args.insert(args.end(), {"-o", splice});
    Mount m(container, args);
    ASSERT_TRUE(m.ok()) << m.result().err;
    DropPageCache(container);
    // The first READ is for bytes [0, 128 KiB) and prefetches up to
    // 1 MiB + 128 KiB before it is answered. The container's own readahead
    // reaches 1 MiB here (8 MiB device readahead); the kernel's second,
    // asynchronous READ may or may not have come yet, so it is not relied on.
    const size_t ahead_begin = at + 1024 * kKiB, ahead_end = at + 1152 * kKiB;
    const Residency before = PageResidency(container, ahead_begin, ahead_end);
    ASSERT_GT(before.pages, 0u) << "cannot map " << container;
    ASSERT_EQ(before.resident, 0u) << "the container's pages were not dropped";

    const int fd = open((m / "big.bin").c_str(), O_RDONLY);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    std::string got(kFirstRead, '\0');
    ASSERT_EQ(pread(fd, got.data(), got.size(), 0), static_cast<ssize_t>(got.size()));
    close(fd);
    EXPECT_EQ(got, content.substr(0, kFirstRead));

    EXPECT_TRUE(PageResidency(container, ahead_begin, ahead_end).all())
        << "bytes 1 MiB - 1.125 MiB of big.bin were not prefetched";
    // A MiB ahead, not the whole file: its last 2 MiB stay on disk.
    const Residency tail = PageResidency(container, at + 2 * (1 << 20), at + kFileSize);
    EXPECT_GT(tail.pages, 0u);
    EXPECT_EQ(tail.resident, 0u);
  }
}

}  // namespace
}  // namespace webcfs::testing
