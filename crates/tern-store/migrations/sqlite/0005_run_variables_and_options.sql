-- What a run was created with besides its configuration (TFE's run attributes): the variables
-- given with -var/-var-file (HCL values, sealed like sensitive variables: they may hold secrets),
-- and the plan options target-addrs, replace-addrs, refresh and refresh-only (JSON). Keep in step
-- with ../postgres/0005_run_variables_and_options.sql.
ALTER TABLE runs ADD COLUMN variables_ciphertext BLOB;
ALTER TABLE runs ADD COLUMN options TEXT NOT NULL DEFAULT '{}';
