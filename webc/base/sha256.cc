#include "webc/base/sha256.h"

// The one-digest SHA256_* interface, deprecated in OpenSSL 3 in favour of
// EVP, is used on purpose: EVP's first digest initializes the library
// context, reads openssl.cnf and loads the default provider, which costs the
// daemon resident memory (docs/performance.md, "Daemon memory") and makes hashing
// depend on a system config file. SHA256_* is the same implementation
// without that machinery.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/evp.h>
#include <openssl/sha.h>

namespace webcfs::webc {

struct Sha256::Impl {
  SHA256_CTX ctx;
};

Sha256::Sha256() : impl_(std::make_unique<Impl>()) { SHA256_Init(&impl_->ctx); }

Sha256::~Sha256() = default;

void Sha256::Update(std::span<const std::byte> bytes) {
  SHA256_Update(&impl_->ctx, bytes.data(), bytes.size());
}

void Sha256::Update(std::string_view bytes) {
  SHA256_Update(&impl_->ctx, bytes.data(), bytes.size());
}

Sha256Digest Sha256::Finish() {
  Sha256Digest out{};
  SHA256_Final(out.data(), &impl_->ctx);
  return out;
}

Sha256Digest Sha256::Of(std::span<const std::byte> bytes) {
  Sha256 h;
  h.Update(bytes);
  return h.Finish();
}

Sha256Digest Sha256::Of(std::string_view bytes) {
  Sha256 h;
  h.Update(bytes);
  return h.Finish();
}

std::string ToHex(const Sha256Digest& d) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (uint8_t b : d) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xf]);
  }
  return out;
}

std::string ToBase64(const Sha256Digest& d) {
  // 32 bytes → 44 characters including padding, plus EVP's terminating NUL.
  unsigned char out[48] = {};
  int n = EVP_EncodeBlock(out, d.data(), static_cast<int>(d.size()));
  return std::string(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
}

}  // namespace webcfs::webc
