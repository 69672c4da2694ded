-- wrk script: one POST of a 3-node Plan per request, each with a unique name, the same body
-- shape as bench/api/load.py. Non-201 answers are counted and printed at the end.
local counter = 0
local failures = 0
local prefix = "wrk-" .. tostring(os.time())

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

request = function()
  counter = counter + 1
  local name = prefix .. "-" .. counter
  local body = '{"apiVersion":"planspec.io/v1alpha1","kind":"Plan","metadata":{"name":"' .. name ..
    '","labels":{"app":"bench","shard":"' .. (counter % 10) .. '"}},"spec":{"description":"Build and test",' ..
    '"graph":{"nodes":[{"id":"build","kind":"Task"},{"id":"test","kind":"Task","dependsOn":["build"]},' ..
    '{"id":"review","kind":"Task","dependsOn":["test"]}]}}}'
  return wrk.format(nil, "/apis/planspec.io/v1alpha1/namespaces/default/plans", nil, body)
end

response = function(status, headers, body)
  if status ~= 201 then
    failures = failures + 1
    if failures <= 3 then io.stderr:write("status " .. status .. ": " .. body:sub(1, 200) .. "\n") end
  end
end

done = function(summary, latency, requests)
  local secs = summary.duration / 1e6
  io.write(string.format('{"n": %d, "secs": %.3f, "per_s": %.1f, "errors": %d, "p50_ms": %.3f, "p99_ms": %.3f}\n',
    summary.requests, secs, summary.requests / secs, failures + summary.errors.status,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
