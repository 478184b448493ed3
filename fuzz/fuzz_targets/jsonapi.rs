//! JSON:API request documents and agent API bodies, decoded exactly as the handlers decode them
//! before touching the store, plus Terraform state parsing. Any bytes: decoded or a 4xx error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tern_server::api::fuzzing::decode_request_documents(data);
});
