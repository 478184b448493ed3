//! `tern keygen`: a new signing key on disk, its kid and public JWK on the terminal.

use std::process::ExitCode;

use tern_identity::{KeySpec, SigningKey};

use crate::UsageError;
use crate::cli::{KeyAlgorithm, KeygenArgs};
use crate::keyfile;

pub fn run(args: KeygenArgs) -> anyhow::Result<ExitCode> {
    let spec = match (args.algorithm, args.bits.as_deref()) {
        (KeyAlgorithm::Es256, Some(_)) => {
            return Err(
                UsageError("--bits applies to RS256 keys only; ES256 keys are always P-256".into()).into()
            );
        }
        (KeyAlgorithm::Es256, None) => KeySpec::EcP256,
        (KeyAlgorithm::Rs256, bits) => {
            let bits =
                bits.unwrap_or("2048").parse().map_err(|_| UsageError("--bits must be a number".into()))?;
            KeySpec::Rsa { bits }
        }
    };
    if args.public_out.as_ref() == Some(&args.out) {
        return Err(UsageError("--public-out must differ from --out".into()).into());
    }
    let key = SigningKey::generate(spec)?;
    let pem = key.to_pkcs8_pem()?;
    keyfile::write_new(&args.out, pem.as_bytes(), 0o600, args.force)?;
    if let Some(public_out) = &args.public_out {
        keyfile::write_new(public_out, key.public_key_pem()?.as_bytes(), 0o644, args.force)?;
    }

    let jwk = key.public_jwk();
    eprintln!(
        "wrote {} private key ({}) to {} (mode 0600)",
        key.algorithm(),
        jwk.params().describe(),
        args.out.display()
    );
    if let Some(public_out) = &args.public_out {
        eprintln!("wrote its public key to {}", public_out.display());
    }
    eprintln!("kid: {}", key.kid());
    eprintln!("public JWK (as the JWKS will publish it):");
    outln!("{}", jwk.to_json_pretty());
    Ok(ExitCode::SUCCESS)
}
