// Imported first by the benchmark (bin/bench.ts, bin/bench-feed.ts run alone), before any module of functions/: their
// logger and metrics read these when they load, and a log line per request and span would be most of what is
// measured. (Setting them later is too late: a static import of a domain module loads the logger.)
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
process.env.POWERTOOLS_METRICS_DISABLED = 'true';
