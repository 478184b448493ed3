-- Each log chunk knows where it starts in its phase's log, so a read from a byte offset (the
-- TFE log endpoint's `offset`, polled again and again while a phase runs) reads the chunks it
-- returns, not the whole log. Keep in step with ../sqlite/0013_log_offsets.sql.
ALTER TABLE log_chunks ADD COLUMN start_at BIGINT;
-- One pass (a window over each run's phase), not a sum per row.
UPDATE log_chunks SET start_at = w.start_at
FROM (
    SELECT seq, SUM(LENGTH(data)) OVER (PARTITION BY run_id, phase ORDER BY seq) - LENGTH(data) AS start_at
    FROM log_chunks
) AS w
WHERE w.seq = log_chunks.seq;
CREATE INDEX log_chunks_at ON log_chunks (run_id, phase, start_at);
