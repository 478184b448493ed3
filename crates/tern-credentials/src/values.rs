//! Validation of configuration values. Each check returns the reason in words a user can act on;
//! the caller names the variable.

use std::time::Duration;

use base64::Engine as _;

/// An IAM role ARN: `arn:<partition>:iam::<12-digit account>:role/<path/name>`.
pub fn aws_role_arn(value: &str) -> Result<(), String> {
    let parts: Vec<&str> = value.splitn(6, ':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "iam"
        && parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && parts[5].strip_prefix("role/").is_some_and(|r| !r.is_empty());
    if ok {
        Ok(())
    } else {
        Err("is not an IAM role ARN like arn:aws:iam::123456789012:role/name".to_owned())
    }
}

/// A Google service account email.
pub fn gcp_service_account(value: &str) -> Result<(), String> {
    let ok = value.split_once('@').is_some_and(|(user, domain)| {
        !user.is_empty() && domain.contains('.') && !value.chars().any(char::is_whitespace)
    });
    if ok {
        Ok(())
    } else {
        Err("is not a service account email like terraform@my-project.iam.gserviceaccount.com".to_owned())
    }
}

/// A Google workload identity pool provider, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcpProvider {
    /// Project number.
    pub project_number: String,
    /// Pool id.
    pub pool: String,
    /// Provider id.
    pub provider: String,
}

impl GcpProvider {
    /// Parse `projects/<number>/locations/global/workloadIdentityPools/<pool>/providers/<provider>`.
    pub fn parse(value: &str) -> Result<Self, String> {
        let parts: Vec<&str> = value.split('/').collect();
        match parts.as_slice() {
            ["projects", number, "locations", "global", "workloadIdentityPools", pool, "providers", provider] => {
                Self::from_parts(number, pool, provider)
            }
            _ => Err(
                "is not a provider name like projects/123456789/locations/global/workloadIdentityPools/my-pool/providers/my-provider"
                    .to_owned(),
            ),
        }
    }

    /// From the three parts given separately.
    pub fn from_parts(number: &str, pool: &str, provider: &str) -> Result<Self, String> {
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "project number {number:?} is not a number (the project number, not the project id)"
            ));
        }
        for (what, id) in [("pool id", pool), ("provider id", provider)] {
            let ok = (4..=32).contains(&id.len())
                && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !ok {
                return Err(format!("{what} {id:?} must be 4-32 lower-case letters, digits or '-'"));
            }
        }
        Ok(Self { project_number: number.to_owned(), pool: pool.to_owned(), provider: provider.to_owned() })
    }

    /// `projects/<n>/locations/global/workloadIdentityPools/<pool>/providers/<provider>`.
    pub fn name(&self) -> String {
        format!(
            "projects/{}/locations/global/workloadIdentityPools/{}/providers/{}",
            self.project_number, self.pool, self.provider
        )
    }

    /// The provider resource `//iam.googleapis.com/<name>`: the STS audience, and the default
    /// audience of the workload identity token.
    pub fn resource(&self) -> String {
        format!("//iam.googleapis.com/{}", self.name())
    }
}

/// An Azure application (client) id: a GUID.
pub fn azure_client_id(value: &str) -> Result<(), String> {
    let groups: Vec<&str> = value.split('-').collect();
    let lens = [8, 4, 4, 4, 12];
    let ok = groups.len() == 5
        && groups.iter().zip(lens).all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()));
    if ok {
        Ok(())
    } else {
        Err("is not an application (client) id like 00000000-0000-0000-0000-000000000000".to_owned())
    }
}

/// A Vault address: an http or https URL, returned without a trailing slash.
pub fn vault_addr(value: &str) -> Result<String, String> {
    let url = url::Url::parse(value)
        .map_err(|e| format!("is not a URL ({e}); write e.g. https://vault.example.com:8200"))?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err("must be an http or https URL".to_owned());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or fragment".to_owned());
    }
    Ok(value.trim_end_matches('/').to_owned())
}

