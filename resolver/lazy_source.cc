#include "resolver/lazy_source.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "resolver/cache.h"
#include "resolver/http.h"
#include "webc/base/regular_file.h"
#include "webc/base/sha256.h"
#include "webc/base/unique_fd.h"

namespace webcfs::resolver {
namespace {

// While the header is read, the smallest range asked for: the preamble, the
// index and the first sections usually come in one request.
constexpr uint64_t kHeaderChunk = 64 << 10;
// Missing header pieces closer than this are fetched in one request.
constexpr uint64_t kCoalesceGap = 64 << 10;
// A file's fetch takes the absent files after it, up to twice the verified
// bytes just before it (a reader going through the files in order), at least
// kMinReadAhead and at most kMaxReadAhead past its end: a random read costs
// little more than its file, a sequential one few requests.
constexpr uint64_t kMinReadAhead = 64 << 10;
constexpr uint64_t kMaxReadAhead = 4 << 20;
// Requests a prefetch keeps in flight.
constexpr unsigned kPrefetchWorkers = 4;
// Files this close count as neighbours when the read-ahead looks for a
// reader going through them in order (alignment padding lies between).
constexpr uint64_t kPageGap = 4096;
// Bytes before the index payload: magic, index tag and length. They are not
// under the digest, but the reader checks the magic and tag, and the length
// decides which bytes the digest covered.
constexpr uint64_t kPreamble = 17;
// Times a mount opens its partial entry again after finding the file it
// locked removed from under the name.
constexpr int kOpenAttempts = 3;

struct Interval {
  uint64_t begin = 0;
  uint64_t end = 0;
};

// The end of the interval of `set` holding `at`, or `at` when none does.
uint64_t CoveredUntil(const std::vector<Interval>& set, uint64_t at) {
  for (const Interval& i : set) {
    if (i.begin <= at && at < i.end) return i.end;
  }
  return at;
}

// The parts of [b, e) not in `set`.
std::vector<Interval> Missing(const std::vector<Interval>& set, uint64_t b, uint64_t e) {
  std::vector<Interval> out;
  uint64_t at = b;
  for (const Interval& i : set) {
    if (i.end <= at) continue;
    if (i.begin >= e) break;
    if (i.begin > at) out.push_back({at, i.begin});
    at = std::max(at, i.end);
  }
  if (at < e) out.push_back({at, e});
  return out;
}

// Sorts and merges intervals into a sorted set of disjoint ones.
std::vector<Interval> Merged(std::vector<Interval> v) {
  std::sort(v.begin(), v.end(),
            [](const Interval& x, const Interval& y) { return x.begin < y.begin; });
  std::vector<Interval> out;
  for (const Interval& i : v) {
    if (i.begin >= i.end) continue;
    if (!out.empty() && i.begin <= out.back().end) {
      out.back().end = std::max(out.back().end, i.end);
    } else {
      out.push_back(i);
    }
  }
  return out;
}

// Adds [b, e) to a sorted set of disjoint intervals.
void AddInterval(std::vector<Interval>& set, uint64_t b, uint64_t e) {
  set.push_back({b, e});
  set = Merged(std::move(set));
}

// What a partial entry's state file says (PartialState::Format for the
// layout): the header bytes fetched and the files verified, by index in
// offset order. Anything unreadable is an empty state: the bytes are
// fetched again.
struct PartialState {
  uint64_t size = 0;
  std::vector<Interval> header;
  std::vector<bool> verified;

  std::string Format() const {
    std::ostringstream out;
    out << "webcfs-lazy 1\nsize " << size << "\nheader";
    for (const Interval& i : header) out << ' ' << i.begin << '-' << i.end;
    out << "\nfiles " << verified.size() << ' ';
    static constexpr char kHex[] = "0123456789abcdef";
    for (size_t i = 0; i < verified.size(); i += 4) {
      unsigned nibble = 0;
      for (size_t b = 0; b < 4 && i + b < verified.size(); ++b) {
        if (verified[i + b]) nibble |= 8u >> b;
      }
      out << kHex[nibble];
    }
    out << '\n';
    return out.str();
  }

