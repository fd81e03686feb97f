#include "logger/redact.hpp"

#include <algorithm>
#include <cctype>

namespace agentlog {

namespace {

constexpr std::string_view kSecretWords[] = {"password",      "passwd",  "token",  "secret",
                                             "authorization", "api_key", "apikey", "credential"};
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

bool starts_with_nocase(std::string_view s, std::size_t at, std::string_view word) {
  if (s.size() - at < word.size()) return false;
  for (std::size_t k = 0; k < word.size(); ++k)
    if (lower(s[at + k]) != word[k]) return false;
  return true;
}

// "token" that counts or splits text, not one that grants access: tokens, max_tokens, input_tokens,
// token_count, tokenizer (an AI agent logs these all the time; redacted, its usage figures were lost).
bool counts_tokens(std::string_view key, std::size_t after) {
  for (std::string_view tail : {"s", "_count", "count", "ize", "_usage", "usage", "_limit", "limit"})
    if (starts_with_nocase(key, after, tail)) return true;
  return false;
}

}  // namespace

// No copy, no allocation: the Logger runs this for every key of every line's fields.
bool secret_key_name(std::string_view key) {
  for (std::string_view w : kSecretWords)
    for (std::size_t i = 0; i + w.size() <= key.size(); ++i)
      if (lower(key[i]) == w[0] && starts_with_nocase(key, i, w) &&
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
  auto replace = [&](std::size_t from, std::size_t to) {
    out.append(s.substr(copied, from - copied));
    out.append(kRedacted);
    copied = to;
    changed = true;
  };
  for (std::size_t i = 0; i < s.size();) {
    const bool at_word = i == 0 || !word_char(s[i - 1]);
    if (!at_word) {
      ++i;
      continue;
    }
    // "Bearer <value>", wherever it is.
    if (starts_with_nocase(s, i, "bearer ")) {
      std::size_t v = i + 7;
      while (v < s.size() && s[v] == ' ') ++v;
      const std::size_t end = value_end(s, v);
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
    if (key_end > i && secret_key_name(s.substr(i, key_end - i))) {
      std::size_t p = key_end;
      if (p < s.size() && (s[p] == '"' || s[p] == '\'')) ++p;
      while (p < s.size() && s[p] == ' ') ++p;
      if (p < s.size() && (s[p] == '=' || s[p] == ':')) {
        ++p;
        while (p < s.size() && (s[p] == ' ' || s[p] == '"' || s[p] == '\'')) ++p;
        if (starts_with_nocase(s, p, "bearer ")) p += 7;
        while (p < s.size() && s[p] == ' ') ++p;
        const std::size_t end = value_end(s, p);
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
