#include "mcp/tool_registry.hpp"

#include <cstdlib>
#include <stdexcept>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

namespace agentlog::mcp {

struct ToolRegistry::Compiled {
  valijson::Schema input;
  valijson::Schema output;
};

namespace {

void compile(const json& doc, valijson::Schema& schema, const std::string& what) {
  try {
    valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
    valijson::adapters::NlohmannJsonAdapter adapter(doc);
    parser.populateSchema(adapter, schema);
  } catch (const std::exception& e) {
    throw std::invalid_argument(what + ": schema does not compile: " + e.what());
  }
}

// "<root>", "[file]", "[0]" -> "file[0]"-like dotted path, readable for an agent.
std::string path_of(const std::vector<std::string>& context) {
  std::string path;
  for (const auto& part : context) {
    if (part == "<root>") continue;
    std::string p = part;
    if (p.size() >= 2 && p.front() == '[' && p.back() == ']') p = p.substr(1, p.size() - 2);
    bool index = !p.empty() && std::all_of(p.begin(), p.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (index) {
      path += "[" + p + "]";
    } else {
      if (!path.empty()) path += ".";
      path += p;
    }
  }
  return path;
}

std::vector<std::string> run_validation(const valijson::Schema& schema, const json& value) {
  valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter target(value);
  if (validator.validate(schema, target, &results)) return {};
  // valijson reports the leaf problem and then each enclosing schema that failed because of it; keep leaves.
  std::vector<std::string> problems;
  for (const auto& error : results) {
    if (error.description.rfind("Failed to validate against schema associated with property", 0) == 0)
      continue;
    if (error.description.rfind("Failed to validate item", 0) == 0) continue;
    std::string path = path_of(error.context);
    std::string text = path.empty() ? error.description : "'" + path + "': " + error.description;
    if (std::find(problems.begin(), problems.end(), text) == problems.end()) problems.push_back(text);
  }
  if (problems.empty()) problems.push_back("does not match the schema");
  return problems;
}

}  // namespace

namespace {
std::string text_of(const ToolResult& r) {
  return r.is_error || !r.text.empty() ? r.text
                                       : r.structured.dump(-1, ' ', false, json::error_handler_t::replace);
}
}  // namespace

json ToolResult::to_json() const& {
  json out = {{"content", json::array({{{"type", "text"}, {"text", text_of(*this)}}})},
              {"isError", is_error}};
  if (!structured.is_null()) out["structuredContent"] = structured;
  return out;
}

json ToolResult::to_json() && {
  json out = {{"content", json::array({{{"type", "text"}, {"text", text_of(*this)}}})},
              {"isError", is_error}};
  if (!structured.is_null()) out["structuredContent"] = std::move(structured);
  return out;
}

ToolResult ToolResult::success(json structured) {
  ToolResult r;  // the text block is made when the result is sent (HTTP never needs it)
  r.structured = std::move(structured);
  return r;
}

ToolResult ToolResult::error(const std::string& id, const std::string& message, json details) {
  ToolResult r;
  r.is_error = true;
  r.text = "[" + id + "] " + message;
  // Error results carry no structuredContent (the output schema describes success only); the details stay
  // with the result for the guard's audit record.
  r.structured = nullptr;
  r.details = std::move(details);
  return r;
}

namespace {
bool outputs_checked_by_default() {
#ifndef NDEBUG
  return true;
#else
  const char* env = std::getenv("AGENTLOG_CHECK_OUTPUTS");
  return env && *env && std::string(env) != "0";
#endif
}
}  // namespace

ToolRegistry::ToolRegistry() : check_outputs_(outputs_checked_by_default()) {}
ToolRegistry::~ToolRegistry() = default;

void ToolRegistry::add(Tool tool) {
  if (index_.count(tool.name)) throw std::invalid_argument("tool registered twice: " + tool.name);
  auto compiled = std::make_unique<Compiled>();
  compile(tool.input_schema, compiled->input, tool.name + " input");
  compile(tool.output_schema, compiled->output, tool.name + " output");
  index_[tool.name] = tools_.size();
  tools_.push_back(std::move(tool));
  compiled_.push_back(std::move(compiled));
}

void ToolRegistry::set_guard(CallGuard guard) { guard_ = std::move(guard); }

const Tool* ToolRegistry::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tools_[it->second];
}

std::vector<std::string> ToolRegistry::validate_input(const Tool& tool, const json& value) const {
  return run_validation(compiled_[index_.at(tool.name)]->input, value);
}

std::vector<std::string> ToolRegistry::validate_output(const Tool& tool, const json& value) const {
  return run_validation(compiled_[index_.at(tool.name)]->output, value);
}

json describe_tool(const Tool& tool) {
  json t = {{"name", tool.name},
            {"title", tool.title},
            {"description", tool.description},
            {"inputSchema", tool.input_schema},
            {"outputSchema", tool.output_schema},
            {"annotations",
             {{"title", tool.title},
              {"readOnlyHint", tool.annotations.read_only},
              {"destructiveHint", tool.annotations.destructive},
              {"idempotentHint", tool.annotations.idempotent},
              {"openWorldHint", tool.annotations.open_world}}}};
  return t;
}

json ToolRegistry::list(const std::optional<std::string>& cursor, std::size_t page_size) const {
  std::size_t start = 0;
  if (cursor) {
    auto it = index_.find(*cursor);
    if (it == index_.end())
      throw RpcError::invalid_params("Invalid cursor '" + *cursor +
                                     "': pass the nextCursor of a previous tools/list");
    start = it->second;
  }
  if (page_size == 0) page_size = tools_.size();
  json page = json::array();
  std::size_t end = std::min(tools_.size(), start + page_size);
  for (std::size_t i = start; i < end; ++i) page.push_back(describe_tool(tools_[i]));
  json out = {{"tools", std::move(page)}};
  if (end < tools_.size()) out["nextCursor"] = tools_[end].name;
  return out;
}

ToolResult ToolRegistry::call(ToolCall& call) const {
  const Tool* tool = find(call.tool);
  if (!tool)
    throw RpcError::invalid_params("Unknown tool: '" + call.tool + "'. Call tools/list to see the tools.");
  if (!call.arguments.is_object()) throw RpcError::invalid_params("tools/call 'arguments' must be an object");

  // Arguments are validated before the guard, so that it never parks or approves a malformed call; the
  // guard still sees (and audits) every call.
  std::optional<ToolResult> invalid;
  if (auto problems = validate_input(*tool, call.arguments); !problems.empty()) {
    std::string text = "Invalid arguments for " + tool->name + ": ";
    for (std::size_t i = 0; i < problems.size(); ++i) text += (i ? "; " : "") + problems[i];
    if (text.back() != '.') text += '.';  // (a problem may end in its own full stop)
    text += " See the tool's inputSchema in tools/list.";
    invalid = ToolResult::error("tool.invalid_arguments", text);
    call.invalid_arguments = true;
  }
  auto proceed = [this, tool, &invalid](ToolCall& c) -> ToolResult {
    if (invalid) return *invalid;
    try {
      json structured = tool->handler(c);
      if (!check_outputs_) return ToolResult::success(std::move(structured));
      if (auto problems = validate_output(*tool, structured); !problems.empty())
        throw RpcError::internal("Tool " + tool->name +
                                 " produced a result that violates its outputSchema: " + problems.front());
      return ToolResult::success(std::move(structured));
    } catch (const ToolError& e) {
      return ToolResult::error(e.id(), e.what(), e.details());
    } catch (const RpcError&) {
      throw;
    } catch (const std::exception& e) {
      return ToolResult::error("tool.failed",
                               std::string(tool->name) + " failed: " + e.what() +
                                   ". Check the arguments and the server's stderr, then retry.");
    }
  };
  if (!guard_) return proceed(call);
  return guard_(call, *tool, proceed);
}

}  // namespace agentlog::mcp
