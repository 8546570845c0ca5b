// libFuzzer target: the container parser end to end. Any input must give an
// Error or a Container whose every entry can be walked, read and hashed.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "webc/container.h"

using webcfs::Ok;
using webcfs::Result;
using webcfs::webc::Container;
using webcfs::webc::Entry;
using webcfs::webc::Volume;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::shared_ptr<const webcfs::webc::ByteSource> source = webcfs::webc::MemorySource(
      std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.webc");
  webcfs::webc::OpenOptions options;
  options.verify = true;
  options.max_entries = 200'000;  // bounded memory per input; the limit itself is tested
  auto container = Container::Open(source, options);
  if (!container) return 0;
  const Container& c = **container;
  std::vector<std::byte> scratch(4096);
  auto touch = [&](const Volume& v) {
    (void)webcfs::webc::WalkVolume(v, [&](const Entry& e, std::string_view path) -> Result<void> {
      if (v.Lookup(path) != &e) __builtin_trap();  // paths must lead back to their entry
      (void)c.StoredHash(e);
      for (uint64_t off = 0; e.is_file() && off < e.size; off += scratch.size()) {
        auto r = c.ReadFile(e, off, scratch.size(), scratch.data());
        if (!r || r->empty()) break;
      }
      return Ok();
    });
  };
  touch(c.atoms());
  for (const Volume& v : c.volumes()) touch(v);
  for (const auto& atom : c.manifest().atoms) (void)c.FindAtom(atom.name);
  (void)c.CheckV1Checksum();

  // The same bytes opened lazily (what a mount does with a cache entry an
  // eager open accepted): walking reads each directory's records on demand.
  options.verify = false;
  options.lazy_directories = true;
  auto lazy = Container::Open(source, options);
  if (!lazy) __builtin_trap();  // a lazy open reads a subset of what the eager one accepted
  for (const Volume& v : (*lazy)->volumes()) {
    if (!webcfs::webc::WalkVolume(v, [](const Entry&, std::string_view) { return Ok(); })) {
      __builtin_trap();  // the eager open accepted every record a walk reads
    }
  }
  return 0;
}
