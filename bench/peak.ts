/**
 * Runs one dnsrace command in this process (worker threads included) and, after it, prints the
 * process's peak resident set as a JSON line on stderr: {"max_rss_kb": N}. bench.ts starts it.
 */
import { main } from "../src/cli/main.js";

const code = await main(process.argv.slice(2));
process.stderr.write(`${JSON.stringify({ max_rss_kb: process.resourceUsage().maxRSS })}\n`);
process.exit(code);
