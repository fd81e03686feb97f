// Secret redaction (logger/redact.hpp): the rule for log lines, the audit log and the memory store. What
// must go (every form of a credential a log line or an agent's command carries), what must stay (names that
// only contain a secret word, token counts), and that redacting twice changes nothing.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "logger/redact.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

using agentlog::test::TempDir;
using nlohmann::json;

namespace {

std::string redacted(const std::string& text) {
  std::string out;
  return agentlog::redact_text(text, out) ? out : text;
}

}  // namespace

TEST_CASE("free text: each form of a credential loses its value, and only its value") {
  const std::pair<const char*, const char*> cases[] = {
      {"login password=hunter2 ok", "login password=[REDACTED] ok"},
      {"Authorization: Basic dXNlcjpzM2NyZXQ= sent", "Authorization: Basic [REDACTED] sent"},
      {"Authorization: Bearer abc.def", "Authorization: Bearer [REDACTED]"},
      {"Proxy-Authorization: Digest username=\"bob\", response=\"6629fae4\"\nnext line",
       "Proxy-Authorization: Digest [REDACTED]\nnext line"},
      {"client_secret=\"correct horse\" ok", "client_secret=\"[REDACTED]\" ok"},
      {"{'password': 'two words'}", "{'password': '[REDACTED]'}"},
      {R"({"token":"a \"quoted\" b","user":"ann"})", R"({"token":"[REDACTED]","user":"ann"})"},
      {"header X-Api-Key: k-123456 used", "header X-Api-Key: [REDACTED] used"},
      {"curl -H 'api-key=k-888' x", "curl -H 'api-key=[REDACTED]' x"},
      {"Cookie: session=abc; csrftoken=def\nok", "Cookie: [REDACTED]\nok"},
      {"git clone https://bob:pa55word@example.com/r.git",
       "git clone https://bob:[REDACTED]@example.com/r.git"},
      {"PRIVATE_KEY=-----BEGIN", "PRIVATE_KEY=[REDACTED]"},
      {"credentials: abc", "credentials: [REDACTED]"},
      // (second review) a first word that is no scheme is the credential; curl's user:password; a token as an
      // http URL's user; JSON escaped inside a command; a secret word run into another
      {"authorization=sk-live-123 user=bob", "authorization=[REDACTED] user=bob"},
      {"Authorization: sk_live_abcdef retrying request", "Authorization: [REDACTED] retrying request"},
      {"curl -u bob:S3cret https://x", "curl -u bob:[REDACTED] https://x"},
      {"curl --user admin:S3cretPass x", "curl --user admin:[REDACTED] x"},
      {"docker run -u 1000:1000 img", "docker run -u 1000:1000 img"},
      {"git clone https://ghp_abc123@github.com/o/r", "git clone https://[REDACTED]@github.com/o/r"},
      {"ssh://git@github.com/o/r", "ssh://git@github.com/o/r"},
      {R"(curl -d {\"password\":\"hunter2 x\"} u)", R"(curl -d {\"password\":\"[REDACTED]\"} u)"},
      {"accesskey=AK secretkey=SK passwordhash=h",
       "accesskey=AK secretkey=[REDACTED] passwordhash=[REDACTED]"},
  };
  for (const auto& [in, out] : cases) {
    CAPTURE(in);
    CHECK(redacted(in) == out);
  }
}

TEST_CASE("redacting twice changes nothing (log_event answers with a record the writer redacts again)") {
  for (const std::string text :
       {"login password=hunter2 with Bearer abc.def and api_key=sk-1", "client_secret=\"a b\"",
        "Authorization: Basic xyz", "Authorization: Digest a=b, c=d", "https://u:p@h/", "Cookie: a=b",
        "password=[REDACTED] already", "curl -u bob:x", "https://tok@github.com/",
        "Authorization: sk_live_1 retry"}) {
    CAPTURE(text);
    const std::string once = redacted(text);
    CHECK(redacted(once) == once);
    CHECK(once.find("]]") == std::string::npos);
  }
  std::string out;
  CHECK_FALSE(agentlog::redact_text("password=[REDACTED] and Bearer [REDACTED]", out));
}

TEST_CASE(
    "names: a secret word anywhere in a name is a secret, but for words that only hold one and token "
    "counts") {
  for (const char* secret :
       {"password",      "db_password", "dbPassword",  "PASSWORD",      "passwd",     "access_token",
        "refreshToken",  "mytoken",     "apiKey",      "api_key",       "X-Api-Key",  "api-key",
        "client_secret", "secretKey",   "credentials", "Authorization", "Set-Cookie", "private_key",
        "secrets",       "secretkey",   "apikeyid",    "passwordhash"})
    CHECK_MESSAGE(agentlog::secret_key_name(secret), secret);
  for (const char* plain :
       {"secretary", "passwordless", "tokenizer", "max_tokens", "input_tokens", "tokens", "token_count",
        "tokenCount", "tokenUsage", "MAX_TOKEN_COUNT", "user", "authority"})
    CHECK_MESSAGE(!agentlog::secret_key_name(plain), plain);
  const json r = agentlog::redact_secrets(
      {{"secretary", "Bob"}, {"passwordless", true}, {"X-Api-Key", "k-777"}, {"api-key", "k-888"}});
  CHECK(r["secretary"] == "Bob");
  CHECK(r["passwordless"] == true);
  CHECK(r["X-Api-Key"] == "[REDACTED]");
  CHECK(r["api-key"] == "[REDACTED]");
}

TEST_CASE("log_event: latest.log holds what the answer's record says, secrets redacted once") {
  TempDir root;
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
  agentlog::test::McpSession mcp(root.path());
  mcp.initialize();
  const json r = mcp.call_tool(
      "log_event", {{"message", "Authorization: Basic dXNlcjpzM2NyZXQ= and password=hunter2 sent"},
                    {"fields", {{"cmd", "curl -u bob:x --data password=xyz"}, {"X-Api-Key", "k-777777"}}}});
  REQUIRE(r["isError"] == false);
  const json& record = r["structuredContent"]["record"];
  CHECK(record["msg"] == "Authorization: Basic [REDACTED] and password=[REDACTED] sent");
  const std::string text = agentlog::test::read_text(root / ".ai-agents/logging/logs/latest.log");
  const json line = json::parse(text.substr(0, text.find('\n')));
  CHECK(line["msg"] == record["msg"]);
  CHECK(line["fields"] == record["fields"]);
  CHECK(line["fields"]["X-Api-Key"] == "[REDACTED]");
  CHECK(line["fields"]["cmd"] == "curl -u bob:[REDACTED] --data password=[REDACTED]");
  for (const char* secret : {"dXNlcjpzM2NyZXQ=", "hunter2", "xyz", "k-777777"}) {
    CAPTURE(secret);
    CHECK(text.find(secret) == std::string::npos);
    const std::string audit = agentlog::test::read_text(root / ".ai-agents/logging/audit/actions.jsonl");
    CHECK(audit.find(secret) == std::string::npos);
  }
}