  static PartialState Parse(const std::string& text) {
    PartialState st;
    std::istringstream in(text);
    std::string magic, version, key, header_line;
    if (!(in >> magic >> version) || magic != "webcfs-lazy" || version != "1") return {};
    if (!(in >> key >> st.size) || key != "size") return {};
    in >> key;
    if (key != "header" || !std::getline(in, header_line)) return {};
    std::istringstream hs(header_line);
    for (std::string piece; hs >> piece;) {
      Interval i;
      if (std::sscanf(piece.c_str(), "%lu-%lu", &i.begin, &i.end) != 2 || i.begin >= i.end ||
          i.end > st.size) {
        return {};
      }
      st.header.push_back(i);
    }
    size_t n = 0;
    std::string bits;
    if (!(in >> key >> n) || key != "files") return {};
    in >> bits;
    if (bits.size() != (n + 3) / 4) return {};
    st.verified.assign(n, false);
    for (size_t i = 0; i < n; ++i) {
      const char c = bits[i / 4];
      const int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (v < 0) return {};
      st.verified[i] = (v & (8 >> (i % 4))) != 0;
    }
    return st;
  }
};

// The local copy of a lazy container: the partial entry of the cache when
// this process can own it, else an unnamed file that goes with the mount.
struct LocalCopy {
  webc::UniqueFd fd;
  std::string data_path;   // empty for an unnamed file
  std::string state_path;  // likewise
  PartialState state;      // what an earlier mount left, maybe nothing
};

Result<LocalCopy> OpenLocalCopy(const LazyTarget& t, const std::string& where) {
  LocalCopy copy;
  const std::string base = PartialEntryBase(t.dir, t.header_sha256_hex);
  const std::string data = base + ".webc";
  const std::string dir = t.dir + "/" + kPartialDir;
  // One owner at a time (another mount of it gets an unnamed file), and
  // still the file under that name: a lock on one that an eviction or a
  // promotion just removed owns nothing, so the name is opened again.
  for (int attempt = 0; attempt < kOpenAttempts && copy.fd.get() < 0; ++attempt) {
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) break;
    webc::UniqueFd fd(::open(data.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
    if (fd.get() < 0) break;
    const bool locked = ::flock(fd.get(), LOCK_EX | LOCK_NB) == 0;
    struct stat held {
    }, named{};
    const bool current = ::fstat(fd.get(), &held) == 0 && ::stat(data.c_str(), &named) == 0 &&
                         held.st_ino == named.st_ino && held.st_dev == named.st_dev;
    if (!current) continue;
    if (!locked) break;  // another mount owns it
    copy.fd = std::move(fd);
    copy.data_path = data;
    copy.state_path = base + ".state";
    auto text = webc::ReadRegularFile(copy.state_path, 1 << 20);
    if (text) copy.state = PartialState::Parse(*text);
    if (copy.state.size != t.size) copy.state = {};
  }
  if (copy.fd.get() < 0) {
    copy.fd = webc::UniqueFd(::open(t.dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
    if (copy.fd.get() < 0) return Error::Io(t.dir + ": a file for " + where, errno);
  }
  if (::ftruncate(copy.fd.get(), static_cast<off_t>(t.size)) != 0) {
    return Error::Io(t.dir + ": a file for " + where, errno);
  }
  return copy;
}

struct LazyFile {
  uint64_t offset = 0;
  uint64_t size = 0;
  webc::Sha256Digest hash{};
  std::string path;  // "volume:/a/b", for messages
};

enum class Phase { kHeader, kOpening, kServing };
// kHinted: an earlier mount verified the file's bytes in the partial entry;
// they are hashed again on first read, so the state file is a hint only.
enum FileState : uint8_t { kAbsent, kHinted, kFetching, kVerified, kFailed };

class LazySource final : public webc::ByteSource, public std::enable_shared_from_this<LazySource> {
 public:
  LazySource(std::shared_ptr<HttpClient> http, LazyTarget target, LocalCopy copy)
      : http_(std::move(http)),
        target_(std::move(target)),
        fd_(std::move(copy.fd)),
        data_path_(std::move(copy.data_path)),
        state_path_(std::move(copy.state_path)) {}
  ~LazySource() override {
    stopping_ = true;
    for (std::thread& t : prefetchers_) t.join();
    if (promoter_.joinable()) promoter_.join();
    // The partial entry's last use, for the cache's eviction order; still
    // owned, since fd_ closes after this.
    if (!state_path_.empty()) (void)::utimensat(AT_FDCWD, state_path_.c_str(), nullptr, 0);
  }

  uint64_t size() const override { return target_.size; }
  const std::string& name() const override { return target_.url; }
  // fd() stays -1: every read goes through Read(), which checks first.

  Result<webc::ByteView> Read(uint64_t offset, size_t n, std::byte* scratch) const override {
    if (offset > size() || n > size() - offset) {
      return Error::Io(name() + ": read of " + std::to_string(n) + " bytes at " +
                       std::to_string(offset) + " is past the end (" + std::to_string(size()) +
                       " bytes)");
    }
    if (n == 0) return webc::ByteView();
    WEBCFS_RETURN_IF_ERROR(Prepare(offset, offset + n));
    size_t done = 0;
    while (done < n) {
      const ssize_t r =
          ::pread(fd_.get(), scratch + done, n - done, static_cast<off_t>(offset + done));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return Error::Io(name() + ": reading the local copy", errno);
      if (r == 0) return Error::Io(name() + ": short read of the local copy");
      done += static_cast<size_t>(r);
    }
    return webc::ByteView(scratch, n);
  }

  // Trusted header bytes, or bytes of files all verified.
  bool IsLocal(uint64_t offset, size_t n) const override {
    const uint64_t e = offset + n;
    if (n == 0 || phase_.load(std::memory_order_acquire) != Phase::kServing) return n == 0;
    if (CoveredUntil(trusted_, offset) >= e) return true;
    auto it = std::partition_point(files_.begin(), files_.end(),
                                   [&](const LazyFile& f) { return f.offset + f.size <= offset; });
    std::lock_guard lock(mu_);
    for (; it != files_.end() && it->offset < e; ++it) {
      const uint8_t state = states_[static_cast<size_t>(it - files_.begin())];
      if (state != kVerified && state != kHinted) return false;
    }
    return true;
  }

  bool ranges_refused() const { return ranges_refused_.load(); }

  // Header bytes an earlier mount fetched: read locally, still checked
  // against the digest. Forget() drops them when they do not match.
  void AssumePresent(const std::vector<Interval>& header) {
    std::lock_guard lock(mu_);
    present_ = header;
  }
  void Forget() {
    std::lock_guard lock(mu_);
    present_.clear();
  }

  // Fetches the missing parts of `regions`, neighbours closer than
  // kCoalesceGap in one request.
  Result<void> FetchRegions(const std::vector<webc::ByteRange>& regions) {
    std::vector<Interval> want;
    AddInterval(want, 0, kPreamble);
    for (const webc::ByteRange& r : regions) AddInterval(want, r.offset, r.offset + r.length);
    std::vector<Interval> missing;
    {
      std::lock_guard lock(mu_);
      for (const Interval& w : want) {
        for (const Interval& m : Missing(present_, w.begin, w.end)) {
          if (!missing.empty() && m.begin - missing.back().end < kCoalesceGap) {
            missing.back().end = m.end;
          } else {
            missing.push_back(m);
          }
        }
      }
    }
    for (const Interval& m : missing) {
      WEBCFS_RETURN_IF_ERROR(Fetch(m.begin, m.end));
      std::lock_guard lock(mu_);
      AddInterval(present_, m.begin, m.end);
    }
    return Ok();
  }

  // The header matched its digest: from now on only `regions` (and the
  // preamble) are served without a per-file check.
  void Trust(const std::vector<webc::ByteRange>& regions) {
    AddInterval(trusted_, 0, kPreamble);
    for (const webc::ByteRange& r : regions) AddInterval(trusted_, r.offset, r.offset + r.length);
    phase_.store(Phase::kOpening, std::memory_order_release);
  }

  // Serves `files`; those `verified` by an earlier mount (same order) are
  // hashed again when first read instead of fetched.
  void Serve(std::vector<LazyFile> files, const std::vector<bool>& verified) {
    std::sort(files.begin(), files.end(),
              [](const LazyFile& a, const LazyFile& b) { return a.offset < b.offset; });
    files_ = std::move(files);
    states_.assign(files_.size(), kAbsent);
    size_t hinted = 0;
    if (verified.size() == files_.size()) {
      for (size_t i = 0; i < files_.size(); ++i) {
        if (verified[i]) {
          states_[i] = kHinted;
          ++hinted;
        }
      }
    }
    phase_.store(Phase::kServing, std::memory_order_release);
    SaveState();
    complete_at_open_ = hinted == files_.size();
  }

  // What runs in the background (StartLazyBackgroundWork): the promotion of
  // a partial entry found complete (Store hashes the whole container, so the
  // hints need no other check), and the prefetch.
  void StartBackground() {
    if (complete_at_open_) StartPromotion();
    if (!target_.prefetch || files_.empty()) return;
    uint64_t total = 0;
    for (const LazyFile& f : files_) total += f.size;
    // Shares of about equal bytes, each fetched in order so that its
    // read-ahead grows.
    size_t begin = 0;
    uint64_t done = 0;
    for (unsigned w = 0; w < kPrefetchWorkers && begin < files_.size(); ++w) {
      const uint64_t goal = total / kPrefetchWorkers * (w + 1);
      size_t end = begin;
      while (end < files_.size() && (done < goal || end == begin)) done += files_[end++].size;
      if (w + 1 == kPrefetchWorkers) end = files_.size();
      prefetchers_.emplace_back([this, begin, end] { Prefetch(begin, end); });
      begin = end;
    }
  }

 private:
  // Makes [b, e) safe to read from the local copy.
  Result<void> Prepare(uint64_t b, uint64_t e) const {
    const Phase phase = phase_.load(std::memory_order_acquire);
    if (phase == Phase::kHeader) return FetchForHeader(b, e);
    if (CoveredUntil(trusted_, b) >= e) return Ok();
    if (phase != Phase::kServing) {
      return Error::Io(name() + ": read at " + std::to_string(b) + " outside the header");
    }
    // Every file overlapping [b, e), in offset order.
    auto first = std::partition_point(files_.begin(), files_.end(),
                                      [&](const LazyFile& f) { return f.offset + f.size <= b; });
    for (auto it = first; it != files_.end() && it->offset < e; ++it) {
      WEBCFS_RETURN_IF_ERROR(Ensure(static_cast<size_t>(it - files_.begin())));
    }
    // Serve only bytes that belong to the trusted header or a verified file.
    uint64_t at = b;
    auto next = first;
    while (at < e) {
      const uint64_t header_end = CoveredUntil(trusted_, at);
      if (header_end > at) {
        at = header_end;
        continue;
      }
      while (next != files_.end() && next->offset + next->size <= at) ++next;
      if (next == files_.end() || next->offset > at || next->size == 0) {
        return Error::Io(name() + ": bytes at " + std::to_string(at) +
                         " belong to no file of the container");
      }
      at = next->offset + next->size;
    }
    return Ok();
  }

  Result<void> FetchForHeader(uint64_t b, uint64_t e) const {
    std::lock_guard lock(mu_);
    for (const Interval& m : Missing(present_, b, e)) {
      const uint64_t begin = m.begin < kHeaderChunk ? 0 : m.begin;
      const uint64_t end = std::min(size(), std::max(m.end, begin + kHeaderChunk));
      WEBCFS_RETURN_IF_ERROR(Fetch(begin, end));
      AddInterval(present_, begin, end);
    }
    return Ok();
  }

  // Verified bytes of file `i`, fetched with the absent files after it when
  // no other reader fetches it already.
  Result<void> Ensure(size_t i) const {
    std::unique_lock lock(mu_);
    for (;;) {
      if (states_[i] == kVerified) return Ok();
      if (states_[i] == kFailed) return Error::Integrity(failures_.at(i));
      if (states_[i] == kAbsent) break;
      if (states_[i] == kHinted) {
        states_[i] = kFetching;
        lock.unlock();
        const bool good = Check(files_[i]).ok();
        lock.lock();
        states_[i] = good ? kVerified : kAbsent;  // not the bytes it was: fetch again
        fetched_.notify_all();
        if (good) ++verified_;
        continue;
      }
      fetched_.wait(lock);
    }
    const LazyFile& f = files_[i];
    std::vector<size_t> batch = {i};
    uint64_t end = f.offset + f.size;
    // Bytes that came with the header's requests need no request of their own.
    const bool local = CoveredUntil(present_, f.offset) >= end;
    const uint64_t limit = local ? end : end + ReadAhead(i);
    for (size_t j = i + 1; j < files_.size() && states_[j] == kAbsent; ++j) {
      const LazyFile& g = files_[j];
      if (g.offset > end || g.offset + g.size > limit) break;
      batch.push_back(j);
      end = std::max(end, g.offset + g.size);
    }
    for (size_t j : batch) states_[j] = kFetching;
    lock.unlock();

    Result<void> fetched = local ? Ok() : Fetch(f.offset, end);
    std::vector<std::pair<size_t, std::string>> failed;
    if (fetched) {
      for (size_t j : batch) {
        auto check = Check(files_[j]);
        if (!check) failed.emplace_back(j, check.error().message());
      }
    }
    lock.lock();
    for (size_t j : batch) states_[j] = fetched ? kVerified : kAbsent;
    for (auto& [j, why] : failed) {
      states_[j] = kFailed;
      failures_[j] = std::move(why);
    }
    const size_t good = fetched ? batch.size() - failed.size() : 0;
    GlobalLazyCounters().files_verified += good;
    GlobalLazyCounters().fetch_errors += failed.size();
    verified_ += good;
    const bool complete = verified_ == files_.size();
    fetched_.notify_all();
    lock.unlock();
    if (good > 0) SaveState();
    if (complete) StartPromotion();
    if (!fetched) return std::move(fetched).error();
    lock.lock();
    if (states_[i] == kFailed) return Error::Integrity(failures_.at(i));
    return Ok();
  }

  // How far past file `i` its fetch may reach: twice the run of verified
  // bytes ending right before it, within [kMinReadAhead, kMaxReadAhead].
  // Called with mu_ held.
  uint64_t ReadAhead(size_t i) const {
    uint64_t run = 0;
    for (size_t j = i; j > 0 && run < kMaxReadAhead / 2; --j) {
      const LazyFile& g = files_[j - 1];
      if (states_[j - 1] != kVerified || g.offset + g.size + kPageGap < files_[j].offset) break;
      run += g.size;
    }
    return std::clamp(2 * run, kMinReadAhead, kMaxReadAhead);
  }

  // Verifies files [begin, end), fetching those not local. A file whose
  // bytes do not match is skipped (its reads are EIO); a failed request
  // ends this share (reads fetch on demand, as without prefetch).
  void Prefetch(size_t begin, size_t end) const {
    for (size_t i = begin; i < end && !stopping_.load(); ++i) {
      auto r = Ensure(i);
      if (!r && r.error().code() != Error::Code::kIntegrity) return;
    }
  }

  // Writes the state file of the partial entry (temp file and rename, so a
  // killed daemon leaves the old state or the new): the header bytes and
  // the files verified, which were written to the data file before.
  void SaveState() const {
    if (state_path_.empty()) return;
    std::lock_guard save(save_mu_);
    PartialState st;
    st.size = size();
    {
      std::lock_guard lock(mu_);
      st.header = present_;
      st.verified.resize(states_.size());
      for (size_t i = 0; i < states_.size(); ++i) {
        st.verified[i] = states_[i] == kVerified || states_[i] == kHinted;
      }
    }
    const std::string text = st.Format();
    const std::string tmp = state_path_ + ".tmp";
    webc::UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (fd.get() < 0) return;  // best effort: without it, a remount fetches again
    if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
      ::unlink(tmp.c_str());
      return;
    }
    if (::rename(tmp.c_str(), state_path_.c_str()) != 0) ::unlink(tmp.c_str());
  }

  // Once every file is verified, fetches the bytes between them and stores
  // the whole container as an ordinary cache entry (ContentCache::Store
  // hashes it against the registry's SHA-256), then drops the partial entry.
  // In the background: the read that completed it is answered first.
  void StartPromotion() const {
    if (target_.sha256_hex.empty() || promoting_.exchange(true)) return;
    promoter_ = std::thread([this] { Promote(); });
  }

  void Promote() const {
    std::vector<Interval> known = trusted_;
    for (const LazyFile& f : files_) known.push_back({f.offset, f.offset + f.size});
    for (const Interval& gap : Missing(Merged(std::move(known)), 0, size())) {
      if (!Fetch(gap.begin, gap.end)) return;
    }
    auto cache = ContentCache::Open(target_.dir);
    if (!cache) return;
    auto entry = (*cache)->Store(target_.sha256_hex, [&](EntryWriter& writer) -> Result<void> {
      std::vector<std::byte> buf(1 << 20);
      for (uint64_t at = 0; at < size();) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(size() - at, buf.size()));
        const ssize_t r = ::pread(fd_.get(), buf.data(), n, static_cast<off_t>(at));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return Error::Io(data_path_, r < 0 ? errno : EIO);
        WEBCFS_RETURN_IF_ERROR(writer.Write(std::span(buf.data(), static_cast<size_t>(r))));
        at += static_cast<uint64_t>(r);
      }
      return Ok();
    });
    if (!entry || state_path_.empty()) return;  // on failure, a later mount tries again
    ::unlink(state_path_.c_str());
    ::unlink(data_path_.c_str());
  }

  // The local copy of `f` against the hash its directory record stores.
  Result<void> Check(const LazyFile& f) const {
    webc::Sha256 h;
    std::vector<std::byte> buf(std::min<uint64_t>(f.size, 1 << 20));
    for (uint64_t done = 0; done < f.size;) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(f.size - done, buf.size()));
      const ssize_t r = ::pread(fd_.get(), buf.data(), n, static_cast<off_t>(f.offset + done));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return Error::Io(name() + ": reading the local copy", r < 0 ? errno : EIO);
      h.Update(std::span<const std::byte>(buf.data(), static_cast<size_t>(r)));
      done += static_cast<uint64_t>(r);
    }
    const webc::Sha256Digest got = h.Finish();
    if (got == f.hash) return Ok();
    return Error::Integrity(target_.package + ": file '" + f.path + "' from " + target_.url +
                            ": SHA-256 mismatch (directory record " + webc::ToHex(f.hash) +
                            ", fetched bytes " + webc::ToHex(got) + ")");
  }

