-- "Is this run's job still queued?" (a run list's waiting reasons, per run) read the whole
-- queue through the status index: with 100 000 queued runs the TFE API's runs list took 336 ms
-- on SQLite (docs/benchmarks.md, section 9). Deleting a run also looked its jobs up by run.
CREATE INDEX jobs_by_run ON jobs (run_id, status);
