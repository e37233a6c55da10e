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
