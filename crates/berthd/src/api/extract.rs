//! Request extraction as dockerd does it: JSON bodies whether or not the
//! client set a Content-Type, read into a bounded buffer (refused past the
//! limit, never buffered whole), decoded with Go's words; query strings
//! into berth-api's typed parameter structs.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// The largest JSON body accepted (a create request is a few KiB).
pub const JSON_LIMIT: usize = 4 << 20;

/// A JSON body decoded into `T` (an empty body is `T::default()`).
pub struct DockerJson<T>(pub T);

/// The Go type name messages use for `T` (`CreateRequest`, `HostConfig`).
fn go_name<T>() -> &'static str {
    std::any::type_name::<T>()
        .rsplit("::")
        .next()
        .unwrap_or("value")
}

/// Read a body of at most `limit` bytes.
pub async fn read_limited(
    body: axum::body::Body,
    limit: usize,
) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_big = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
            || e.to_string().contains("length limit");
        if too_big {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body too large: the limit is {limit} bytes"),
            )
        } else {
            ApiError::bad_request(format!("reading the request body: {e}"))
        }
    })
}

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for DockerJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_limited(req.into_body(), JSON_LIMIT).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(DockerJson(T::default()));
        }
        Ok(DockerJson(berth_api::json::decode(&bytes, go_name::<T>())?))
    }
}

/// The raw JSON value of a body (for endpoints whose body may be absent
/// or any object), bounded like [`DockerJson`].
pub struct OptionalJson<T>(pub Option<T>);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_limited(req.into_body(), JSON_LIMIT).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(None));
        }
        Ok(OptionalJson(Some(berth_api::json::decode(
            &bytes,
            go_name::<T>(),
        )?)))
    }
}

/// Query parameters of one endpoint, typed.
pub struct Params<T>(pub T);

/// What berth-api's `params!` structs provide.
pub trait FromQuery: Sized {
    fn from_query(q: Option<&str>) -> Result<Self, berth_api::query::QueryError>;
}

macro_rules! from_query {
    ($($t:path),* $(,)?) => { $( impl FromQuery for $t {
        fn from_query(q: Option<&str>) -> Result<Self, berth_api::query::QueryError> { <$t>::parse(q) }
    } )* };
}

use berth_api::query as q;
from_query!(
    q::container::Create,
    q::container::List,
    q::container::Inspect,
    q::container::Stop,
    q::container::Kill,
    q::container::Rename,
    q::container::Wait,
    q::container::Attach,
    q::container::Resize,
    q::container::Logs,
    q::container::Top,
    q::container::Remove,
    q::container::Stats,
    q::container::Archive,
    q::container::Prune,
    q::container::Commit,
    q::image::List,
    q::image::Create,
    q::image::Push,
    q::image::Tag,
    q::image::Remove,
    q::image::Save,
    q::image::Load,
    q::image::Search,
    q::network::List,
    q::network::Inspect,
    q::volume::List,
    q::volume::Remove,
    q::system::Events,
    q::system::Df,
    q::system::Check,
    q::system::BuildPrune,
    q::build::Build,
    q::build::Cancel,
);

impl<S: Send + Sync, T: FromQuery> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Params(T::from_query(parts.uri.query())?))
    }
}

/// `h` and `w` of a resize, both required.
pub fn size_of(p: &berth_api::query::container::Resize) -> Result<(u16, u16), ApiError> {
    match (p.h, p.w) {
        (Some(h), Some(w)) => Ok((h as u16, w as u16)),
        _ => Err(ApiError::bad_request(
            "invalid resize parameters: h and w are required",
        )),
    }
}

/// `X-Registry-Auth`: base64url (padded or not, or standard base64 as some
/// SDKs send) JSON AuthConfig. Absent, empty or `{}` is anonymous; an
/// undecodable header is treated as anonymous too, as dockerd does.
pub struct RegistryAuth(pub berth_api::auth::AuthConfig);

/// Decode an `X-Registry-Auth` value.
pub fn decode_registry_auth(v: &str) -> berth_api::auth::AuthConfig {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
    let v = v.trim();
    if v.is_empty() {
        return Default::default();
    }
    [URL_SAFE, URL_SAFE_NO_PAD, STANDARD]
        .iter()
        .find_map(|e| e.decode(v).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

impl<S: Send + Sync> FromRequestParts<S> for RegistryAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let v = parts
            .headers
            .get(berth_api::system::headers::REGISTRY_AUTH)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        Ok(RegistryAuth(decode_registry_auth(v)))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn names() {
        assert_eq!(
            super::go_name::<berth_api::container::CreateRequest>(),
            "CreateRequest"
        );
    }

    #[test]
    fn registry_auth_headers() {
        use base64::Engine as _;
        let json = br#"{"username":"u","password":"p?>","serveraddress":"127.0.0.1:5000"}"#;
        for e in [
            base64::engine::general_purpose::URL_SAFE,
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
            base64::engine::general_purpose::STANDARD,
        ] {
            let a = super::decode_registry_auth(&e.encode(json));
            assert_eq!((a.username.as_str(), a.password.as_str()), ("u", "p?>"));
        }
        assert_eq!(super::decode_registry_auth(""), Default::default());
        assert_eq!(super::decode_registry_auth("e30="), Default::default());
        assert_eq!(super::decode_registry_auth("%%%"), Default::default());
    }
}
