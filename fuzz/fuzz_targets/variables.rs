//! Workspace variables: `NAME=VALUE` lines (and the same text as a .env file) go through name
//! parsing, credential resolution and the hand-off plan for both phases. Any input resolves or
//! gives configuration errors; a resolved configuration always plans or gives a plan error.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use tern_credentials::handoff::{Endpoints, PlanInput, plan};
use tern_credentials::{Variables, dotenv, parse_name, resolve};
use tern_types::RunPhase;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = dotenv::parse(text);
    let mut vars = Variables::new();
    for (i, line) in text.lines().enumerate() {
        let Some((name, value)) = line.split_once('=') else { continue };
        let _ = parse_name(name);
        // Every third variable sensitive, so the sensitive paths run too.
        vars.insert(name, value, i % 3 == 2);
    }
    let Ok(configs) = resolve(&vars) else { return };
    for phase in [RunPhase::Plan, RunPhase::Apply] {
        let _ = configs.describe(phase);
        let _ = plan(&PlanInput {
            configs: &configs,
            variables: &vars,
            phase,
            run_id: "run-CZcmD7eagjhyX0vN",
            dir: Path::new("/run/tern/runs/run-CZcmD7eagjhyX0vN"),
            workdir: Path::new("/work/infra"),
            endpoints: &Endpoints::default(),
        });
    }
});