  // [begin, end) of the remote file into the local copy at the same offsets.
  Result<void> Fetch(uint64_t begin, uint64_t end) const {
    uint64_t at = begin;
    const HttpSink sink{[&]() -> Result<void> {
                          at = begin;
                          return Ok();
                        },
                        [&](std::span<const std::byte> bytes) -> Result<void> {
                          size_t done = 0;
                          while (done < bytes.size()) {
                            const ssize_t w =
                                ::pwrite(fd_.get(), bytes.data() + done, bytes.size() - done,
                                         static_cast<off_t>(at + done));
                            if (w < 0 && errno == EINTR) continue;
                            if (w < 0) return Error::Io(name() + ": writing the local copy", errno);
                            done += static_cast<size_t>(w);
                          }
                          at += bytes.size();
                          GlobalLazyCounters().bytes_fetched += bytes.size();
                          return Ok();
                        },
                        [this] { return stopping_.load(); }};
    auto r = http_->GetRange(target_.url, begin, end - begin, sink);
    if (!r) {
      ++GlobalLazyCounters().fetch_errors;
      return std::move(r).error().With(target_.package);
    }
    if (!*r) {
      ranges_refused_ = true;
      ++GlobalLazyCounters().fetch_errors;
      return Error::Unsupported(target_.package + ": GET " + target_.url +
                                ": the server does not answer Range requests");
    }
    return Ok();
  }

