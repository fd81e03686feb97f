#include <doctest/doctest.h>

#include "logger/env_file.hpp"

using namespace agentlog;

TEST_CASE("parse_env: comments, export, quotes, inline comments") {
  EnvParse p = parse_env(
      "# comment\n"
      "\n"
      "A=1\n"
      "export B = two words \n"
      "C=\"quoted # not a comment\"  # comment\n"
      "D='single \\n raw'\n"
      "E=\"esc\\\"aped\\n\"\n"
      "F=value # inline\n"
      "G=a#b\n"
      "H=\n"
      "I=     # empty, then a comment\n"
      "J=#not-a-comment\n",
      "f.env");
  CHECK(p.diagnostics.empty());
  CHECK(p.entries["A"].value == "1");
  CHECK(p.entries["A"].line == 3);
  CHECK(p.entries["B"].value == "two words");
  CHECK(p.entries["C"].value == "quoted # not a comment");
  CHECK(p.entries["D"].value == "single \\n raw");
  CHECK(p.entries["E"].value == "esc\"aped\n");
  CHECK(p.entries["F"].value == "value");
  CHECK(p.entries["G"].value == "a#b");
  CHECK(p.entries["H"].value == "");
  CHECK(p.entries["I"].value == "");
  CHECK(p.entries["J"].value == "#not-a-comment");
}

TEST_CASE("parse_env: malformed lines are diagnosed with file and line") {
  EnvParse p = parse_env("NOEQUALS\n1BAD=x\nQ=\"open\nA=1\nA=2\n", "cfg/.env.x");
  REQUIRE(p.diagnostics.size() == 4);
  CHECK(p.diagnostics[0].to_string() == "cfg/.env.x:1: error: not a KEY=value line; it is ignored");
  CHECK(p.diagnostics[1].line == 2);
  CHECK(p.diagnostics[2].to_string() == "cfg/.env.x:3: error: Q: unterminated quote; add the closing \"");
  CHECK(p.diagnostics[3].severity == EnvDiagnostic::Severity::kWarning);
  CHECK(p.entries["A"].value == "2");
  CHECK_FALSE(p.entries.count("Q"));
}

TEST_CASE("EnvSettings: defaults, typed values, sources") {
  EnvSettings s = EnvSettings::from_text(
      "TRACING_SAMPLE_RATE=0.25  # 0.0-1.0\nTRACING_ENABLED=FALSE\n"
      "TRACING_EXCLUDE_FILES= a.cpp , b/*.cc,,\n",
      ".env.tracing", tracing_env_keys());
  CHECK(s.diagnostics().empty());
  CHECK(s.get_double("TRACING_SAMPLE_RATE") == doctest::Approx(0.25));
  CHECK(s.get_bool("TRACING_ENABLED") == false);
  CHECK(s.get_int("TRACING_DEFAULT_LEVEL") == 2);
  CHECK(s.source("TRACING_DEFAULT_LEVEL") == "default");
  CHECK(s.source("TRACING_SAMPLE_RATE") == ".env.tracing:1");
  CHECK(s.get_list("TRACING_EXCLUDE_FILES") == std::vector<std::string>{"a.cpp", "b/*.cc"});
}

TEST_CASE(
    "EnvSettings: a bad value is an error naming file, line, key and what is accepted; the safe value is "
    "used") {
  EnvSettings s = EnvSettings::from_text(
      "TRACING_ALLOW_AI_INSTRUMENTATION=maybe\nTRACING_DEFAULT_LEVEL=9\n"
      "TRACING_SAMPLE_RATE=lots\nTRACING_TYPO=1\n",
      ".env.tracing", tracing_env_keys());
  REQUIRE(s.diagnostics().size() == 4);
  CHECK(
      s.diagnostics()[0].to_string() ==
      ".env.tracing:1: error: TRACING_ALLOW_AI_INSTRUMENTATION: bad value 'maybe'; accepted: true or false; "
      "using the safe value 'false'");
  CHECK(s.get_bool("TRACING_ALLOW_AI_INSTRUMENTATION") == false);  // a permission that cannot be read denies
  CHECK(s.diagnostics()[1].message.find("an integer from 0 to 5") != std::string::npos);
  CHECK(s.get_int("TRACING_DEFAULT_LEVEL") == 0);
  CHECK(s.get_double("TRACING_SAMPLE_RATE") == doctest::Approx(1.0));
  CHECK(s.diagnostics()[3].severity == EnvDiagnostic::Severity::kWarning);
  CHECK(s.diagnostics()[3].key == "TRACING_TYPO");
}

TEST_CASE("EnvSettings: ranges are written as plain numbers, as in the file (never 1.04858e+06)") {
  EnvSettings s = EnvSettings::from_text("LOG_MAX_SIZE_MB=10MB\nLOG_RETENTION_DAYS=-1\n", ".env.logging",
                                         logging_env_keys());
  REQUIRE(s.diagnostics().size() == 2);
  CHECK(s.diagnostics()[0].to_string() ==
        ".env.logging:1: error: LOG_MAX_SIZE_MB: bad value '10MB'; accepted: a number from 0.001 to 1048576; "
        "using the safe value '10'");
  CHECK(s.diagnostics()[1].message ==
        "bad value '-1'; accepted: an integer from 0 to 36500; using the safe value '30'");
}

TEST_CASE("EnvSettings: enum values and a missing file") {
  EnvSettings s = EnvSettings::from_text("LOG_FORMAT=xml\nLOG_ROTATE_INTERVAL=Hourly\n", ".env.logging",
                                         logging_env_keys());
  REQUIRE(s.diagnostics().size() == 1);
  CHECK(s.diagnostics()[0].message.find("one of json,text") != std::string::npos);
  CHECK(s.get_string("LOG_ROTATE_INTERVAL") == "hourly");
  EnvSettings missing = EnvSettings::load("/nonexistent/.env.logging", logging_env_keys());
  CHECK(missing.diagnostics().empty());
  CHECK(missing.get_bool("LOGGING_ENABLED") == true);
}

TEST_CASE("EnvSettings: AUDIT_ROTATE_MB between 0 and the smallest size is said to act as 1 KiB") {
  EnvSettings s = EnvSettings::from_text("AUDIT_ROTATE_MB=0.0001\n", ".env.logging", logging_env_keys());
  REQUIRE(s.diagnostics().size() == 1);
  CHECK(s.diagnostics()[0].to_string() ==
        ".env.logging:1: warning: AUDIT_ROTATE_MB: is below the smallest size, 0.001 (1 KiB), and acts as "
        "that: write 0 for never, or a size of at least 0.001");
  for (const char* fine : {"AUDIT_ROTATE_MB=0\n", "AUDIT_ROTATE_MB=0.001\n", "AUDIT_ROTATE_MB=64\n"})
    CHECK_MESSAGE(EnvSettings::from_text(fine, ".env.logging", logging_env_keys()).diagnostics().empty(),
                  fine);
}
