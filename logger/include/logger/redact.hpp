// Secret redaction, the rule the audit log applies (policy::redact), here so that the log writer can use it
// too: the logger is below policy (policy links it), not the other way round.
//   - a value under a key naming a secret (password, passwd, token, secret, authorization, api_key or
//     api-key, apikey, cookie, private_key, credential; any case, a part of the key: db_password,
//     refreshToken, X-Api-Key, credentials, but not secretary or passwordless) becomes "[REDACTED]", at any
//     depth;
//   - a string that looks like a JWT (eyJ... with two dots) becomes "[REDACTED]";
//   - in free text (a log message, and every other string value: a shell command an agent ran, an argument):
//     "<secret key>=value", "<secret key>: value" (a quoted value whole), "Bearer value", the credential
//     after an Authorization scheme, a Cookie header, a URL's user:password@ and JWT-looking words have the
//     value replaced by [REDACTED]. Redacted text is left as it is: redacting twice changes nothing.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "logger/log_record.hpp"

namespace agentlog {

bool secret_key_name(std::string_view key);
bool jwt_like(std::string_view s);

// `value` with secrets replaced; the same value when there is none.
nlohmann::json redact_secrets(const nlohmann::json& value);
// Whether redact_secrets would change `value` (no copy when not).
bool holds_secrets(const nlohmann::json& value);

// `text` with secret values replaced; whether any was.
bool redact_text(std::string_view text, std::string& out);

// Points the record's message and fields at redacted copies (kept in the stores) when they hold secrets.
void redact_record(LogRecord& record, std::string& msg_store, nlohmann::json& fields_store);

}  // namespace agentlog
