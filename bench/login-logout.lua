-- wrk script for the EM API: every request is a real login or logout that
-- must succeed. Run with as many threads as connections (-t N -c N): a wrk
-- thread's connections share one Lua state, so one connection per thread
-- keeps each phone's login → logout strictly in order.
--   wrk -t8 -c8 -d10s -s bench/login-logout.lua http://127.0.0.1:18080
-- Thread k walks fleet members k*500 .. k*500+499 (20 threads fit the 10,000-phone
-- storm lab): login i, logout i, login i+1, ...

local threads = {}
local app = "<appInfo><appID>emlab</appID><appCertificate>emlab</appCertificate></appInfo>"

local function urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

function setup(thread)
  thread:set("first", #threads * 500)
  table.insert(threads, thread)
end

function init(args)
  step = 0
  failures = 0
end

function request()
  local i = first + math.floor(step / 2) % 500
  local device = string.format("SEP%012X", 0x0E0000000000 + i)
  local op
  if step % 2 == 0 then
    op = "<login><deviceName>" .. device .. "</deviceName><userID>" .. string.format("user%05d", i) .. "</userID></login>"
  else
    op = "<logout><deviceName>" .. device .. "</deviceName></logout>"
  end
  step = step + 1
  local body = "xml=" .. urlencode("<request>" .. app .. op .. "</request>")
  return wrk.format("POST", "/emservice/EMServiceServlet", {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end

function response(status, headers, resp_body)
  if status ~= 200 or not string.find(resp_body, "<success/>", 1, true) then
    failures = failures + 1
  end
end

function done(summary, latency, requests)
  local failed = 0
  for _, t in ipairs(threads) do failed = failed + t:get("failures") end
  io.write(string.format("EM API ops %d in %.2f s = %.0f ops/s; failed answers %d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6), failed))
end
