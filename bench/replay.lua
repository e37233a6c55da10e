-- wrk: send the pushes of the file named by the first argument (one a line: "path<TAB>body"), each once, in order.
local path, file
local headers = {["Content-Type"] = "text/xml"}

function init(args)
  path = args[1]
  file = assert(io.open(path, "r"))
end

function request()
  local line = file:read("*l")
  if not line then  -- out of pushes: start over (endpoint.py flags the run, since pushes then repeat)
    file:close()
    file = assert(io.open(path, "r"))
    line = file:read("*l")
  end
  local tab = line:find("\t", 1, true)
  return wrk.format("POST", line:sub(1, tab - 1), headers, line:sub(tab + 1))
end

-- after the run: the latency distribution, every 0.1 %, in µs, so endpoint.py can merge the slices of a round
function done(summary, latency, requests)
  for tenth = 1, 999 do
    io.write(string.format("quantile %.1f %d\n", tenth / 10, latency:percentile(tenth / 10)))
  end
  io.write(string.format("quantile 100.0 %d\n", latency.max))
end
