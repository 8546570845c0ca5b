// AnswerCache: remote registries' answers (a Wasmer API's JSON, a mirror's
// index.json) kept on disk beside the content cache, `<cache>/answers/<key>`,
// so that resolving again within a time-to-live sends no request, and
// `--offline` can resolve from what was asked before (docs/resolution.md,
// "Answers").
//
// The key is the SHA-256 of the URL and the request body; the file's mtime
// is when it was fetched (a future mtime counts as stale, like Wasmer's
// query cache). Entries are written atomically (temp file + rename).
//
// Thread-safety: all methods may be called concurrently.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "webc/base/result.h"

namespace webcfs::resolver {

inline constexpr std::chrono::seconds kDefaultAnswerTtl{600};

class AnswerCache {
 public:
  // `dir` is the content cache's directory. `ttl` 0: every answer is stale
  // (ask again); `offline`: any stored answer is fresh.
  AnswerCache(std::string dir, std::chrono::seconds ttl, bool offline)
      : dir_(std::move(dir)), ttl_(ttl), offline_(offline) {}

  bool offline() const { return offline_; }

  // The stored answer to `body` POSTed (or GET, with an empty body) to `url`,
  // when fresh.
  std::optional<std::string> Find(const std::string& url, const std::string& body) const;
  // Best effort: an answer that cannot be stored is asked again next time.
  void Store(const std::string& url, const std::string& body, const std::string& answer) const;

 private:
  std::string Path(const std::string& url, const std::string& body) const;

  std::string dir_;
  std::chrono::seconds ttl_;
  bool offline_;
};

}  // namespace webcfs::resolver
