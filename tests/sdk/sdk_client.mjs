// Drives `agentlog serve` with the official MCP TypeScript SDK client (pinned in package.json) and validates
// every message the server writes against the MCP 2025-11-25 JSON Schema.
//   node sdk_client.mjs <agentlog binary> <scratch dir>
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport, getDefaultEnvironment } from "@modelcontextprotocol/sdk/client/stdio.js";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";

const [binary, scratch] = process.argv.slice(2);
if (!binary || !scratch) {
  console.error("usage: node sdk_client.mjs <agentlog binary> <scratch dir>");
  process.exit(2);
}
fs.rmSync(scratch, { recursive: true, force: true });
fs.mkdirSync(scratch, { recursive: true });

const schema = JSON.parse(fs.readFileSync(new URL("./mcp-schema-2025-11-25.json", import.meta.url)));
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema(schema, "mcp");
const validatorFor = (def) => ajv.getSchema(`mcp#/$defs/${def}`);
const resultDefs = {
  initialize: "InitializeResult",
  "tools/list": "ListToolsResult",
  "tools/call": "CallToolResult",
  ping: "EmptyResult",
  "resources/list": "ListResourcesResult",
  "resources/templates/list": "ListResourceTemplatesResult",
  "resources/read": "ReadResourceResult",
  "logging/setLevel": "EmptyResult",
};

const sentMethods = new Map(); // request id -> method
let validated = 0;
function check(def, value, what) {
  const validate = validatorFor(def);
  assert.ok(validate, `no schema definition ${def}`);
  if (!validate(value)) {
    throw new Error(`${what} does not match MCP ${def}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(value)}`);
  }
  validated++;
}
function checkServerMessage(msg) {
  check("JSONRPCMessage", msg, "server message");
  if ("result" in msg) {
    const method = sentMethods.get(msg.id);
    if (method && resultDefs[method]) check(resultDefs[method], msg.result, `result of ${method}`);
  } else if ("method" in msg) {
    check("ServerNotification", { method: msg.method, params: msg.params }, `notification ${msg.method}`);
  }
}

const transport = new StdioClientTransport({
  command: binary,
  args: ["serve", "--root", scratch, "--page-size", "2"],
  // The server also checks each result against its outputSchema, as in every test.
  env: { ...getDefaultEnvironment(), AGENTLOG_CHECK_OUTPUTS: "1" },
  stderr: "pipe",
});
let stderr = "";
transport.stderr?.on("data", (d) => (stderr += d));
const client = new Client({ name: "agentlog-sdk-test", version: "1.0.0" }, { capabilities: {} });

// Observe raw traffic both ways.
const origSend = transport.send.bind(transport);
transport.send = async (msg, opts) => {
  if ("id" in msg && "method" in msg) sentMethods.set(msg.id, msg.method);
  return origSend(msg, opts);
};
await client.connect(transport);
const origOnMessage = transport.onmessage;
transport.onmessage = (msg, extra) => {
  checkServerMessage(msg);
  origOnMessage?.(msg, extra);
};

