-- wrk: wait 1 ms before each request on a connection (pacing; see helpers.ts wrk()).
function delay()
  return 1
end
