#include "webc/base/regular_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace webcfs::webc {
namespace {

const char* FileTypeName(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a file";
}

}  // namespace

Result<UniqueFd> OpenRegularFile(const std::string& path, struct stat* st_out) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd.valid()) return Error::Io(path, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Error::Io(path, errno);
  if (!S_ISREG(st.st_mode)) {
    return Error::InvalidArgument(path + ": is not a regular file (" + FileTypeName(st.st_mode) +
                                  ")");
  }
  // Reads of a regular file block as usual (a FUSE-backed file may care).
  const int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) != 0) {
    return Error::Io(path, errno);
  }
  if (st_out != nullptr) *st_out = st;
  return fd;
}

Result<std::string> ReadRegularFile(const std::string& path, uint64_t max_bytes) {
  auto fd = OpenRegularFile(path);
  if (!fd) return std::move(fd).error();
  std::string text;
  char buf[65536];
  while (true) {
    const ssize_t n = ::read(fd->get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::Io(path, errno);
    }
    if (n == 0) return text;
    if (text.size() + static_cast<size_t>(n) > max_bytes) {
      return Error::ResourceLimit(path + ": larger than " + std::to_string(max_bytes) +
                                  " bytes (limit)");
    }
    text.append(buf, static_cast<size_t>(n));
  }
}

}  // namespace webcfs::webc
