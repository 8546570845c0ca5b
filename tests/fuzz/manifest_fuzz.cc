// libFuzzer target: the CBOR decoders (manifest and v2/v3 index) on raw bytes.
#include <cstddef>
#include <cstdint>
#include <span>

#include "webc/index_internal.h"
#include "webc/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  auto manifest = webcfs::webc::DecodeManifest(bytes);
  if (manifest) {
    // Lookups by every name the manifest itself gives must find it.
    for (const auto& c : manifest->commands) {
      if (manifest->FindCommand(c.name) == nullptr) __builtin_trap();
    }
    for (const auto& d : manifest->uses) {
      if (manifest->FindUse(d.alias) == nullptr) __builtin_trap();
    }
  }
  (void)webcfs::webc::DecodeIndex(bytes);
  return 0;
}
