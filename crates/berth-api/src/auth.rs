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
