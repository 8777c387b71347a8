//! Who is calling. Until a principals file is configured the server runs
//! in development mode, announced at start-up, and every caller is
//! `anonymous`; the actor is never taken from a request field.

use tonic::Request;

/// The actor recorded for requests in development mode.
pub(crate) const ANONYMOUS: &str = "anonymous";

/// The authenticated principal of a request.
pub(super) fn actor<T>(_request: &Request<T>) -> String {
    ANONYMOUS.to_owned()
}
