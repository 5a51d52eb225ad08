//! Registry credentials: `POST /auth` and the `X-Registry-Auth` /
//! `X-Registry-Config` headers (base64url JSON).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Docker's AuthConfig (lower-case field names on the wire).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub password: String,
    /// base64 of `user:password`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub auth: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub email: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub serveraddress: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub identitytoken: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub registrytoken: String,
}

/// `POST /auth` → `{"Status":"Login Succeeded","IdentityToken":""}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct AuthResponse {
    pub status: String,
    pub identity_token: String,
}

/// `X-Registry-Config`: registry → credentials.
pub type RegistryConfig = BTreeMap<String, AuthConfig>;

/// What a credential helper (`docker-credential-<name> store|get`) reads
/// and writes. A `Username` of [`HelperCredentials::TOKEN_USERNAME`] marks
/// an identity token in `Secret`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HelperCredentials {
    #[serde(rename = "ServerURL")]
    pub server_url: String,
    #[serde(rename = "Username")]
    pub username: String,
    #[serde(rename = "Secret")]
    pub secret: String,
}

impl HelperCredentials {
    pub const TOKEN_USERNAME: &str = "<token>";
    /// What helpers answer `get` for a server they hold nothing for.
    pub const NOT_FOUND: &str = "credentials not found in native keychain";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_forms() {
        let a = AuthConfig {
            username: "u".into(),
            password: "p".into(),
            serveraddress: "r".into(),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            r#"{"username":"u","password":"p","serveraddress":"r"}"#
        );
        assert_eq!(serde_json::to_string(&AuthConfig::default()).unwrap(), "{}");
        let h = HelperCredentials {
            server_url: "r".into(),
            username: "u".into(),
            secret: "s".into(),
        };
        assert_eq!(
            serde_json::to_string(&h).unwrap(),
            r#"{"ServerURL":"r","Username":"u","Secret":"s"}"#
        );
    }
}
