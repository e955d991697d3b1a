-- wrk script for the EM API: every request is a real login or logout that
-- must succeed. Run with as many threads as connections (-t N -c N): a wrk
-- thread's connections share one Lua state, so one connection per thread
-- keeps each phone's login → logout strictly in order. With `-- pipeline`
-- after the URL, each request is a login and its logout pipelined on one
-- connection, so any thread count works (wrk at its best on 2 cores: -t2).
--   wrk -t8 -c8 -d10s -s bench/login-logout.lua http://127.0.0.1:18080
-- Thread k walks fleet members k*500 .. k*500+499 (20 threads fit the 10,000-phone
-- storm lab): login i, logout i, login i+1, ... The 1,000 requests are built
-- once in init(); request() only hands out the next one.

local threads = {}
local app = "<appInfo><appID>emlab</appID><appCertificate>emlab</appCertificate></appInfo>"

local function urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

function setup(thread)
  thread:set("first", #threads * 500)
  table.insert(threads, thread)
end

-- Every request this thread will send, built once: wrk at its best spends
-- no Lua time per request (the bodies are fixed; only their order cycles).
function init(args)
  step = 0
  failures = 0
  requests = {}
  local headers = {["Content-Type"] = "application/x-www-form-urlencoded"}
  for k = 0, 499 do
    local i = first + k
    local device = string.format("SEP%012X", 0x0E0000000000 + i)
    local login = "<login><deviceName>" .. device .. "</deviceName><userID>" .. string.format("user%05d", i) .. "</userID></login>"
    local logout = "<logout><deviceName>" .. device .. "</deviceName></logout>"
    local pair = {}
    for _, op in ipairs({login, logout}) do
      local body = "xml=" .. urlencode("<request>" .. app .. op .. "</request>")
      table.insert(pair, wrk.format("POST", "/emservice/EMServiceServlet", headers, body))
    end
    if args[1] == "pipeline" then
      -- Login and logout go out together on one connection, so their order
      -- holds however many connections share this thread (-t2 -c8).
      table.insert(requests, pair[1] .. pair[2])
    else
      table.insert(requests, pair[1])
      table.insert(requests, pair[2])
    end
  end
end

function request()
  local r = requests[step % #requests + 1]
  step = step + 1
  return r
end

function response(status, headers, resp_body)
  if status ~= 200 or not string.find(resp_body, "<success/>", 1, true) then
    failures = failures + 1
    if failures == 1 then first_failure = status .. " " .. resp_body:sub(1, 200) end
  end
end

function done(summary, latency, requests)
  local failed = 0
  for _, t in ipairs(threads) do
    failed = failed + t:get("failures")
    if t:get("first_failure") then io.write("first failed answer: " .. t:get("first_failure") .. "\n") end
  end
  io.write(string.format("EM API ops %d in %.2f s = %.0f ops/s; failed answers %d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6), failed))
end
