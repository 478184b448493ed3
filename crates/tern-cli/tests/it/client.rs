//! The client commands as a new user first meets them. Each error says what happened and what to
//! do.

use std::process::Command;

use crate::runs::ADMIN;
use crate::support::{Run, Scratch, Server, run, run_with_stdin};

fn serve(s: &Scratch, extra: &[&str]) -> Server {
    let mut args = vec!["--signing-key", "keys/rsa-2048.pem", "--workers", "0"];
    args.extend(extra);
    let mut cmd = s.tern_plain();
    cmd.env("TERN_ADMIN_TOKEN", ADMIN);
    Server::start(cmd, &args)
}

/// `tern` against `server` with the admin token in TERN_TOKEN.
fn cli(s: &Scratch, server: &Server) -> Command {
    let mut cmd = s.tern_plain();
    cmd.env("TERN_SERVER", &server.base).env("TERN_TOKEN", ADMIN);
    cmd
}

fn failed(out: &Run, code: i32) -> String {
    out.failure(code);
    assert!(out.stdout.is_empty(), "nothing on stdout when failing\n{out}");
    assert_eq!(out.stderr.lines().count(), 1, "one line on stderr\n{out}");
    out.stderr.clone()
}

#[test]
fn var_set_refuses_an_empty_standard_input_and_sets_empty_values_on_purpose() {
    let s = Scratch::new();
    let server = serve(&s, &[]);
    let ok = |args: &[&str]| run(cli(&s, &server).args(args)).success().stdout.clone();
    ok(&["org", "create", "acme"]);
    ok(&["workspace", "create", "prod", "--org", "acme"]);
    let set = ["var", "set", "TOKEN", "--workspace", "prod", "--org", "acme"];

    for stdin in [None, Some(""), Some("\n")] {
        let err = failed(&run_with_stdin(cli(&s, &server).args(set), stdin), 2);
        assert!(err.contains("TOKEN was not set"), "{err}");
        assert!(err.contains("to set an empty value on purpose, write `TOKEN=`"), "{err}");
    }
    let vars = ok(&["var", "list", "--workspace", "prod", "--org", "acme"]);
    assert!(!vars.contains("TOKEN"), "nothing stored: {vars}");

    run_with_stdin(cli(&s, &server).args(set), Some("from-stdin\n")).success();
    ok(&["var", "set", "EMPTY=", "--workspace", "prod", "--org", "acme"]);
    let vars = ok(&["var", "list", "--workspace", "prod", "--org", "acme"]);
    assert!(vars.contains("TOKEN\tfrom-stdin"), "{vars}");
    assert!(vars.lines().any(|l| l.ends_with("\tEMPTY\t")), "{vars}");
}
