-- wrk script: POST one MCP JSON-RPC `tools/call` per request and check every answer.
--
-- Configured from the environment (wrk passes its own environment to Lua):
--   MCP_PROTOCOL_VERSION  protocol version (default 2025-11-25). For 2026-07-28 the
--                         request carries the per-request envelope: headers
--                         Mcp-Method / Mcp-Name and params._meta with
--                         io.modelcontextprotocol/{protocolVersion,clientCapabilities,clientInfo}.
--                         For handshake versions (2025-*) only the
--                         MCP-Protocol-Version header is sent (stateless servers
--                         accept tools/call without initialize).
--   MCP_TOOL              tool name (default "echo")
--   MCP_TOOL_ARGS         tool arguments as a JSON object literal (default {"text":"hello"})
--   MCP_TOKEN             bearer token; sent as "Authorization: Bearer ..." when non-empty
--
-- Every response is checked: a status other than 200, a JSON-RPC error
-- ("error": at the top level of the body) or a tool error ("isError":true) is
-- counted, and done() prints one machine-readable line
--   WRK_RESULT {...json...}
-- with requests, duration, latency percentiles (µs) and the error counts, so a
-- benchmark of error responses cannot pass unnoticed.

local version = os.getenv("MCP_PROTOCOL_VERSION") or "2025-11-25"
local tool = os.getenv("MCP_TOOL") or "echo"
local tool_args = os.getenv("MCP_TOOL_ARGS") or '{"text":"hello"}'
local token = os.getenv("MCP_TOKEN") or ""

local function json_string(s)
   local escaped = s:gsub('[%c"\\]', function(c)
      if c == '"' then return '\\"' end
      if c == "\\" then return "\\\\" end
      if c == "\n" then return "\\n" end
      if c == "\r" then return "\\r" end
      if c == "\t" then return "\\t" end
      return string.format("\\u%04x", c:byte())
   end)
   return '"' .. escaped .. '"'
end

local modern = not version:match("^2024%-") and not version:match("^2025%-")

local params = '{"name":' .. json_string(tool) .. ',"arguments":' .. tool_args
if modern then
   params = params
      .. ',"_meta":{"io.modelcontextprotocol/protocolVersion":' .. json_string(version)
      .. ',"io.modelcontextprotocol/clientCapabilities":{}'
      .. ',"io.modelcontextprotocol/clientInfo":{"name":"wrk-bench","version":"1.0"}}'
end
params = params .. "}"

wrk.method = "POST"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":' .. params .. "}"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["MCP-Protocol-Version"] = version
if modern then
   wrk.headers["Mcp-Method"] = "tools/call"
   wrk.headers["Mcp-Name"] = tool
end
if token ~= "" then
   wrk.headers["Authorization"] = "Bearer " .. token
end

-- Per-thread state (each wrk thread has its own Lua state) -------------------

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   responses = 0
   non200 = 0
   rpc_errors = 0
   tool_errors = 0
   first_bad = ""
end

function response(status, headers, body)
   responses = responses + 1
   local bad = false
   if status ~= 200 then
      non200 = non200 + 1
      bad = true
   end
   if body then
      if body:find('"error"%s*:') then
         rpc_errors = rpc_errors + 1
         bad = true
      end
      if body:find('"isError"%s*:%s*true') then
         tool_errors = tool_errors + 1
         bad = true
      end
   end
   if bad and first_bad == "" then
      first_bad = tostring(status) .. " " .. string.sub(body or "", 1, 300)
   end
end

function done(summary, latency, requests)
   local t_responses, t_non200, t_rpc, t_tool, t_first = 0, 0, 0, 0, ""
   for _, thread in ipairs(threads) do
      t_responses = t_responses + (thread:get("responses") or 0)
      t_non200 = t_non200 + (thread:get("non200") or 0)
      t_rpc = t_rpc + (thread:get("rpc_errors") or 0)
      t_tool = t_tool + (thread:get("tool_errors") or 0)
      local fb = thread:get("first_bad") or ""
      if t_first == "" and fb ~= "" then t_first = fb end
   end
   local e = summary.errors
   io.write(string.format(
      'WRK_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,'
         .. '"latency_us":{"mean":%.1f,"stdev":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d},'
         .. '"socket_errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},"status_errors":%d,'
         .. '"checked_responses":%d,"non200":%d,"rpc_errors":%d,"tool_errors":%d,"first_bad":%s,'
         .. '"protocol_version":%s,"tool":%s}\n',
      summary.requests, summary.duration, summary.bytes,
      latency.mean, latency.stdev, latency.max,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
      e.connect, e.read, e.write, e.timeout, e.status,
      t_responses, t_non200, t_rpc, t_tool, json_string(t_first),
      json_string(version), json_string(tool)))
end