  const std::shared_ptr<HttpClient> http_;
  const LazyTarget target_;
  const webc::UniqueFd fd_;
  const std::string data_path_;   // the partial entry, empty for an unnamed file
  const std::string state_path_;  // its state file, likewise
  std::atomic<Phase> phase_{Phase::kHeader};
  mutable std::atomic<bool> ranges_refused_{false};
  std::vector<Interval> trusted_;  // fixed once the phase leaves kHeader
  std::vector<LazyFile> files_;    // fixed once the phase is kServing
  mutable std::mutex mu_;
  mutable std::condition_variable fetched_;
  // Bytes the header phase fetched (not verified); fixed once it ends.
  mutable std::vector<Interval> present_;
  mutable std::vector<uint8_t> states_;  // FileState per file
  mutable std::map<size_t, std::string> failures_;
  mutable size_t verified_ = 0;  // files kVerified
  mutable std::mutex save_mu_;   // one state file write at a time
  mutable std::atomic<bool> promoting_{false};
  mutable std::thread promoter_;
  bool complete_at_open_ = false;  // every file listed by the partial entry
  std::atomic<bool> stopping_{false};
  std::vector<std::thread> prefetchers_;
};

// Sources waiting for StartLazyBackgroundWork.
struct BackgroundGate {
  std::mutex mu;
  bool released = false;
  std::vector<std::weak_ptr<LazySource>> waiting;
};
BackgroundGate& Gate() {
  static BackgroundGate gate;
  return gate;
}

