// HttpClient: the one HTTP client of webcfs (libcurl behind this header; no
// other file includes curl). Sources speak in URLs and bodies; this file owns
// the transport rules (docs/resolution.md, "Remote registries"):
//
// - TLS is verified; proxies come from the usual environment variables
//   (http_proxy, https_proxy, no_proxy); HTTP/2 is used where offered.
// - Redirects are followed (at most kMaxRedirects), never from https to http.
// - A connect timeout and a low-speed timeout end stalled transfers.
// - Connection errors, 429 and 5xx are retried a bounded number of times with
//   exponential backoff, honouring Retry-After; an interrupted GET resumes
//   with a Range request, or starts again when the server ignores it.
// - A bearer token is sent only to the hosts it was given for.
// - With registry_auth, a 401 challenge is answered as docker does: a Bearer
//   token from the challenge's realm (asked with the host's credentials when
//   an auth file has them, resolver/registry_auth.h), or Basic credentials;
//   tokens are kept per host and repository until they expire.
// - Errors carry the method, the URL and the HTTP status; 401/403 say how to
//   give credentials. No credential or token is ever part of a message.
//
// Thread-safety: all methods may be called concurrently; connections, DNS
// answers and TLS sessions are shared between calls.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "webc/base/result.h"

namespace webcfs::resolver {

inline constexpr long kMaxRedirects = 10;

struct HttpOptions {
  std::string user_agent = "webcfs";
  // Sent as `Authorization: Bearer` to URLs on the host[:port] of one of
  // `token_urls`.
  std::string bearer_token;
  std::vector<std::string> token_urls;
  // Answer `WWW-Authenticate` challenges (OCI registries).
  bool registry_auth = false;
  std::chrono::milliseconds connect_timeout{10'000};
  // A transfer slower than low_speed_bytes per second for this long fails.
  std::chrono::milliseconds low_speed_time{30'000};
  long low_speed_bytes = 1;
  int max_retries = 3;  // after the first attempt
  std::chrono::milliseconds first_backoff{200};
  std::chrono::milliseconds max_backoff{30'000};  // also caps Retry-After
};

// Where a GET's body goes. `restart` is called before bytes from offset 0 are
// delivered again (the server ignored a resume), so the sink must drop what
// it has; `write` receives the body in order. `cancelled`, when set, is
// polled during the transfer (at least once a second, also while the server
// sends nothing) and between retries: true ends the GET with an error at
// once, so a stalled server cannot hold its caller for the whole timeout.
struct HttpSink {
  std::function<Result<void>()> restart;
  std::function<Result<void>(std::span<const std::byte>)> write;
  std::function<bool()> cancelled;
};

// A request other than a plain GET or a JSON POST (registries that speak in
// methods and headers, such as OCI distribution).
struct HttpRequest {
  std::string method = "GET";  // GET, HEAD, POST, PUT or PATCH
  std::string url;
  std::vector<std::string> headers;   // "Name: value"
  const std::string* body = nullptr;  // sent with POST, PUT and PATCH (may be empty)
  // Instead of `body`: `body_size` bytes of the file `body_fd` from
  // `body_offset`, read while they are sent, so an upload never holds a file
  // in memory.
  int body_fd = -1;
  uint64_t body_offset = 0;
  uint64_t body_size = 0;
  std::string content_type;
};

// The final answer (after redirects): header names are lowercase.
struct HttpResponse {
  long status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // The value of the first header called `name` (lowercase), or empty.
  std::string Header(std::string_view name) const;
};

class HttpClient {
 public:
  // Sends nothing and loads nothing: libcurl is loaded at the first request
  // (Unsupported then, naming why, when it cannot be).
  static Result<std::unique_ptr<HttpClient>> Create(HttpOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // POSTs `json` with Content-Type application/json; returns the body of a
  // 2xx answer of at most `max_body` bytes.
  Result<std::string> PostJson(const std::string& url, const std::string& json, uint64_t max_body);
  // GETs `url` into `sink`; more than `max_body` bytes is an error.
  Result<void> Get(const std::string& url, uint64_t max_body, const HttpSink& sink);
  // GETs bytes [offset, offset + n) of `url` with a Range request into
  // `sink` (resumed like Get after an interruption). False, with nothing
  // delivered, when the server answers 200: it does not serve ranges.
  Result<bool> GetRange(const std::string& url, uint64_t offset, uint64_t n, const HttpSink& sink);
  // GETs a small body into memory.
  Result<std::string> GetString(const std::string& url, uint64_t max_body);
  // Sends `request`; a body over `max_body` bytes or a non-2xx status is an
  // error (NotFound for 404 and 410).
  Result<HttpResponse> Send(const HttpRequest& request, uint64_t max_body);

  // Also sends the bearer token to the host[:port] of `url` from now on.
  void AddTokenUrl(std::string_view url);

  const HttpOptions& options() const { return options_; }

  // Requests sent so far, retries included (for tests and statistics).
  uint64_t requests() const { return requests_.load(); }

  struct Transfer;  // one request's state (http.cc)

 private:
  struct Shared;
  explicit HttpClient(HttpOptions options);
  // Loads libcurl and makes the share handle, once; the error every time.
  Result<void> Ready();
  Result<void> Run(Transfer& t);
  Result<void> Attempt(Transfer& t, bool* retry, std::chrono::milliseconds* wait);

  bool SendsTokenTo(const std::string& url);
  // The Authorization value kept for `t`'s host and repository, or empty.
  std::string StoredAuthorization(const Transfer& t);
  // Answers the 401 challenge `t` received: the Authorization value to retry with.
  Result<std::string> AnswerChallenge(const Transfer& t);
  Error Unauthorized(const Transfer& t);

  struct StoredAuth {
    std::string authority;
    std::string repository;
    bool every_repository = false;  // Basic credentials
    bool push = false;              // also good for uploads
    std::string header;             // "Bearer ..." or "Basic ..."
    std::chrono::steady_clock::time_point expires;
  };

  HttpOptions options_;
  // URLs are parsed into token_hosts_ only when a request is sent: parsing
  // needs libcurl, which a mount served from stored answers never loads.
  std::mutex token_hosts_mu_;  // guards options_.token_urls and token_hosts_
  std::vector<std::string> token_hosts_;
  std::mutex auth_mu_;  // guards auth_
  std::vector<StoredAuth> auth_;
  std::unique_ptr<Shared> shared_;
  std::atomic<uint64_t> requests_{0};
};

// "host[:port]" of an http(s) URL, lowercase; empty when it has none.
std::string UrlAuthority(std::string_view url);

// True for "http://..." and "https://..." (case-insensitive scheme).
bool IsHttpUrl(std::string_view text);

// `relative` resolved against `base` (RFC 3986); empty when it cannot be.
std::string ResolveUrl(const std::string& base, const std::string& relative);

}  // namespace webcfs::resolver
