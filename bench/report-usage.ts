// Loaded with `node --import` into the process under benchmark: reports its own CPU time and
// peak RSS on exit, as one JSON line on stderr prefixed with "resource-usage ".
process.on('exit', () => {
  const usage = process.resourceUsage();
  process.stderr.write(`resource-usage ${JSON.stringify({ userSeconds: usage.userCPUTime / 1e6, systemSeconds: usage.systemCPUTime / 1e6, maxRssMiB: usage.maxRSS / 1024 })}\n`);
});