void QueueBackground(const std::shared_ptr<LazySource>& source) {
  {
    std::lock_guard lock(Gate().mu);
    if (!Gate().released) {
      Gate().waiting.push_back(source);
      return;
    }
  }
  source->StartBackground();
}

}  // namespace

void StartLazyBackgroundWork() {
  std::vector<std::weak_ptr<LazySource>> waiting;
  {
    std::lock_guard lock(Gate().mu);
    Gate().released = true;
    waiting.swap(Gate().waiting);
  }
  for (const std::weak_ptr<LazySource>& w : waiting) {
    if (auto source = w.lock()) source->StartBackground();
  }
}

LazyCounters& GlobalLazyCounters() {
  static LazyCounters counters;
  return counters;
}

namespace {

// OpenLazy once the source exists: the header checked against the digest
// (read from what an `earlier` mount left when it still matches), the
// container opened, its files listed.
Result<std::shared_ptr<const webc::Container>> OpenOn(const std::shared_ptr<LazySource>& source,
                                                      const PartialState& earlier,
                                                      const LazyTarget& target,
                                                      const webc::OpenOptions& options,
                                                      const std::string& where) {
  // The header an earlier mount left is checked like a fetched one; when it
  // does not match, it is fetched.
  source->AssumePresent(earlier.header);
  Result<std::vector<webc::ByteRange>> regions = Error::Io(where);
  for (int attempt = 0; attempt < 2; ++attempt) {
    regions = webc::HeaderRegions(*source);
    if (!regions) {
      if (source->ranges_refused()) return std::move(regions).error();
      if (attempt == 0 && !earlier.header.empty()) {
        source->Forget();
        continue;
      }
      return std::move(regions).error().With(where);
    }
    WEBCFS_RETURN_IF_ERROR(source->FetchRegions(*regions));
    webc::Sha256 h;
    std::vector<std::byte> buf;
    for (const webc::ByteRange& r : *regions) {
      buf.resize(r.length);
      auto bytes = source->Read(r.offset, r.length, buf.data());
      if (!bytes) return std::move(bytes).error().With(where);
      h.Update(*bytes);
    }
    const std::string got = webc::ToHex(h.Finish());
    if (got == target.header_sha256_hex) break;
    if (attempt == 0 && !earlier.header.empty()) {
      source->Forget();
      continue;
    }
    return Error::Integrity(where + ": header digest mismatch: the registry says " +
                            target.header_sha256_hex + ", the served header hashes to " + got);
  }
  source->Trust(*regions);
  webc::OpenOptions eager = options;
  eager.lazy_directories = false;
  eager.verify = false;
  auto container = webc::Container::Open(source, eager);
  if (!container) return std::move(container).error().With(where);
  std::vector<LazyFile> files;
  for (const webc::Volume& v : (*container)->volumes()) {
    auto walked =
        webc::WalkVolume(v, [&](const webc::Entry& e, std::string_view path) -> Result<void> {
          if (!e.is_file() || e.size == 0) return Ok();
          auto hash = (*container)->StoredHash(e);
          if (!hash) return std::move(hash).error();
          if (!*hash)
            return Error::Corrupt("volume '" + v.name() + "': '" + std::string(path) +
                                  "' has no hash");
          files.push_back({e.data_offset(), e.size, **hash, v.name() + ":" + std::string(path)});
          return Ok();
        });
    if (!walked) return std::move(walked).error().With(where);
  }
  source->Serve(std::move(files), earlier.verified);
  QueueBackground(source);
  return std::shared_ptr<const webc::Container>(std::move(*container));
}

// The lazy containers open in this process, by cache directory, URL and
// header digest: a reload, or another mount the process serves, shares the
// open one (its local copy, its fetched and verified files) instead of
// fetching again into an unnamed file while the first holds the partial entry.
class OpenContainers {
 public:
  std::shared_ptr<const webc::Container> Find(const std::string& key) {
    std::lock_guard lock(mu_);
    auto it = open_.find(key);
    return it == open_.end() ? nullptr : it->second.lock();
  }
  // `opened`, unless another thread registered a live one first: that one.
  std::shared_ptr<const webc::Container> Add(const std::string& key,
                                             std::shared_ptr<const webc::Container> opened) {
    std::lock_guard lock(mu_);
    std::erase_if(open_, [](const auto& entry) { return entry.second.expired(); });
    std::weak_ptr<const webc::Container>& slot = open_[key];
    if (auto live = slot.lock()) return live;
    slot = opened;
    return opened;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::weak_ptr<const webc::Container>> open_;
};

OpenContainers& OpenLazyContainers() {
  static OpenContainers open;
  return open;
}

}  // namespace

Result<std::shared_ptr<const webc::Container>> OpenLazy(std::shared_ptr<HttpClient> http,
                                                        const LazyTarget& target,
                                                        const webc::OpenOptions& options) {
  const std::string where = target.package + " (" + target.url + ")";
  const std::string key = target.dir + '\n' + target.url + '\n' + target.header_sha256_hex;
  if (auto open = OpenLazyContainers().Find(key)) return open;
  auto copy = OpenLocalCopy(target, where);
  if (!copy) return std::move(copy).error();
  const PartialState earlier = copy->state;
  const std::string data_path = copy->data_path;
  const std::string state_path = copy->state_path;
  auto source = std::make_shared<LazySource>(std::move(http), target, std::move(*copy));
  auto opened = OpenOn(source, earlier, target, options, where);
  // A refused mount leaves no partial entry it started.
  if (!opened && earlier.header.empty() && !data_path.empty()) {
    ::unlink(state_path.c_str());
    ::unlink(data_path.c_str());
  }
  if (!opened) return opened;
  return OpenLazyContainers().Add(key, std::move(*opened));
}

}  // namespace webcfs::resolver
