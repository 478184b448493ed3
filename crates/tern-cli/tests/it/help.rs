//! `--help` of every command is user-visible text: golden files catch accidental changes.

use crate::support::{Scratch, run};

#[test]
fn help_output_of_every_command() {
    let scratch = Scratch::new();
    let commands: &[&[&str]] = &[
        &[],
        &["serve"],
        &["keygen"],
        &["exec"],
        &["token"],
        &["token", "mint"],
        &["token", "inspect"],
        &["token", "verify"],
        &["agent"],
        &["agent-pool"],
        &["agent-pool", "token"],
        &["login"],
        &["org", "create"],
        &["user"],
        &["user", "create"],
        &["user", "sessions"],
        &["user", "sign-out"],
        &["team"],
        &["team", "access"],
        &["workspace", "create"],
        &["var", "set"],
        &["varset"],
        &["varset", "apply"],
        &["token", "list"],
        &["audit"],
        &["run"],
        &["run", "start"],
        &["state", "pull"],
        &["keys"],
        &["keys", "rotate"],
        &["keys", "export-jwks"],
        &["trust"],
        &["explain"],
        &["doctor"],
    ];
    for args in commands {
        let mut cmd = scratch.tern_plain();
        cmd.args(*args).arg("--help");
        let out = run(&mut cmd);
        out.success();
        let name = if args.is_empty() { "tern".to_owned() } else { format!("tern-{}", args.join("-")) };
        tern_testkit::assert_golden(
            &crate::errors::golden_dir(),
            &format!("help-{name}.txt"),
            out.stdout.as_bytes(),
        );
    }
}

#[test]
fn usage_errors_exit_2_and_version_works() {
    let scratch = Scratch::new();
    let out = run(scratch.tern_plain().arg("frobnicate"));
    out.failure(2);
    let out = run(scratch.tern_plain().args(["token", "mint"]));
    out.failure(2);
    assert!(out.stderr.contains("--organization"), "{out}");
    // Key ids are base64url and may start with '-': still a key id, not a flag.
    let out = run(scratch.tern_plain().args([
        "keys",
        "retire",
        "-pOYjoL4Q",
        "--server",
        "http://127.0.0.1:9",
        "--token",
        "t",
    ]));
    out.failure(1);
    assert!(out.stderr.contains("cannot reach tern"), "{out}");
    let out = run(scratch.tern_plain().arg("--version"));
    out.success();
    assert_eq!(out.stdout.trim(), format!("tern {}", env!("CARGO_PKG_VERSION")));
}
