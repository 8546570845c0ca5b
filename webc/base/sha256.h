// SHA-256 over OpenSSL's libcrypto, plus hex/base64 helpers for the digests
// the format stores.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace webcfs::webc {

using Sha256Digest = std::array<uint8_t, 32>;

// Incremental hasher. Not thread-safe; one per computation.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(std::span<const std::byte> bytes);
  void Update(std::string_view bytes);
  Sha256Digest Finish();

  static Sha256Digest Of(std::span<const std::byte> bytes);
  static Sha256Digest Of(std::string_view bytes);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

std::string ToHex(const Sha256Digest& d);
// Standard base64 with padding, as in the manifest's "sha256:<base64>" signatures.
std::string ToBase64(const Sha256Digest& d);

}  // namespace webcfs::webc
