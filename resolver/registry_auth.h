// Credentials and auth challenges of OCI registries, found and answered the
// way docker, podman and skopeo do (docs/resolution.md, "OCI registries").
// Credentials are never logged, and never written anywhere by webcfs.
//
// Thread-safety: free functions without shared state.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace webcfs::resolver {

struct RegistryCredentials {
  std::string user;
  std::string password;
  std::string file;  // the auth file they came from (for messages)
};

// The credentials for `authority` ("host[:port]") from the first of
// $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json and
// ~/.docker/config.json whose `auths` has an entry for that host (keys may
// carry a scheme or a path, as docker writes them); each entry's `auth` is
// base64 of "user:password". Unreadable or malformed files are skipped.
std::optional<RegistryCredentials> FindRegistryCredentials(std::string_view authority);

// One line naming the auth files, in the order they are read.
std::string AuthFilesHint();

// A `WWW-Authenticate` challenge: its scheme ("bearer", "basic", lowercase)
// and its parameters (names lowercase, values unquoted).
struct AuthChallenge {
  std::string scheme;
  std::map<std::string, std::string> params;
};
std::optional<AuthChallenge> ParseAuthChallenge(std::string_view header);

std::string Base64Encode(std::string_view bytes);
// nullopt when `text` is not padded standard base64.
std::optional<std::string> Base64Decode(std::string_view text);

// The repository of an OCI distribution URL, "/v2/<repo>/{manifests,blobs,tags}/...",
// or empty.
std::string OciRepositoryOfUrl(std::string_view url);

}  // namespace webcfs::resolver
