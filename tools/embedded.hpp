// Files embedded into the binary at build time (cmake/AgentlogEmbed.cmake): the JSON Schemas of the tools
// and the .ai-agents/logging template tree that `agentlog init` installs.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace agentlog {

struct EmbeddedFile {
  std::string_view path;  // relative to the embedded folder, '/' separated
  std::string_view data;
};

const std::vector<EmbeddedFile>& embedded_schemas();    // schemas/*.json
const std::vector<EmbeddedFile>& embedded_templates();  // .ai-agents/logging/** (the template tree)
const std::vector<EmbeddedFile>& embedded_viewer();     // tools/viewer/* (the HTTP trace viewer)
const std::vector<EmbeddedFile>& embedded_runtime();    // runtime/agentlog_trace.hpp(.h), from tracer/runtime

// The bytes of one embedded file; throws std::out_of_range naming it when absent.
std::string_view embedded_file(const std::vector<EmbeddedFile>& files, std::string_view path);

}  // namespace agentlog
