//! `tern explain`'s policy readers and the CEL subset: the input is a claims document and a
//! policy document separated by a NUL byte. Every cloud's evaluator either explains or refuses
//! the policy with a message; the CEL parser evaluates or refuses the policy text.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use tern_trust::explain::{
    AwsTrust, AzureTrust, GcpTrust, Token, VaultTrust, aws, azure, evaluate_cel, gcp, vault,
};

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(2, |b| *b == 0);
    let claims = parts.next().unwrap_or_default();
    let policy = parts.next().unwrap_or_default();
    if let Ok(text) = std::str::from_utf8(policy) {
        let _ = evaluate_cel(text, &BTreeMap::new());
    }
    let claims: Map<String, Value> = serde_json::from_slice(claims).unwrap_or_default();
    let Ok(policy) = serde_json::from_slice::<Value>(policy) else { return };
    let token = Token { claims: &claims, header: None };
    let now = 1_700_000_000;
    let explained = [
        aws(
            &token,
            now,
            &AwsTrust {
                policy: policy.clone(),
                provider_url: Some("tern.example.com".into()),
                client_ids: vec!["aws.workload.identity".into()],
            },
        ),
        gcp(&token, now, &GcpTrust { provider: policy.clone(), member: None }),
        azure(&token, now, &AzureTrust { credentials: policy.clone() }),
        vault(&token, now, &VaultTrust { role: policy.clone(), role_name: "r".into(), config: Some(policy) }),
    ];
    for e in explained {
        match e {
            Ok(e) => {
                let _ = (e.accepted(), e.first_failure());
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
});
