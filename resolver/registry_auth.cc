#include "resolver/registry_auth.h"

#include <cctype>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <vector>

#include "webc/base/regular_file.h"

namespace webcfs::resolver {
namespace {

constexpr char kBase64Digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
// Auth files are small; a larger one is not read.
constexpr uint64_t kMaxAuthFileBytes = 4 << 20;

std::string EnvOr(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

// "https://host:port/v1/" or "host:port/ns" → "host:port", lowercase.
std::string KeyAuthority(std::string_view key) {
  if (size_t scheme = key.find("://"); scheme != std::string_view::npos) {
    key.remove_prefix(scheme + 3);
  }
  key = key.substr(0, key.find('/'));
  std::string out(key);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::optional<RegistryCredentials> FromFile(const std::string& path, const std::string& authority) {
  auto text = webc::ReadRegularFile(path, kMaxAuthFileBytes);
  if (!text) return std::nullopt;
  auto doc = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return std::nullopt;
  auto auths = doc.find("auths");
  if (auths == doc.end() || !auths->is_object()) return std::nullopt;
  for (const auto& [key, entry] : auths->items()) {
    if (KeyAuthority(key) != authority || !entry.is_object()) continue;
    auto auth = entry.find("auth");
    if (auth == entry.end() || !auth->is_string()) continue;
    auto decoded = Base64Decode(auth->get<std::string>());
    if (!decoded) continue;
    const size_t colon = decoded->find(':');
    if (colon == std::string::npos) continue;
    return RegistryCredentials{decoded->substr(0, colon), decoded->substr(colon + 1), path};
  }
  return std::nullopt;
}

std::vector<std::string> AuthFiles() {
  std::vector<std::string> files;
  if (std::string f = EnvOr("REGISTRY_AUTH_FILE"); !f.empty()) files.push_back(f);
  if (std::string run = EnvOr("XDG_RUNTIME_DIR"); !run.empty()) {
    files.push_back(run + "/containers/auth.json");
  }
  if (std::string home = EnvOr("HOME"); !home.empty()) {
    files.push_back(home + "/.docker/config.json");
  }
  return files;
}

}  // namespace

std::optional<RegistryCredentials> FindRegistryCredentials(std::string_view authority) {
  const std::string want = KeyAuthority(authority);
  for (const std::string& file : AuthFiles()) {
    if (auto found = FromFile(file, want)) return found;
  }
  return std::nullopt;
}

std::string AuthFilesHint() {
  return "REGISTRY_AUTH_FILE (or $XDG_RUNTIME_DIR/containers/auth.json, ~/.docker/config.json)";
}

std::optional<AuthChallenge> ParseAuthChallenge(std::string_view header) {
  auto skip_space = [&header] {
    while (!header.empty() && (header.front() == ' ' || header.front() == '\t')) {
      header.remove_prefix(1);
    }
  };
  skip_space();
  AuthChallenge c;
  while (!header.empty() && header.front() != ' ') {
    c.scheme += static_cast<char>(std::tolower(static_cast<unsigned char>(header.front())));
    header.remove_prefix(1);
  }
  if (c.scheme.empty()) return std::nullopt;
  while (true) {
    skip_space();
    while (!header.empty() && header.front() == ',') {
      header.remove_prefix(1);
      skip_space();
    }
    if (header.empty()) break;
    const size_t eq = header.find('=');
    if (eq == std::string_view::npos) break;
    std::string name;
    for (char ch : header.substr(0, eq)) {
      if (ch != ' ') name += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    }
    header.remove_prefix(eq + 1);
    skip_space();
    std::string value;
    if (!header.empty() && header.front() == '"') {
      header.remove_prefix(1);
      while (!header.empty() && header.front() != '"') {
        if (header.front() == '\\' && header.size() > 1) header.remove_prefix(1);
        value += header.front();
        header.remove_prefix(1);
      }
      if (!header.empty()) header.remove_prefix(1);
    } else {
      const size_t end = header.find(',');
      value = std::string(header.substr(0, end));
      while (!value.empty() && value.back() == ' ') value.pop_back();
      header.remove_prefix(end == std::string_view::npos ? header.size() : end);
    }
    c.params[name] = value;
  }
  return c;
}

std::string Base64Encode(std::string_view bytes) {
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (uint32_t(uint8_t(bytes[i])) << 16) |
                       (uint32_t(uint8_t(bytes[i + 1])) << 8) | uint8_t(bytes[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += kBase64Digits[(v >> shift) & 63];
  }
  if (const size_t rest = bytes.size() - i; rest > 0) {
    uint32_t v = uint32_t(uint8_t(bytes[i])) << 16;
    if (rest == 2) v |= uint32_t(uint8_t(bytes[i + 1])) << 8;
    out += kBase64Digits[(v >> 18) & 63];
    out += kBase64Digits[(v >> 12) & 63];
    out += rest == 2 ? kBase64Digits[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> Base64Decode(std::string_view text) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    const char* at = std::char_traits<char>::find(kBase64Digits, 64, c);
    if (at == nullptr) return std::nullopt;
    acc = (acc << 6) | uint32_t(at - kBase64Digits);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

std::string OciRepositoryOfUrl(std::string_view url) {
  const size_t v2 = url.find("/v2/");
  if (v2 == std::string_view::npos) return "";
  std::string_view path = url.substr(v2 + 4);
  path = path.substr(0, path.find('?'));
  size_t end = std::string_view::npos;
  for (std::string_view part : {"/manifests/", "/blobs/", "/tags/"}) {
    const size_t at = path.rfind(part);
    if (at != std::string_view::npos && (end == std::string_view::npos || at > end)) end = at;
  }
  return end == std::string_view::npos ? "" : std::string(path.substr(0, end));
}

}  // namespace webcfs::resolver
