-- Each log chunk knows where it starts in its phase's log, so a read from a byte offset (the
-- TFE log endpoint's `offset`, polled again and again while a phase runs) reads the chunks it
-- returns, not the whole log. Keep in step with ../postgres/0013_log_offsets.sql.
ALTER TABLE log_chunks ADD COLUMN start_at INTEGER;
UPDATE log_chunks SET start_at = (
    SELECT COALESCE(SUM(LENGTH(c.data)), 0) FROM log_chunks c
    WHERE c.run_id = log_chunks.run_id AND c.phase = log_chunks.phase AND c.seq < log_chunks.seq
);
CREATE INDEX log_chunks_at ON log_chunks (run_id, phase, start_at);
