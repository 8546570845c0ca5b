// SmallFilePusher: once a small file of a directory is read, stores that
// directory's other small files into the kernel's page cache
// (FUSE_NOTIFY_STORE), so that reading them needs no round trip. Through FUSE
// the first read of every file is a request; a kernel filesystem reads a block
// holding many small files at once (docs/performance.md, "Small files").
//
// Bounds: files of at most kMaxFileBytes, at most kMaxPagesPerDirectory pages
// of page cache per directory, each directory once per snapshot (the caller
// claims it), at most kMaxQueuedDirectories waiting; a full queue drops.
// Only bytes already local are pushed (ByteSource::IsLocal): a lazy remote
// file nobody read is not downloaded for the push.
//
// Why a thread of its own: a store waits for the lock of each page it fills,
// and a READ of the same file in flight holds that lock until a worker
// answers it. Workers therefore never store (they could all end up waiting on
// READs queued behind them); the pusher may wait, because the workers go on
// answering. For the same reason Stop() must run while the workers still
// serve: Server::RequestExit stops the pusher before it ends the session loop.
//
// Thread-safety: Offer() and Stop() may be called from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "fuse/snapshot.h"

struct fuse_session;

namespace webcfs::fuse {

class SmallFilePusher {
 public:
  static constexpr uint64_t kMaxFileBytes = 64 << 10;
  static constexpr uint64_t kMaxPagesPerDirectory = 256;  // 1 MiB of 4 KiB pages
  static constexpr size_t kMaxQueuedDirectories = 256;

  // Stores through `session`, which must outlive the pusher.
  explicit SmallFilePusher(fuse_session* session) : session_(session) {}
  ~SmallFilePusher() { Stop(); }
  SmallFilePusher(const SmallFilePusher&) = delete;
  SmallFilePusher& operator=(const SmallFilePusher&) = delete;

  // Starts the thread (after any fork). No-op once stopped.
  void Start();

  // One directory to push: node `dir` of `snapshot`, served under
  // `generation`; `already_read` (a child just read) is skipped.
  struct Job {
    std::shared_ptr<const Snapshot> snapshot;
    uint32_t generation = 0;
    uint32_t dir = 0;
    uint32_t already_read = 0;
  };
  // Queues `job` without waiting; false when the queue is full or stopped.
  bool Offer(Job job);

  // Finishes the store in progress, drops the queue, joins. Idempotent.
  void Stop();

 private:
  void Loop();
  // False once the kernel refuses stores for good (connection gone, or no
  // FUSE_NOTIFY_STORE).
  bool Push(const Job& job);

  fuse_session* const session_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Job> queue_;  // guarded by mu_
  bool stopped_ = false;   // guarded by mu_
  std::thread thread_;
};

}  // namespace webcfs::fuse