try {
  // initialize happened in connect(): check what the SDK negotiated.
  assert.equal(client.getServerVersion().name, "agentlog");
  assert.ok(client.getInstructions().includes("log_event"), "instructions mention the tools");
  assert.ok(client.getServerCapabilities().tools, "tools capability");
  assert.ok(client.getServerCapabilities().logging, "logging capability");

  await client.ping();

  // tools/list, page by page (page size 2).
  const tools = [];
  let cursor;
  let pages = 0;
  do {
    const page = await client.listTools(cursor ? { cursor } : {});
    tools.push(...page.tools);
    cursor = page.nextCursor;
    pages++;
  } while (cursor);
  const names = tools.map((t) => t.name);
  for (const required of ["log_event", "get_tracing_config", "set_tracing_config"]) {
    assert.ok(names.includes(required), `tools/list has ${required}`);
  }
  assert.ok(pages >= 2, "pagination produced several pages");
  for (const t of tools) {
    assert.equal(t.inputSchema.type, "object", `${t.name} inputSchema`);
    assert.equal(t.outputSchema?.type, "object", `${t.name} outputSchema`);
    assert.equal(typeof t.annotations?.readOnlyHint, "boolean", `${t.name} readOnlyHint`);
    assert.equal(typeof t.annotations?.destructiveHint, "boolean", `${t.name} destructiveHint`);
  }

  // Each tool, as an agent would call it. The SDK validates structuredContent against outputSchema.
  const logged = await client.callTool({
    name: "log_event",
    arguments: { level: "info", category: "ai-agent", source: "src/a.cpp", message: "sdk test event", fields: { n: 1 } },
  });
  assert.equal(logged.isError, false);
  assert.equal(logged.structuredContent.written, true);
  assert.deepEqual(JSON.parse(logged.content[0].text), logged.structuredContent);
  const log = fs.readFileSync(path.join(scratch, ".ai-agents/logging/logs/latest.log"), "utf8");
  assert.ok(log.includes('"msg":"sdk test event"'), "the event is in latest.log");

  const set = await client.callTool({ name: "set_tracing_config", arguments: { file: "src/a.cpp", function: "parse", level: 4 } });
  assert.equal(set.isError, false, JSON.stringify(set));
  assert.equal(set.structuredContent.entry.level, 4);

  const got = await client.callTool({ name: "get_tracing_config", arguments: { file: "src/a.cpp", function: "parse" } });
  assert.equal(got.isError, false);
  assert.equal(got.structuredContent.effective.level, 4);
  assert.match(got.structuredContent.sources.level, /tracing\.config\.json/);

  // A bad argument is an isError result naming the field, not a protocol error.
  const bad = await client.callTool({ name: "set_tracing_config", arguments: { file: "src/a.cpp", level: 9 } });
  assert.equal(bad.isError, true);
  assert.match(bad.content[0].text, /level/);

  // An unknown tool is a protocol error (-32602).
  await assert.rejects(client.callTool({ name: "no_such_tool", arguments: {} }), (e) => e.code === -32602);

  await client.setLoggingLevel("warning");

  // The other tools, each with a realistic call (the SDK checks each structuredContent against its schema).
  const called = new Set(["log_event", "get_tracing_config", "set_tracing_config"]);
  const call = async (name, args) => {
    called.add(name);
    return client.callTool({ name, arguments: args });
  };
  const found = await call("search_logs", { query: "sdk test event" });
  assert.equal(found.isError, false, JSON.stringify(found));
  assert.equal(found.structuredContent.matches[0].msg, "sdk test event");

  fs.mkdirSync(path.join(scratch, "src"), { recursive: true });
  const source = "int add(int a, int b) {\n  return a + b;\n}\n";
  fs.writeFileSync(path.join(scratch, "src/calc.cpp"), source);
  const ins = await call("instrument_file", { file: "src/calc.cpp", level: 2 });
  assert.equal(ins.isError, false, JSON.stringify(ins));
  assert.equal(ins.structuredContent.changed, true);
  assert.match(fs.readFileSync(path.join(scratch, "src/calc.cpp"), "utf8"), /int add\(int a, int b\) \{ AGENTLOG_SPAN\(2, a, b\); \/\* agentlog \*\//);
  const all = await call("instrument_all", { level: 1, dryRun: true });
  assert.equal(all.isError, false, JSON.stringify(all));
  assert.equal(all.structuredContent.files[0].file, "src/calc.cpp");
  const un = await call("uninstrument_file", { file: "src/calc.cpp" });
  assert.equal(un.structuredContent.outcome, "restored");
  assert.equal(fs.readFileSync(path.join(scratch, "src/calc.cpp"), "utf8"), source);

  const traces = await call("search_traces", { query: "add" });
  assert.equal(traces.isError, false);
  assert.deepEqual(traces.structuredContent.traces, []);
  const slow = await call("find_slow_traces", { threshold: "10ms" });
  assert.deepEqual(slow.structuredContent.traces, []);
  const missing = await call("get_trace", { traceId: "4bf92f3577b34da6a3ce929d0e0e4736" });
  assert.equal(missing.isError, true);
  assert.match(missing.content[0].text, /traces\.not_found/);
  const stats = await call("get_trace_stats", { file: "src/calc.cpp" });
  assert.equal(stats.isError, true);
  assert.match(stats.content[0].text, /traces\.unknown_file/);
  const pattern = await call("record_pattern", { pattern_name: "RAII pool guard", description: "wrap every pool checkout" });
  assert.equal(pattern.isError, false, JSON.stringify(pattern));
  assert.equal(pattern.structuredContent.destination, "embedded");
  const recalled = await call("search_memory", { query: "pool checkout", kind: "pattern" });
  assert.equal(recalled.isError, false, JSON.stringify(recalled));
  assert.equal(recalled.structuredContent.memories.length, 1);
  for (const t of tools) assert.ok(called.has(t.name), `${t.name} was called`);
  assert.ok(validated >= 10, `validated ${validated} server messages`);
  console.log(`ok: ${tools.length} tools over ${pages} pages, ${validated} server messages valid against the MCP schema`);
} catch (e) {
  console.error(e);
  console.error("server stderr:\n" + stderr);
  process.exitCode = 1;
} finally {
  await client.close();
}
