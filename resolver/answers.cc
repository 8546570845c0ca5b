#include "resolver/answers.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

#include "webc/base/sha256.h"
#include "webc/base/unique_fd.h"

namespace webcfs::resolver {

std::string AnswerCache::Path(const std::string& url, const std::string& body) const {
  webc::Sha256 h;
  h.Update(url);
  h.Update(std::string_view("\n", 1));
  h.Update(body);
  return dir_ + "/answers/" + webc::ToHex(h.Finish());
}

std::optional<std::string> AnswerCache::Find(const std::string& url,
                                             const std::string& body) const {
  if (!offline_ && ttl_.count() <= 0) return std::nullopt;
  const std::string path = Path(url, body);
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  // Only our own answers: one decides which packages a mount serves.
  if ((st.st_uid != ::geteuid() && st.st_uid != 0) || (st.st_mode & 022) != 0) {
    return std::nullopt;
  }
  if (!offline_) {
    const auto fetched = std::chrono::system_clock::from_time_t(st.st_mtim.tv_sec);
    const auto age = std::chrono::system_clock::now() - fetched;
    if (age < std::chrono::seconds(0) || age > ttl_) return std::nullopt;
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in.good() && !in.eof()) return std::nullopt;
  return text.str();
}

void AnswerCache::Store(const std::string& url, const std::string& body,
                        const std::string& answer) const {
  const std::string dir = dir_ + "/answers";
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return;
  std::string tmp = dir + "/.tmp-XXXXXX";
  webc::UniqueFd fd(::mkostemp(tmp.data(), O_CLOEXEC));
  if (fd.get() < 0) return;
  size_t done = 0;
  while (done < answer.size()) {
    ssize_t n = ::write(fd.get(), answer.data() + done, answer.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  if (done != answer.size() || ::fchmod(fd.get(), 0644) != 0 ||
      ::rename(tmp.c_str(), Path(url, body).c_str()) != 0) {
    ::unlink(tmp.c_str());
  }
}

}  // namespace webcfs::resolver