/// A Vault mount or auth path (`jwt`, `auth-team/jwt`), without surrounding slashes.
pub fn vault_path(value: &str) -> Result<String, String> {
    let trimmed = value.trim_matches('/');
    let ok = !trimmed.is_empty()
        && trimmed.split('/').all(|seg| {
            !seg.is_empty()
                && seg != ".."
                && seg.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        });
    if ok { Ok(trimmed.to_owned()) } else { Err("is not a Vault path like jwt or team/aws".to_owned()) }
}

/// A Vault role or engine role name (one path segment).
pub fn vault_name(value: &str) -> Result<(), String> {
    let ok = !value.is_empty() && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b));
    if ok {
        Ok(())
    } else {
        Err("must be a Vault role name (letters, digits, '-', '_', '.', '@')".to_owned())
    }
}

/// Whole seconds within bounds.
pub fn seconds(value: &str, min: u64, max: u64) -> Result<Duration, String> {
    let n: u64 =
        value.trim().parse().map_err(|_| format!("is not a whole number of seconds ({min} to {max})"))?;
    if n < min || n > max {
        return Err(format!("must be between {min} and {max} seconds"));
    }
    Ok(Duration::from_secs(n))
}

/// A base64-encoded PEM CA bundle; returns the PEM.
pub fn encoded_ca_cert(value: &str) -> Result<String, String> {
    let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| "is not base64; encode the PEM file with: base64 -w0 ca.pem".to_owned())?;
    let pem = String::from_utf8(bytes).map_err(|_| "does not decode to a PEM text file".to_owned())?;
    if !pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err("does not decode to a PEM CERTIFICATE; encode the CA's PEM file with: base64 -w0 ca.pem"
            .to_owned());
    }
    Ok(pem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns() {
        assert!(aws_role_arn("arn:aws:iam::123456789012:role/tern-prod").is_ok());
        assert!(aws_role_arn("arn:aws-us-gov:iam::123456789012:role/path/to/role").is_ok());
        for bad in [
            "",
            "arn:aws:iam::12345:role/x",
            "arn:aws:sts::123456789012:role/x",
            "arn:aws:iam::123456789012:user/x",
            "arn:aws:iam::123456789012:role/",
        ] {
            assert!(aws_role_arn(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn gcp_providers() {
        let p = GcpProvider::parse(
            "projects/123/locations/global/workloadIdentityPools/tern-pool/providers/tern",
        )
        .unwrap();
        assert_eq!(
            p.resource(),
            "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/tern-pool/providers/tern"
        );
        assert!(
            GcpProvider::parse(
                "projects/my-project/locations/global/workloadIdentityPools/pool/providers/prov"
            )
            .is_err()
        );
        assert!(
            GcpProvider::parse(
                "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/pool/providers/prov"
            )
            .is_err()
        );
        assert!(GcpProvider::from_parts("1", "ab", "prov").is_err(), "pool ids are at least 4 characters");
        assert!(gcp_service_account("tf@p.iam.gserviceaccount.com").is_ok());
        assert!(gcp_service_account("tf").is_err());
    }

    #[test]
    fn azure_vault_and_numbers() {
        assert!(azure_client_id("4e4b7b2a-2f0e-4d3c-9a7b-1c2d3e4f5a6b").is_ok());
        assert!(azure_client_id("not-a-guid").is_err());
        assert_eq!(vault_addr("https://vault.example.com:8200/").unwrap(), "https://vault.example.com:8200");
        assert!(vault_addr("vault.example.com").is_err());
        assert_eq!(vault_path("/jwt/").unwrap(), "jwt");
        assert_eq!(vault_path("team/jwt").unwrap(), "team/jwt");
        assert!(vault_path("a/../b").is_err());
        assert!(vault_path("").is_err());
        assert_eq!(seconds("60", 1, 3600).unwrap(), Duration::from_secs(60));
        assert!(seconds("1501", 0, 1500).is_err());
        assert!(seconds("ten", 0, 1500).is_err());
    }

    #[test]
    fn ca_certs() {
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let encoded = base64::engine::general_purpose::STANDARD.encode(pem);
        assert_eq!(encoded_ca_cert(&encoded).unwrap(), pem);
        assert!(encoded_ca_cert("!!!").is_err());
        assert!(encoded_ca_cert(&base64::engine::general_purpose::STANDARD.encode("hello")).is_err());
    }
}
