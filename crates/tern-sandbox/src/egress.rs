//! Egress of a sandbox: a network namespace per phase with user-mode networking and a filter.
