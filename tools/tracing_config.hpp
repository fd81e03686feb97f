// tracing.config.json (per-file and per-function levels and capture flags, written by set_tracing_config)
// and the effective configuration of a file/function with the source of each value.
//
// File format (flat so the std-only runtime can read it):
//   {"files":     {"src/a.cpp": {"level": 3, "captureParams": true, "captureReturn": true}},
//    "functions": {"src/a.cpp::parse": {"level": 5}}}
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "logger/env_file.hpp"
#include "logger/project.hpp"

namespace agentlog {

std::string function_key(const std::string& file, const std::string& function);

// The parsed file; an absent file is an empty config. Throws std::runtime_error for a file that is not JSON.
nlohmann::json load_tracing_config(const ProjectLayout& layout);

// Effective values for `file` (may be empty) and `function` (may be empty), with sources and permissions.
nlohmann::json effective_tracing_config(const ProjectLayout& layout, const std::string& file,
                                        const std::string& function);

}  // namespace agentlog
