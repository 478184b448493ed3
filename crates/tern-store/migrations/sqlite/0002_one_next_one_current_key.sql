-- At most one key waits to sign (next) and one signs (current), whatever replicas race to do.
CREATE UNIQUE INDEX signing_keys_one_per_active_state ON signing_keys (state) WHERE state IN ('next', 'current');
