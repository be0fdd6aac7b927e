//! How a request ended: [`Outcome`], the `outcome` label. The classifiers that decide it for an
//! HTTP response are in [`classify`](crate::classify).

use http::StatusCode;

/// How a request ended. It becomes the `outcome` label.
///
/// ```
/// use inference_monitor::Outcome;
///
/// assert_eq!(Outcome::ClientError.as_str(), "client_error");
/// assert_eq!(Outcome::from_status(http::StatusCode::SERVICE_UNAVAILABLE), Outcome::ServerError);
/// let r: Result<u8, ()> = Err(());
/// assert_eq!(Outcome::of_result(&r), Outcome::ServerError);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The request was answered (1xx, 2xx, 3xx; `Ok` for a model call).
    Success,
    /// The caller sent something invalid (4xx).
    ClientError,
    /// The service or model failed (5xx, an `Err`, a panic).
    ServerError,
    /// The caller went away first: the future or the response body was dropped before its end.
    Cancelled,
}

impl Outcome {
    /// Every outcome, in label order. Their series are created at zero when a model is monitored.
    pub const ALL: [Outcome; 4] = [
        Outcome::Success,
        Outcome::ClientError,
        Outcome::ServerError,
        Outcome::Cancelled,
    ];

    /// The label value: `success`, `client_error`, `server_error` or `cancelled`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::ClientError => "client_error",
            Outcome::ServerError => "server_error",
            Outcome::Cancelled => "cancelled",
        }
    }

    /// 4xx is a client error, 5xx a server error, everything else a success.
    #[must_use]
    pub fn from_status(status: StatusCode) -> Self {
        if status.is_client_error() {
            Outcome::ClientError
        } else if status.is_server_error() {
            Outcome::ServerError
        } else {
            Outcome::Success
        }
    }

    /// `Ok` is a success, `Err` a server error.
    #[must_use]
    pub fn of_result<T, E>(result: &Result<T, E>) -> Self {
        match result {
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::ServerError,
        }
    }

    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_indices_line_up() {
        for (i, o) in Outcome::ALL.iter().enumerate() {
            assert_eq!(o.index(), i);
        }
        let names: Vec<_> = Outcome::ALL.iter().map(ToString::to_string).collect();
        assert_eq!(
            names,
            ["success", "client_error", "server_error", "cancelled"]
        );
    }
}
