//! Errors as the Docker API reports them: the engine's error kinds mapped
//! to HTTP statuses in this one place (as moby's httpstatus does), and the
//! body `{"message": "…"}` with Content-Type exactly `application/json`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_engine::{Error, ErrorKind};

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The status for an engine error kind.
pub fn status_of(k: ErrorKind) -> StatusCode {
    match k {
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::InvalidParameter => StatusCode::BAD_REQUEST,
        ErrorKind::NotModified => StatusCode::NOT_MODIFIED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::NotImplemented => StatusCode::NOT_IMPLEMENTED,
        ErrorKind::System => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
    pub fn bad_request(m: impl Into<String>) -> ApiError {
        Self::new(StatusCode::BAD_REQUEST, m)
    }
    pub fn not_found(m: impl Into<String>) -> ApiError {
        Self::new(StatusCode::NOT_FOUND, m)
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError::new(status_of(e.kind), e.message)
    }
}

impl From<berth_api::query::QueryError> for ApiError {
    fn from(e: berth_api::query::QueryError) -> Self {
        ApiError::bad_request(e.to_string())
    }
}

impl From<berth_api::json::DecodeError> for ApiError {
    fn from(e: berth_api::json::DecodeError) -> Self {
        ApiError::bad_request(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status == StatusCode::NOT_MODIFIED {
            return StatusCode::NOT_MODIFIED.into_response();
        }
        let body = serde_json::to_string(&berth_api::ErrorResponse {
            message: self.message,
        })
        .expect("error serialises");
        let mut r = (self.status, body).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(berth_api::system::media::JSON),
        );
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_dockers_statuses() {
        for (k, s) in [
            (ErrorKind::NotFound, 404),
            (ErrorKind::Conflict, 409),
            (ErrorKind::InvalidParameter, 400),
            (ErrorKind::NotModified, 304),
            (ErrorKind::Forbidden, 403),
            (ErrorKind::Unauthorized, 401),
            (ErrorKind::Unavailable, 503),
            (ErrorKind::NotImplemented, 501),
            (ErrorKind::System, 500),
        ] {
            assert_eq!(status_of(k).as_u16(), s);
        }
        let r = ApiError::from(Error::no_such_container("x")).into_response();
        assert_eq!(r.status(), 404);
        assert_eq!(r.headers()["content-type"], "application/json");
    }
}
