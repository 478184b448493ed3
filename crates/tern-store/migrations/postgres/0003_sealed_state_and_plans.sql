-- Terraform writes sensitive values in the clear into state files and saved plans: both are now
-- sealed (AES-256-GCM under the key-encryption key, bound to their row) like sensitive
-- variables. Rows written before this migration (sealed = 0) are sealed when the store opens.
ALTER TABLE state_versions ADD COLUMN sealed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE state_versions ADD COLUMN size BIGINT;
ALTER TABLE runs ADD COLUMN plan_file_sealed INTEGER NOT NULL DEFAULT 0;
