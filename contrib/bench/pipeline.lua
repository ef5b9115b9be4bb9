-- pipeline.lua: HTTP/1.1 pipelining for wrk. Each write carries DEPTH
-- requests for wrk's URL; wrk counts every response.
--
--   wrk -s contrib/bench/pipeline.lua http://127.0.0.1:8080/hello -- 16

init = function(args)
	local depth = tonumber(args[1]) or 16
	local r = {}
	for i = 1, depth do
		r[i] = wrk.format(nil)
	end
	req = table.concat(r)
end

request = function()
	return req
end
