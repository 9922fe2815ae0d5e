//! Content negotiation for `/graphql`: the media type of the answer (from `Accept`, as the
//! GraphQL-over-HTTP spec has it), whether a POST body is JSON (from `Content-Type`), and
//! whether a GET comes from a browser that wants GraphiQL.

use axum::http::{HeaderMap, header};

/// The response media type of the GraphQL-over-HTTP spec.
const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
/// The classic response media type, and the only request body type.
const APPLICATION_JSON: &str = "application/json";

/// How the client wants the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Media {
    /// `application/graphql-response+json`: request errors get 400.
    GraphqlResponse,
    /// `application/json`: request errors get 200.
    Json,
}

impl Media {
    /// The `Content-Type` of a response in this media type.
    pub(super) fn content_type(self) -> &'static str {
        match self {
            Self::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
            Self::Json => "application/json; charset=utf-8",
        }
    }
}

/// The media type to answer with, from `Accept`; `None` when the client accepts neither.
pub(super) fn negotiate(headers: &HeaderMap) -> Option<Media> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Some(Media::Json);
    };
    let ranges: Vec<(String, bool)> = accept
        .split(',')
        .map(|range| {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let refused = parts.any(|p| {
                let p = p.trim().replace(' ', "");
                p == "q=0" || p == "q=0.0" || p == "q=0.00" || p == "q=0.000"
            });
            (media, !refused)
        })
        .collect();
    let accepts = |m: &str| ranges.iter().any(|(media, ok)| *ok && media == m);
    if accepts(GRAPHQL_RESPONSE_JSON) {
        Some(Media::GraphqlResponse)
    } else if accepts(APPLICATION_JSON)
        || accepts("application/*")
        || accepts("*/*")
        || accept.trim().is_empty()
    {
        Some(Media::Json)
    } else {
        None
    }
}

/// Whether a POST body is declared `application/json` (in UTF-8, when a charset is given).
pub(super) fn json_body(headers: &HeaderMap) -> bool {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let mut params = content_type.split(';').map(str::trim);
    params.next() == Some(APPLICATION_JSON)
        && params.all(|p| {
            p.strip_prefix("charset=")
                .is_none_or(|c| c.trim_matches('"').eq_ignore_ascii_case("utf-8"))
        })
}

/// Whether a GET asks for a web page (a browser opening `/graphql`: GraphiQL answers).
pub(super) fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    /// Headers with one `name: value`.
    fn with(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).unwrap());
        h
    }

    fn accepting(accept: &str) -> Option<Media> {
        negotiate(&with(header::ACCEPT, accept))
    }

    fn posting(content_type: &str) -> bool {
        json_body(&with(header::CONTENT_TYPE, content_type))
    }

    #[test]
    fn a_request_without_accept_is_answered_in_json() {
        assert_eq!(negotiate(&HeaderMap::new()), Some(Media::Json));
        assert_eq!(accepting(""), Some(Media::Json));
        assert_eq!(accepting("  "), Some(Media::Json));
    }

    #[test]
    fn wildcards_and_plain_json_are_answered_in_json() {
        for accept in [
            "*/*",
            "application/*",
            "application/json",
            "Application/JSON",
        ] {
            assert_eq!(accepting(accept), Some(Media::Json), "{accept}");
        }
        assert_eq!(
            accepting("text/html, application/xhtml+xml, */*;q=0.8"),
            Some(Media::Json)
        );
    }

    #[test]
    fn the_graphql_response_type_is_chosen_whenever_it_is_accepted() {
        assert_eq!(
            accepting("application/graphql-response+json"),
            Some(Media::GraphqlResponse)
        );
        assert_eq!(
            accepting("application/graphql-response+json, application/json;q=0.9"),
            Some(Media::GraphqlResponse)
        );
        // A lower q-value does not demote it: the spec's type is the server's preference.
        assert_eq!(
            accepting("application/json, application/graphql-response+json;q=0.1"),
            Some(Media::GraphqlResponse)
        );
        assert_eq!(
            accepting("*/*, application/graphql-response+json;charset=utf-8"),
            Some(Media::GraphqlResponse)
        );
    }

    #[test]
    fn a_q_value_of_zero_refuses_a_type() {
        assert_eq!(
            accepting("application/graphql-response+json;q=0, application/json"),
            Some(Media::Json)
        );
        for zero in ["q=0", "q=0.0", "q=0.00", "q=0.000", " q = 0 "] {
            assert_eq!(
                accepting(&format!("application/json;{zero}")),
                None,
                "{zero}"
            );
        }
        assert_eq!(accepting("*/*;q=0"), None);
        assert_eq!(accepting("application/json;q=0.001"), Some(Media::Json));
    }

    #[test]
    fn a_client_accepting_no_json_type_is_refused() {
        for accept in [
            "text/csv",
            "text/html",
            "application/xml",
            "image/*",
            "text/*",
        ] {
            assert_eq!(accepting(accept), None, "{accept}");
        }
    }

    #[test]
    fn each_media_type_is_written_with_its_charset() {
        assert_eq!(
            Media::GraphqlResponse.content_type(),
            "application/graphql-response+json; charset=utf-8"
        );
        assert_eq!(
            Media::Json.content_type(),
            "application/json; charset=utf-8"
        );
    }

    #[test]
    fn a_body_is_json_only_when_declared_application_json_in_utf_8() {
        for ok in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            "application/json;charset=\"UTF-8\"",
        ] {
            assert!(posting(ok), "{ok}");
        }
        for refused in [
            "application/json; charset=latin1",
            "application/graphql",
            "text/plain",
            "application/x-www-form-urlencoded",
            "",
        ] {
            assert!(!posting(refused), "{refused}");
        }
        assert!(!json_body(&HeaderMap::new()));
    }

    #[test]
    fn a_browser_asking_for_html_wants_the_graphiql_page() {
        assert!(wants_html(&with(
            header::ACCEPT,
            "text/html,application/xhtml+xml,*/*;q=0.8"
        )));
        assert!(!wants_html(&with(header::ACCEPT, "application/json")));
        assert!(!wants_html(&HeaderMap::new()));
    }
}
