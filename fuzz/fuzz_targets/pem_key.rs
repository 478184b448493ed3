//! PEM/DER signing-key loading: any bytes either load as a key or give a typed error; a key that
//! loads round-trips through PKCS#8 to the same key id, and public-key checks never panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tern_identity::SigningKey;

fn reference() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let pem = include_bytes!("../../testdata/keys/ec-p256.pem");
        SigningKey::from_pem(pem).unwrap_or_else(|e| panic!("the reference key must load: {e}"))
    })
}

fuzz_target!(|data: &[u8]| {
    // The reference key judging `data` as its public key: an error or Ok, never a panic.
    let _ = reference().check_public_pem(data);
    let Ok(key) = SigningKey::from_pem(data) else { return };
    let pem = key.to_pkcs8_pem().unwrap_or_else(|e| panic!("a loaded key must export: {e}"));
    let again = SigningKey::from_pem(pem.as_bytes()).unwrap_or_else(|e| panic!("its export must load: {e}"));
    assert_eq!(key.kid(), again.kid(), "PKCS#8 round trip changed the key id");
    assert_eq!(key.algorithm(), again.algorithm());
    let public = key.public_key_pem().unwrap_or_else(|e| panic!("a loaded key has a public key: {e}"));
    key.check_public_pem(public.as_bytes()).unwrap_or_else(|e| panic!("its own public key must match: {e}"));
});
