#include "logger/redact.hpp"

#include <algorithm>
#include <cctype>

namespace agentlog {

namespace {

// ('_' in a word matches '-' too: api_key, x-api-key, private-key.)
constexpr std::string_view kSecretWords[] = {"password",      "passwd",     "token",     "secret",
                                             "authorization", "api_key",    "apikey",    "cookie",
                                             "private_key",   "privatekey", "credential"};
constexpr std::string_view kRedacted = "[REDACTED]";

char lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

bool word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'; }

// Where the value ends in free text: at a space, a quote, or a separator of a query string or a list.
std::size_t value_end(std::string_view s, std::size_t from) {
  std::size_t i = from;
  while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i])) &&
         std::string_view("\"'`,;&)]}>").find(s[i]) == std::string_view::npos)
    ++i;
  return i;
}

// Where a value opened by `quote` ends: at its closing quote (a backslash escapes one), or the line's end.
std::size_t quoted_end(std::string_view s, std::size_t from, char quote) {
  std::size_t i = from;
  while (i < s.size() && s[i] != quote && s[i] != '\n' && s[i] != '\r') i += s[i] == '\\' ? 2 : 1;
  return std::min(i, s.size());
}

// Whether the line holding `at` runs curl or wget before it.
bool runs_curl_before(std::string_view s, std::size_t at) {
  const std::size_t nl = s.rfind('\n', at);
  const std::size_t from = nl == std::string_view::npos ? 0 : nl + 1;
  const std::string_view before = s.substr(from, at - from);
  return before.find("curl ") != std::string_view::npos || before.find("wget ") != std::string_view::npos;
}

std::size_t line_end(std::string_view s, std::size_t from) {
  const std::size_t end = s.find_first_of("\r\n", from);
  return end == std::string_view::npos ? s.size() : end;
}

bool starts_with_nocase(std::string_view s, std::size_t at, std::string_view word) {
  if (s.size() - at < word.size()) return false;
  for (std::size_t k = 0; k < word.size(); ++k)
    if (lower(s[at + k]) != word[k] && !(word[k] == '_' && s[at + k] == '-')) return false;
  return true;
}

bool ends_with_nocase(std::string_view s, std::string_view word) {
  return s.size() >= word.size() && starts_with_nocase(s, s.size() - word.size(), word);
}

// Words that hold a secret word but name no secret (secretary, passwordless, tokenizer): the key from the
// secret word on starting with one of these is not a secret. Any other continuation is (secretkey,
// passwordhash).
constexpr std::string_view kNotSecrets[] = {"secretar", "passwordless", "tokeniz"};

// "token" that counts text, not one that grants access: tokens, max_tokens, input_tokens, token_count,
// tokenCount (an AI agent logs these all the time; redacted, its usage figures were lost). The same list as
// the tracing runtime's (agentlog_trace.hpp, .h), which cannot include this file.
bool counts_tokens(std::string_view key, std::size_t after) {
  for (std::string_view tail : {"s", "_count", "count", "_usage", "usage", "_limit", "limit"})
    if (starts_with_nocase(key, after, tail)) return true;
  return false;
}

}  // namespace

// No copy, no allocation: the Logger runs this for every key of every line's fields.
bool secret_key_name(std::string_view key) {
  for (std::string_view w : kSecretWords)
    for (std::size_t i = 0; i + w.size() <= key.size(); ++i)
      if (lower(key[i]) == w[0] && starts_with_nocase(key, i, w) &&
          std::none_of(std::begin(kNotSecrets), std::end(kNotSecrets),
                       [&](std::string_view n) { return starts_with_nocase(key, i, n); }) &&
          !(w == "token" && counts_tokens(key, i + w.size())))
        return true;
  return false;
}

bool jwt_like(std::string_view s) {
  if (s.size() < 20 || s.substr(0, 3) != "eyJ" || std::count(s.begin(), s.end(), '.') != 2) return false;
  return std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '.' || c == '-' || c == '_' || c == '=';
  });
}

