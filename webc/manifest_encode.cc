// Manifest JSON → CBOR for the writer (docs/webc-format.md §2.1, §6).
#include <cstring>
#include <exception>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "webc/manifest.h"

namespace webcfs::webc {

Result<std::vector<std::byte>> EncodeManifestJson(const std::string& json) {
  // ordered_json keeps the caller's key order: Wasmer writes `use`, `package`,
  // `atoms`, `commands`, `bindings`, `entrypoint` in that order, and a
  // byte-for-byte comparable output needs the same.
  nlohmann::ordered_json doc;
  try {
    doc = nlohmann::ordered_json::parse(json);
  } catch (const std::exception& e) {
    return Error::InvalidArgument(std::string("manifest JSON does not parse: ") + e.what());
  }
  if (!doc.is_object()) return Error::InvalidArgument("manifest JSON is not an object");
  std::vector<std::uint8_t> cbor;
  try {
    cbor = nlohmann::ordered_json::to_cbor(doc);
  } catch (const std::exception& e) {
    return Error::InvalidArgument(std::string("manifest cannot be encoded as CBOR: ") + e.what());
  }
  std::vector<std::byte> out(cbor.size());
  std::memcpy(out.data(), cbor.data(), cbor.size());
  return out;
}

}  // namespace webcfs::webc
