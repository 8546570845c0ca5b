#define FUSE_USE_VERSION 314

#include "fuse/small_file_pusher.h"

#include <fuse_lowlevel.h>

#include <cerrno>
#include <new>
#include <system_error>
#include <vector>

#include "fuse/file_guard.h"
#include "fuse/inode.h"

namespace webcfs::fuse {

void SmallFilePusher::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopped_ || thread_.joinable()) return;
  try {
    thread_ = std::thread([this] { Loop(); });
  } catch (const std::system_error&) {
    stopped_ = true;  // no thread: files are READ as usual
  }
}

bool SmallFilePusher::Offer(Job job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_ || queue_.size() >= kMaxQueuedDirectories) return false;
    queue_.push_back(std::move(job));
  }
  wake_.notify_one();
  return true;
}

void SmallFilePusher::Stop() {
  std::thread thread;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
    queue_.clear();
    thread = std::move(thread_);
  }
  wake_.notify_one();
  if (thread.joinable()) thread.join();
}

void SmallFilePusher::Loop() {
  while (true) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [this] { return stopped_ || !queue_.empty(); });
      if (stopped_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    bool go_on = true;
    try {
      go_on = Push(job);
    } catch (const std::bad_alloc&) {
      // Skip this directory; its files are READ as usual.
    }
    if (!go_on) {
      std::lock_guard<std::mutex> lock(mu_);
      stopped_ = true;  // the kernel takes no more stores: stop offering work
      queue_.clear();
      return;
    }
  }
}

bool SmallFilePusher::Push(const Job& job) {
  const Snapshot& s = *job.snapshot;
  const Node* dir = s.NodeAt(job.dir);
  if (dir == nullptr || !dir->is_dir()) return true;
  constexpr uint64_t kPage = 4096;
  uint64_t pages_left = kMaxPagesPerDirectory;
  std::vector<std::byte> buffer;
  for (const Node& child : s.Children(*dir)) {
    const uint32_t index = s.IndexOf(child);
    if (!child.is_file() || index == job.already_read) continue;
    const FileExtent x = s.Extent(child);
    const uint64_t pages = (x.size + kPage - 1) / kPage;
    if (x.source == nullptr || x.size == 0 || x.size > kMaxFileBytes || pages > pages_left ||
        !x.source->IsLocal(x.offset, x.size)) {
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopped_) return true;
    }
    pages_left -= pages;
    buffer.resize(x.size);
    auto view = x.source->Read(x.offset, x.size, buffer.data());
    if (!view || view->size() != x.size) continue;
    // After the copy, as for a copied READ: the bytes are the verified ones.
    if (x.guard != nullptr && x.guard->Check() != 0) continue;
    fuse_bufvec data = FUSE_BUFVEC_INIT(x.size);
    data.buf[0].mem = const_cast<std::byte*>(view->data());
    const int rc = fuse_lowlevel_notify_store(session_, MakeIno(job.generation, index), 0, &data,
                                              FUSE_BUF_NO_SPLICE);
    // ENOENT: the kernel has no inode for that file (never looked up, or
    // forgotten); it will be READ as usual.
    if (rc == -ENODEV || rc == -ENOSYS || rc == -EBADF) return false;
  }
  return true;
}

}  // namespace webcfs::fuse