bool holds_secrets(const nlohmann::json& value) {
  if (value.is_object()) {
    for (const auto& [k, v] : value.items())
      if ((secret_key_name(k) && !v.is_null()) || holds_secrets(v)) return true;
    return false;
  }
  if (value.is_array())
    return std::any_of(value.begin(), value.end(), [](const auto& v) { return holds_secrets(v); });
  if (!value.is_string()) return false;
  std::string ignored;
  return redact_text(value.get_ref<const std::string&>(), ignored);
}

nlohmann::json redact_secrets(const nlohmann::json& value) {
  if (value.is_object()) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [k, v] : value.items())
      out[k] = secret_key_name(k) && !v.is_null() ? nlohmann::json(kRedacted) : redact_secrets(v);
    return out;
  }
  if (value.is_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& v : value) out.push_back(redact_secrets(v));
    return out;
  }
  if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    if (jwt_like(text)) return kRedacted;
    if (std::string out; redact_text(text, out)) return out;  // a command line, a message: "TOKEN=..."
  }
  return value;
}

bool redact_text(std::string_view s, std::string& out) {
  // Most messages hold no separator a secret needs: no copy, no lowercasing.
  if (s.find_first_of("=:") == std::string_view::npos && s.find("eyJ") == std::string_view::npos &&
      s.find("earer ") == std::string_view::npos)
    return false;
  out.clear();
  bool changed = false;
  std::size_t copied = 0;
  // The value from `from` to `to` becomes [REDACTED]; one that already is stays (the text went through here
  // before: log_event answers with the record the writer redacts again).
  auto replace = [&](std::size_t from, std::size_t to) {
    if (s.substr(from, to - from) == kRedacted) return;
    out.append(s.substr(copied, from - copied));
    out.append(kRedacted);
    copied = to;
    changed = true;
  };
  auto redacted_at = [&](std::size_t at) { return s.substr(at, kRedacted.size()) == kRedacted; };
  for (std::size_t i = 0; i < s.size();) {
    // The password of a URL's user (scheme://user:password@host), or an http(s) URL's user alone, which is
    // a token there (https://ghp_...@github.com/...).
    if (s[i] == ':' && s.compare(i, 3, "://") == 0) {
      std::size_t at = i + 3;
      while (at < s.size() && std::string_view("/?#@ \t\r\n\"'").find(s[at]) == std::string_view::npos) ++at;
      const std::size_t colon = s.substr(i + 3, at - i - 3).find(':');
      const bool http = (i >= 4 && starts_with_nocase(s, i - 4, "http")) ||
                        (i >= 5 && starts_with_nocase(s, i - 5, "https"));
      if (at < s.size() && s[at] == '@' && at > i + 3 && (colon != std::string_view::npos || http)) {
        replace(colon != std::string_view::npos ? i + 3 + colon + 1 : i + 3, at);
        i = at;
        continue;
      }
    }
    const bool at_word = i == 0 || !word_char(s[i - 1]);
    if (!at_word) {
      ++i;
      continue;
    }
    // curl's (and wget's) user:password (curl -u bob:secret, --user bob:secret); not docker's -u uid:gid.
    if (const std::size_t v = starts_with_nocase(s, i, "-u ")       ? i + 3
                              : starts_with_nocase(s, i, "--user ") ? i + 7
                              : starts_with_nocase(s, i, "--user=") ? i + 7
                                                                    : std::string_view::npos;
        v != std::string_view::npos && runs_curl_before(s, i)) {
      const std::size_t colon = s.substr(v, value_end(s, v) - v).find(':');
      const std::size_t at = v + colon + 1;
      const std::size_t end = colon == std::string_view::npos ? v
                              : redacted_at(at)               ? at + kRedacted.size()
                                                              : value_end(s, at);
      if (colon != std::string_view::npos && at < end) {
        replace(at, end);
        i = end;
        continue;
      }
    }
    // "Bearer <value>", wherever it is.
    if (starts_with_nocase(s, i, "bearer ")) {
      std::size_t v = i + 7;
      while (v < s.size() && s[v] == ' ') ++v;
      const std::size_t end = redacted_at(v) ? v + kRedacted.size() : value_end(s, v);
      if (end > v) {
        replace(v, end);
        i = end;
        continue;
      }
    }
    // A JWT-looking word.
    if (s.substr(i, 3) == "eyJ") {
      const std::size_t end = value_end(s, i);
      if (jwt_like(s.substr(i, end - i))) {
        replace(i, end);
        i = end;
        continue;
      }
    }
    // "<key naming a secret>=value" or ": value" (quotes around the key or the value allowed).
    std::size_t key_end = i;
    while (key_end < s.size() && word_char(s[key_end])) ++key_end;
    const std::string_view key = s.substr(i, key_end - i);
    if (!key.empty() && secret_key_name(key)) {
      // A quote, or one escaped as JSON inside a string writes it ({\"password\":\"x\"} in a command).
      auto quote_at = [&](std::size_t at) -> std::size_t {  // its length: 0, 1 or 2
        if (at < s.size() && (s[at] == '"' || s[at] == '\'')) return 1;
        return at + 1 < s.size() && s[at] == '\\' && (s[at + 1] == '"' || s[at + 1] == '\'') ? 2 : 0;
      };
      std::size_t p = key_end + quote_at(key_end);
      while (p < s.size() && s[p] == ' ') ++p;
      if (p < s.size() && (s[p] == '=' || s[p] == ':')) {
        const bool header = s[p] == ':';
        ++p;
        while (p < s.size() && s[p] == ' ') ++p;
        const std::size_t quote_len = quote_at(p);
        const std::string_view quote = s.substr(p, quote_len);
        p += quote_len;
        // An Authorization header's scheme stays (Basic, Digest...) and what follows it goes: one word after
        // a scheme whose credential is a word (Basic, Bearer...), the rest of the line after another (Digest
        // username="...", realm=...). A first word that is no scheme is the credential itself. A cookie
        // header is all secrets (name=value; name=value).
        bool rest_of_line = header && ends_with_nocase(key, "cookie");
        if (const std::size_t word = value_end(s, p);
            ends_with_nocase(key, "authorization") && !redacted_at(p) && word < s.size() && s[word] == ' ') {
          const std::string_view scheme = s.substr(p, word - p);
          auto is_one_of = [&](std::initializer_list<std::string_view> names) {
            return std::any_of(names.begin(), names.end(), [&](std::string_view n) {
              return scheme.size() == n.size() && starts_with_nocase(scheme, 0, n);
            });
          };
          if (is_one_of({"basic", "bearer", "token", "negotiate", "ntlm"})) {
            p = word;
          } else if (is_one_of({"digest", "aws4-hmac-sha256", "hoba", "mutual", "vapid", "scram-sha-256"})) {
            p = word;
            rest_of_line = true;
          }
        } else if (starts_with_nocase(s, p, "bearer ")) {
          p += 7;
        }
        while (p < s.size() && s[p] == ' ') ++p;
        const std::size_t end = redacted_at(p)   ? p + kRedacted.size()
                                : quote_len == 1 ? quoted_end(s, p, quote[0])
                                : quote_len == 2 ? std::min(s.find(quote, p), line_end(s, p))
                                : rest_of_line   ? line_end(s, p)
                                                 : value_end(s, p);
        if (end > p) {
          replace(p, end);
          i = end;
          continue;
        }
      }
    }
    i = key_end > i ? key_end : i + 1;
  }
  if (changed) out.append(s.substr(copied));
  return changed;
}

void redact_record(LogRecord& r, std::string& msg_store, nlohmann::json& fields_store) {
  if (redact_text(r.msg, msg_store)) r.msg = msg_store;
  if (r.fields && holds_secrets(*r.fields)) {
    fields_store = redact_secrets(*r.fields);
    r.fields = &fields_store;
  }
}

}  // namespace agentlog
