//! Front-end files compiled into the binary (built by `web/build.mjs`, stored gzipped in
//! `src/http/assets/`): sent gzipped to clients that accept it (every browser), unzipped for
//! the rest, with a strong ETag (`If-None-Match` answers 304) and cache headers.

use std::{collections::HashMap, io::Read, sync::LazyLock};

use axum::{
    body::Body,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use sha2::{Digest, Sha256};

/// How a bundled file may be cached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caching {
    /// A page: the browser asks again every time (the ETag makes that a 304).
    Revalidate,
    /// An asset the pages name with `?v=<its hash>`: a new binary changes the URL, so a
    /// browser may keep it for a year.
    Immutable,
}

/// One gzipped file of the bundle.
pub struct Bundled {
    mime: &'static str,
    gz: &'static [u8],
    etag: String,
    caching: Caching,
}

impl Bundled {
    /// A file from its gzipped bytes; the ETag is the first 16 hex digits of their SHA-256
    /// (the hash `web/build.mjs` writes into the pages' asset URLs).
    pub fn new(mime: &'static str, gz: &'static [u8], caching: Caching) -> Self {
        let digest = Sha256::digest(gz);
        let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        Self {
            mime,
            gz,
            etag: format!("\"{hex}\""),
            caching,
        }
    }

    /// The response to a GET of this file, given the request's headers.
    pub fn response(&self, request: &HeaderMap) -> Response {
        let gzip = accepts_gzip(request);
        // The unzipped form is another representation: its own ETag.
        let etag = if gzip {
            self.etag.clone()
        } else {
            format!("{}-identity\"", self.etag.trim_end_matches('"'))
        };
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(self.mime));
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(match self.caching {
                Caching::Revalidate => "no-cache",
                Caching::Immutable => "public, max-age=31536000, immutable",
            }),
        );
        headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        if let Ok(value) = HeaderValue::from_str(&etag) {
            headers.insert(header::ETAG, value);
        }
        if if_none_match(request, &etag) {
            return (StatusCode::NOT_MODIFIED, headers).into_response();
        }
        if gzip {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            return (headers, Body::from(self.gz)).into_response();
        }
        let mut plain = Vec::with_capacity(self.gz.len() * 3);
        match flate2::read::GzDecoder::new(self.gz).read_to_end(&mut plain) {
            Ok(_) => (headers, Body::from(plain)).into_response(),
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        }
    }
}

/// A set of bundled files by name.
pub type Bundle = LazyLock<HashMap<&'static str, Bundled>>;

/// The response for `name` in `bundle`, or 404.
pub fn serve(bundle: &Bundle, name: &str, request: &HeaderMap) -> Response {
    match bundle.get(name) {
        Some(file) => file.response(request),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Whether `Accept-Encoding` allows gzip (a `q=0` refuses it).
fn accepts_gzip(request: &HeaderMap) -> bool {
    request
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                let p = p.trim().replace(' ', "");
                p == "q=0" || p == "q=0.0" || p == "q=0.00" || p == "q=0.000"
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
}

/// Whether `If-None-Match` names `etag` (or is `*`); weak validators compare equal too.
fn if_none_match(request: &HeaderMap, etag: &str) -> bool {
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(k.clone(), HeaderValue::from_str(v).expect("a header value"));
        }
        map
    }

    #[test]
    fn gzip_is_accepted_unless_refused_with_q_zero() {
        assert!(accepts_gzip(&headers(&[(
            header::ACCEPT_ENCODING,
            "gzip, deflate, br"
        )])));
        assert!(accepts_gzip(&headers(&[(header::ACCEPT_ENCODING, "*")])));
        assert!(!accepts_gzip(&headers(&[(
            header::ACCEPT_ENCODING,
            "gzip;q=0, br"
        )])));
        assert!(!accepts_gzip(&headers(&[])));
    }

    #[test]
    fn a_matching_if_none_match_is_recognised_weak_or_strong() {
        let etag = "\"abc\"";
        assert!(if_none_match(
            &headers(&[(header::IF_NONE_MATCH, "\"x\", W/\"abc\"")]),
            etag
        ));
        assert!(!if_none_match(
            &headers(&[(header::IF_NONE_MATCH, "\"x\"")]),
            etag
        ));
    }
}
